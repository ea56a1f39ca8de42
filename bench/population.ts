/**
 * Population benchmark: how the generated patients behave over a window of weekdays, against the
 * public "Medical Appointment No Shows" data (issue 11 targets in brackets).
 *
 * Run: `npx tsx bench/population.ts [scale] [weekdays] [seed] [firstDay] [--json]` (defaults small, 30,
 * 42, 2026-01-05). Every day is generated alone from the generator's part files (one shard per
 * entity), parsed as a downstream user would, then measured:
 * - repeat_share: appointments by a patient already seen earlier in the window [40–48%];
 * - top3_no_show_share: share of no-shows held by the top 3% of patients by no-shows [≥ 18%];
 * - no_show_after_no_show / no_show_after_show: a patient's next appointment after a no-show or a show [≥ 1.5×];
 * - no_show_rate [19–21%], same_day_share [30–40%] and same_day_no_show_rate [≤ 6%];
 * - names_per_patient: distinct full names / distinct patients [≥ 0.9];
 * - differing_patients: patients whose row (batch_date aside) differs between two batches [0].
 */
import { pathToFileURL } from 'node:url';
import type { EntityName } from '../src/domain/entities.js';
import { appointmentsPerDay, dayString, generateShardChunks, parseDayIndex } from '../src/domain/generator/index.js';
import type { ScaleInput } from '../src/domain/types.js';

export interface PopulationStats {
  days: number;
  appointments: number;
  patients: number;
  repeat_share: number;
  top3_no_show_share: number;
  no_show_after_no_show: number;
  no_show_after_show: number;
  no_show_rate: number;
  same_day_share: number;
  same_day_no_show_rate: number;
  names_per_patient: number;
  differing_patients: number;
}

/** The weekdays from `first` on (inclusive), `count` of them, as YYYY-MM-DD. */
export function weekdaysFrom(first: string, count: number): string[] {
  const out: string[] = [];
  for (let day = parseDayIndex(first) as number; out.length < count; day++) {
    const date = dayString(day);
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    if (weekday !== 0 && weekday !== 6) out.push(date);
  }
  return out;
}

/** The data lines of one entity's day (one shard), split into fields (no generated field needs quoting here). */
function lines(entity: EntityName, runDate: string, scale: ScaleInput, seed: number): string[][] {
  const shardRows = appointmentsPerDay(scale);
  const text = Buffer.concat([...generateShardChunks({ entity, runDate, scale, shard: 0, seed, shardRows })]).toString(
    'utf8',
  );
  return text
    .split('\n')
    .slice(1, -1)
    .map((l) => l.split(','));
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Measures the population over `dates` (in order). */
export function measurePopulation(scale: ScaleInput, dates: readonly string[], seed: number): PopulationStats {
  const seen = new Map<string, { noShows: number; last: boolean }>();
  const rowOf = new Map<string, string>();
  const names = new Set<string>();
  let differing = 0;
  let appointments = 0;
  let repeats = 0;
  let noShows = 0;
  let sameDay = 0;
  let sameDayNoShows = 0;
  // Appointments right after a no-show or a show of the same patient, and how many of them were missed.
  const after = { noShow: { n: 0, missed: 0 }, show: { n: 0, missed: 0 } };
  for (const date of dates) {
    for (const f of lines('patients', date, scale, seed)) {
      const id = f[0] as string;
      const row = f.slice(0, -1).join(',');
      const before = rowOf.get(id);
      if (before === undefined) rowOf.set(id, row);
      else if (before !== row) differing++;
      names.add(f[1] as string);
    }
    // appointment_id, patient_id, doctor_id, scheduled_at, appointment_day, sms_received, no_show, batch_date
    for (const f of lines('appointments', date, scale, seed)) {
      const patient = f[1] as string;
      const noShow = f[6] === 'true';
      appointments++;
      if (noShow) noShows++;
      if ((f[3] as string).startsWith(date)) {
        sameDay++;
        if (noShow) sameDayNoShows++;
      }
      const history = seen.get(patient);
      if (history) {
        repeats++;
        const bucket = history.last ? after.noShow : after.show;
        bucket.n++;
        if (noShow) bucket.missed++;
        history.last = noShow;
        if (noShow) history.noShows++;
      } else {
        seen.set(patient, { noShows: noShow ? 1 : 0, last: noShow });
      }
    }
  }
  const counts = [...seen.values()].map((h) => h.noShows).sort((a, b) => b - a);
  const top = counts.slice(0, Math.ceil(counts.length * 0.03)).reduce((a, b) => a + b, 0);
  return {
    days: dates.length,
    appointments,
    patients: seen.size,
    repeat_share: round(repeats / appointments),
    top3_no_show_share: round(top / noShows),
    no_show_after_no_show: round(after.noShow.missed / after.noShow.n),
    no_show_after_show: round(after.show.missed / after.show.n),
    no_show_rate: round(noShows / appointments),
    same_day_share: round(sameDay / appointments),
    same_day_no_show_rate: round(sameDayNoShows / sameDay),
    names_per_patient: round(names.size / rowOf.size),
    differing_patients: differing,
  };
}

function main(): void {
  const args = process.argv.slice(2).filter((a) => a !== '--json');
  const json = process.argv.includes('--json');
  const [scaleArg = 'small', weekdays = '30', seed = '42', first = '2026-01-05'] = args;
  const scale: ScaleInput = /^\d+$/.test(scaleArg) ? Number(scaleArg) : (scaleArg as ScaleInput);
  const started = Date.now();
  const stats = measurePopulation(scale, weekdaysFrom(first, Number(weekdays)), Number(seed));
  if (json) console.log(JSON.stringify({ scale, seed: Number(seed), first, ...stats }));
  else {
    console.table(stats);
    console.log(`${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
