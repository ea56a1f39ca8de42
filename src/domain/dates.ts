/**
 * Date helpers shared by workflows, activities and the CLI. Pure: no Node APIs, no clock reads (callers pass
 * "today", which workflows take from the workflow clock and the CLI from the machine's).
 */
import { z } from 'zod';

/** The first run date: the generator encodes the day since 2000-01-01 in ids, so earlier days cannot exist. */
export const FIRST_RUN_DATE = '2000-01-01';
/** The last run date the generator can make (ids stay below 2^53, birth dates inside its date table). */
export const LAST_RUN_DATE = '2099-12-31';

/** A real calendar date written YYYY-MM-DD (2026-02-30 is rejected). */
export const isoDate = z
  .string({ message: 'must be a date string YYYY-MM-DD' })
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD, e.g. 2026-11-20')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'is not a real calendar date (write YYYY-MM-DD, e.g. 2026-11-20)');

/** The calendar date (YYYY-MM-DD) of `instant` in `timezone`. */
export function localDate(instant: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(instant);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** `date` plus `days` (may be negative), as YYYY-MM-DD. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/**
 * What is wrong with `date` (a valid YYYY-MM-DD) as a run date when it is `today` in `timezone`, or undefined
 * when it is fine. A run date must be a day the generator can make, and not after today: a date in the future
 * (a typo such as 2062 for 2026) would push the retention cutoff past every stored row. The text names the
 * allowed range and never repeats `date`, so it can go into failure messages that are stored unencrypted.
 */
export function runDateProblem(date: string, today: string, timezone: string): string | undefined {
  const last = today < LAST_RUN_DATE ? today : LAST_RUN_DATE;
  const range = `must be from ${FIRST_RUN_DATE} to today (${last}, HEALTHSYNTH_TIMEZONE ${timezone})`;
  if (date < FIRST_RUN_DATE) return `${range}; it is before ${FIRST_RUN_DATE}, the first day the generator makes`;
  if (date > last) return `${range}; it is after today`;
  return undefined;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;

/** The English name of `date`'s day of the week (a calendar date has one whatever the time zone). */
export function dayOfWeek(date: string): (typeof WEEKDAYS)[number] {
  return WEEKDAYS[new Date(`${date}T00:00:00Z`).getUTCDay()] as (typeof WEEKDAYS)[number];
}

/** `n` consecutive weekdays (Monday to Friday) from `from` on, `from` included when it is one. */
export function weekdaysFrom(from: string, n: number): string[] {
  const out: string[] = [];
  for (let d = from; out.length < n; d = addDays(d, 1)) {
    if (dayOfWeek(d) !== 'Saturday' && dayOfWeek(d) !== 'Sunday') out.push(d);
  }
  return out;
}

/**
 * The `n` weekdays (Monday to Friday) ending at `date`, oldest first: `date` itself when it is a weekday, else the
 * weekdays before it. `npm run demo -- --days N` runs these, so the last one is the run date asked for.
 */
export function weekdaysEndingAt(date: string, n: number): string[] {
  if (n < 1) return [];
  let from = date;
  for (let found = 0; ; from = addDays(from, -1)) {
    if (dayOfWeek(from) !== 'Saturday' && dayOfWeek(from) !== 'Sunday') found++;
    if (found === n) break;
  }
  return weekdaysFrom(from, n);
}

/**
 * What is wrong with `date` as the date of a weekend notice, or undefined for a Saturday or Sunday. The notice
 * tells patients the clinics are closed this weekend, so on a weekday it would be false.
 */
export function weekendProblem(date: string): string | undefined {
  const day = dayOfWeek(date);
  if (day === 'Saturday' || day === 'Sunday') return undefined;
  return `must be a Saturday or Sunday (the notice tells patients the clinics are closed this weekend); it is a ${day}`;
}

/**
 * The retention cutoff: rows dated before it are expired. Counted back from the EARLIER of the run date and
 * today, so a run date in the future (which validation refuses, but an old run or a bug could still bring) can
 * never move the cutoff past today's window and expire data that is still inside it.
 */
export function retentionCutoff(runDate: string, today: string, retentionDays: number): string {
  return addDays(runDate < today ? runDate : today, -retentionDays);
}
