import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import type { EntityName } from '../../src/domain/entities.js';
import { generateShardChunks } from '../../src/domain/generator/index.js';

/**
 * The published CSV must look like the public "Medical Appointment No Shows" data to an analyst.
 * Statistics are computed from the parsed files, as a downstream user would; ranges leave room for
 * sampling noise at 60k appointments.
 */
type Row = Record<string, string>;
const SCALE = 60_000;
const DAY_MS = 86_400_000;

function rows(entity: EntityName, runDate: string): Row[] {
  const body = Buffer.concat([
    ...generateShardChunks({ entity, runDate, scale: SCALE, shard: 0, seed: 99, shardRows: SCALE }),
  ]);
  return parse(body, { columns: true }) as Row[];
}

const share = (list: Row[], pred: (r: Row) => boolean) => list.filter(pred).length / list.length;
const noShow = (list: Row[]) => share(list, (a) => a.no_show === 'true');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('realism of one day at 60k appointments', () => {
  const RUN = '2026-03-02';
  const appointments = rows('appointments', RUN);
  const patients = rows('patients', RUN);
  const records = rows('records', RUN);
  const feedback = rows('feedback', RUN);
  const doctors = new Map(rows('doctors', RUN).map((d) => [d.doctor_id, d]));
  const byPatient = new Map(patients.map((p) => [p.patient_id, p]));
  const ageOf = (birth: string) => (Date.parse(RUN) - Date.parse(birth)) / DAY_MS / 365.25;
  const lead = (a: Row) => (Date.parse(RUN) - Date.parse((a.scheduled_at as string).slice(0, 10))) / DAY_MS;
  const ageAt = (a: Row) => ageOf((byPatient.get(a.patient_id) as Row).birth_date as string);

  test('about 20% no-shows, far more for long lead times than same-day bookings', () => {
    const overall = noShow(appointments);
    assert.ok(overall > 0.17 && overall < 0.23, `no-show ${overall}`);
    const sameDay = appointments.filter((a) => lead(a) === 0);
    assert.ok(share(appointments, (a) => lead(a) === 0) > 0.25, 'many same-day bookings');
    const longLead = noShow(appointments.filter((a) => lead(a) > 14));
    assert.ok(longLead > noShow(sameDay) + 0.15, `lead>14 ${longLead} vs same day ${noShow(sameDay)}`);
  });

  test('SMS reminders go with longer lead times and lower no-shows at a given lead time', () => {
    const sms = (a: Row) => a.sms_received === 'true';
    const smsShare = share(appointments, sms);
    assert.ok(smsShare > 0.25 && smsShare < 0.4, `sms share ${smsShare}`);
    assert.ok(mean(appointments.filter(sms).map(lead)) > mean(appointments.filter((a) => !sms(a)).map(lead)) + 5);
    const ahead = appointments.filter((a) => lead(a) > 7);
    const withSms = noShow(ahead.filter(sms));
    const without = noShow(ahead.filter((a) => !sms(a)));
    assert.ok(withSms < without - 0.03, `lead>7: sms ${withSms} vs none ${without}`);
  });

  test('young adults (18-30) miss more appointments than 31-59 and 60+', () => {
    const group = (lo: number, hi: number) => noShow(appointments.filter((a) => ageAt(a) >= lo && ageAt(a) < hi));
    const young = group(18, 31);
    assert.ok(young > group(31, 60) + 0.03 && young > group(60, 200) + 0.06, `18-30: ${young}`);
  });

  test('patients: age pyramid, 65% women, conditions rising with age, handicap mostly 0', () => {
    const ages = patients.map((p) => ageOf(p.birth_date as string));
    assert.ok(mean(ages) > 32 && mean(ages) < 42, `mean age ${mean(ages)}`);
    assert.ok(share(patients, (p) => ageOf(p.birth_date as string) < 18) > 0.18, 'children are frequent');
    assert.ok(Math.max(...ages) < 106 && Math.min(...ages) >= 0);
    const women = share(patients, (p) => p.gender === 'F');
    assert.ok(women > 0.61 && women < 0.69, `women ${women}`);
    const hyper = (lo: number, hi: number) =>
      share(
        patients.filter((p) => ageOf(p.birth_date as string) >= lo && ageOf(p.birth_date as string) < hi),
        (p) => p.hypertension === 'true',
      );
    assert.ok(hyper(60, 200) > 0.4 && hyper(0, 30) < 0.03, `hypertension 60+ ${hyper(60, 200)}, <30 ${hyper(0, 30)}`);
    const rates: Record<string, [number, number]> = {
      hypertension: [0.15, 0.25],
      diabetes: [0.04, 0.1],
      alcoholism: [0.015, 0.05],
      scholarship: [0.07, 0.13],
    };
    for (const [k, [lo, hi]] of Object.entries(rates)) {
      const r = share(patients, (p) => p[k] === 'true');
      assert.ok(r > lo && r < hi, `${k} ${r}`);
    }
    assert.ok(share(patients, (p) => p.handicap === '0') > 0.96);
    assert.ok(share(patients, (p) => p.handicap !== '0') > 0.005);
    assert.ok(share(patients, (p) => p.alcoholism === 'true' && ageOf(p.birth_date as string) < 17) === 0);
    const hoods = new Set(patients.map((p) => p.neighbourhood));
    assert.ok(hoods.size > 60 && hoods.has('Jardim Camburi'), 'Vitória neighbourhoods');
    assert.ok(new Set(patients.map((p) => p.full_name)).size > 10_000, 'names vary');
  });

  test('children mostly see pediatricians; men never see gynecologists', () => {
    const specialtyOf = (a: Row) => (doctors.get(a.doctor_id) as Row).specialty;
    const kids = appointments.filter((a) => ageAt(a) < 12);
    assert.ok(share(kids, (a) => specialtyOf(a) === 'pediatrics') > 0.7);
    const men = appointments.filter((a) => (byPatient.get(a.patient_id) as Row).gender === 'M');
    assert.equal(
      share(men, (a) => specialtyOf(a) === 'gynecology'),
      0,
    );
  });

  test('billing depends on specialty and diagnosis; amounts have two decimals', () => {
    const bySpecialty = new Map<string, number[]>();
    const byDiagnosis = new Map<string, number[]>();
    for (const r of records) {
      const s = (doctors.get(r.doctor_id) as Row).specialty as string;
      const amount = Number(r.billing_amount);
      assert.ok(amount > 0);
      bySpecialty.set(s, [...(bySpecialty.get(s) ?? []), amount]);
      byDiagnosis.set(r.diagnosis as string, [...(byDiagnosis.get(r.diagnosis as string) ?? []), amount]);
    }
    const avg = (s: string) => mean(bySpecialty.get(s) ?? [NaN]);
    assert.ok(
      avg('cardiology') > 1.8 * avg('general_practice'),
      `cardiology ${avg('cardiology')} vs GP ${avg('general_practice')}`,
    );
    const checkup = mean(byDiagnosis.get('Z00.0 General medical examination') ?? [NaN]);
    assert.ok(checkup > 80 && checkup < 110, `check-up mean ${checkup}`);
    assert.ok(byDiagnosis.size >= 35, `${byDiagnosis.size} diagnoses`);
  });

  test('feedback on ~30% of records, a minority with comments, ratings 1-5 spread by doctor', () => {
    const fb = feedback.length / records.length;
    assert.ok(fb > 0.27 && fb < 0.33, `feedback share ${fb}`);
    const commented = share(feedback, (f) => f.comment !== '');
    assert.ok(commented > 0.2 && commented < 0.5, `commented ${commented}`);
    assert.deepEqual(new Set(feedback.map((f) => f.rating)), new Set(['1', '2', '3', '4', '5']));
    const perDoctor = new Map<string, number[]>();
    for (const f of feedback)
      perDoctor.set(f.doctor_id as string, [...(perDoctor.get(f.doctor_id as string) ?? []), Number(f.rating)]);
    const means = [...perDoctor.values()].filter((l) => l.length >= 20).map(mean);
    assert.ok(means.length > 100);
    assert.ok(
      Math.max(...means) - Math.min(...means) > 1.2,
      `doctor means ${Math.min(...means)}..${Math.max(...means)}`,
    );
  });

  test('a doctor rated well one day is rated well another day (stable quality)', () => {
    const perDoctor = (list: Row[]) => {
      const m = new Map<string, number[]>();
      for (const f of list) m.set(f.doctor_id as string, [...(m.get(f.doctor_id as string) ?? []), Number(f.rating)]);
      return new Map([...m].filter(([, l]) => l.length >= 15).map(([id, l]) => [id, mean(l)]));
    };
    const a = perDoctor(feedback);
    const b = perDoctor(rows('feedback', '2026-03-03'));
    const ids = [...a.keys()].filter((id) => b.has(id));
    const xs = ids.map((id) => a.get(id) as number);
    const ys = ids.map((id) => b.get(id) as number);
    const mx = mean(xs);
    const my = mean(ys);
    const cov = mean(xs.map((x, i) => (x - mx) * ((ys[i] as number) - my)));
    const corr = cov / Math.sqrt(mean(xs.map((x) => (x - mx) ** 2)) * mean(ys.map((y) => (y - my) ** 2)));
    assert.ok(ids.length > 100 && corr > 0.6, `correlation ${corr} over ${ids.length} doctors`);
  });
});
