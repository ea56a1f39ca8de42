/**
 * Sample rows shaped like `marts.doctor_rating`, for chart and report tests that do not build the mart.
 */
import { SPECIALTIES } from '../../src/domain/entities.js';
import type { DoctorRatingRow } from '../../src/activities/charts.js';

const FIRST = ['Ana', 'Bruno', 'Carla', 'Daniel', 'Eduarda', 'Felipe', 'Gabriela', 'Henrique', 'Isabela', 'João'];
const LAST = ['Souza', 'Oliveira Santos', 'Mendes', 'Ferreira da Silva', 'Lima', 'Costa', 'Rocha', 'Alves', 'Araújo'];
const CLINICS = ['Clínica Centro', 'Jardim Camburi Health', 'Praia do Canto Medical', 'Maruípe Family Clinic'];

/** `count` rows ranked 1..count with falling scores; numbers as strings, the way `pg` returns numerics. */
export function sampleDoctorRatingRows(count: number): DoctorRatingRow[] {
  return Array.from({ length: count }, (_, i) => ({
    doctor_id: String(1000 + i),
    full_name: `Dr. ${FIRST[i % FIRST.length]} ${LAST[(i * 7) % LAST.length]}`,
    specialty: SPECIALTIES[i % SPECIALTIES.length] ?? 'general_practice',
    clinic_name: CLINICS[i % CLINICS.length] ?? 'Clínica Centro',
    rating_count: String(240 - i * 9),
    avg_rating: (4.85 - i * 0.05).toFixed(2),
    patients: String(300 - i * 11),
    billing_per_patient_amount: (182.5 + i).toFixed(2),
    score: (92.4 - i * 2.7).toFixed(2),
    score_rank: String(i + 1),
  }));
}
