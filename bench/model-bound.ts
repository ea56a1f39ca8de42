/**
 * How much of the gap between the model and the Bayes AUC can be closed at all: the AUC of the best predictor of a
 * day's no-shows that uses only what the warehouse shows, computed with the generator's own formula (truth side
 * only: this never feeds the model, whose code path is src/activities/predict.ts and ml/no_show.py).
 *
 * The true probability of an appointment is the generator's table at (lead time, SMS, age group, patient level),
 * where the level is the visible part (scholarship, alcoholism, a chronic condition, neighbourhood) plus a hidden
 * part drawn once per patient from the prior of the patient's visit class. The Bayes AUC uses the hidden part
 * itself. The attainable predictor replaces the class and the hidden part by their posterior given the patient's
 * visits on the W earlier days in the warehouse (the same history the features see): k visits weigh class c by
 * a_c · r_c^k · (1 − r_c)^(W − k) (a_c its share of appointments, r_c its daily rate), and the outcomes weigh each
 * hidden level h by L(history | h); the posterior predictive is
 * Σ_c,h w_c · prior_c(h) · L(history | h) · p(appointment | h) / Σ_c,h w_c · prior_c(h) · L(history | h).
 * With no history at all (class unknown, a_c only) that is the prior mean, the bound of a model of the visible
 * attributes only.
 */
import { clampNoShowLevel, HIDDEN_LEVEL_PRIORS, visibleNoShowLevel } from '../src/domain/generator/patients.js';
import { VITORIA_NEIGHBOURHOODS } from '../src/domain/generator/catalog.js';
import { VISIT_CLASS_APPOINTMENT_SHARE, VISIT_CLASSES } from '../src/domain/generator/population.js';
import { noShowProbabilityAt } from '../src/domain/generator/visits.js';
import { rocAuc } from '../src/activities/truth.js';
import type { Warehouse } from '../src/activities/warehouse/index.js';

interface Row {
  appointment_id: string;
  patient_id: string;
  appointment_on: string;
  lead: number;
  sms: boolean;
  age: number;
  scholarship: boolean;
  alcoholism: boolean;
  chronic: boolean;
  neighbourhood: string;
  y: boolean;
}

export interface AttainableBound {
  /** The AUC of the posterior predictive given the history on earlier days in the warehouse. */
  withHistory: number | null;
  /** The top decile's lift of the same predictor (the no-show rate of its riskiest tenth over the day's rate). */
  withHistoryLift: number | null;
  /** The AUC of the prior mean: the visible attributes and the booking only. */
  visibleOnly: number | null;
  n: number;
}

const NEIGHBOURHOOD = new Map(VITORIA_NEIGHBOURHOODS.map(([name], i) => [name, i]));

/** The attainable bound of `day`'s held appointments, from marts.no_show_features (outcomes of earlier days). */
export async function attainableBound(warehouse: Warehouse, day: string): Promise<AttainableBound> {
  const columns = `appointment_id, patient_id, to_char(appointment_on, 'YYYY-MM-DD') as appointment_on,
    lead_time_days as lead, has_sms_reminder as sms, patient_age_years as age, has_scholarship as scholarship,
    has_alcoholism as alcoholism, (has_hypertension or has_diabetes) as chronic, neighbourhood, is_no_show as y`;
  const today = await warehouse.query<Row>(
    `select ${columns} from marts.no_show_features
     where batch_on = cast($1 as date) and appointment_on = batch_on and is_no_show is not null`,
    [day],
  );
  const past = await warehouse.query<Row>(
    `select ${columns} from marts.no_show_features
     where is_no_show is not null and appointment_on < cast($1 as date) and appointment_on = batch_on
       and patient_id in (select patient_id from marts.no_show_features where batch_on = cast($1 as date))`,
    [day],
  );
  const [earlier] = await warehouse.query<{ days: number }>(
    `select count(distinct batch_on) as days from marts.no_show_features where batch_on < cast($1 as date)`,
    [day],
  );
  const days = Number(earlier?.days ?? 0);
  const history = new Map<string, Row[]>();
  for (const r of past) {
    const list = history.get(r.patient_id);
    if (list) list.push(r);
    else history.set(r.patient_id, [r]);
  }
  const posterior: number[] = [];
  const prior: number[] = [];
  const labels: number[] = [];
  for (const r of today) {
    const visible = visibleNoShowLevel(r.scholarship, r.alcoholism, r.chronic, NEIGHBOURHOOD.get(r.neighbourhood) ?? 0);
    const past = history.get(r.patient_id) ?? [];
    let num = 0;
    let den = 0;
    let mean = 0;
    VISIT_CLASSES.forEach(({ rate }, c) => {
      const a = VISIT_CLASS_APPOINTMENT_SHARE[c] as number;
      const visits = a * rate ** past.length * (1 - rate) ** Math.max(0, days - past.length);
      for (const { offset, share } of HIDDEN_LEVEL_PRIORS[c] ?? []) {
        const level = clampNoShowLevel(visible + offset);
        const p = noShowProbabilityAt(r.lead, r.sms, r.age, level);
        let likelihood = visits * share;
        for (const h of past) {
          const q = noShowProbabilityAt(h.lead, h.sms, h.age, level);
          likelihood *= h.y ? q : 1 - q;
        }
        num += likelihood * p;
        den += likelihood;
        mean += a * share * p;
      }
    });
    posterior.push(den > 0 ? num / den : mean);
    prior.push(mean);
    labels.push(r.y ? 1 : 0);
  }
  return {
    withHistory: rocAuc(posterior, labels),
    withHistoryLift: topDecileLift(posterior, labels),
    visibleOnly: rocAuc(prior, labels),
    n: labels.length,
  };
}

/** The no-show rate of the tenth with the highest scores over the overall rate (as ml/no_show.py's evaluation). */
function topDecileLift(scores: readonly number[], labels: readonly number[]): number | null {
  const n = labels.length;
  const rate = labels.reduce((a, b) => a + b, 0) / n;
  if (n < 10 || rate === 0) return null;
  const order = scores.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  const top = order.slice(n - Math.ceil(n / 10));
  return top.reduce((a, i) => a + (labels[i] as number), 0) / top.length / rate;
}
