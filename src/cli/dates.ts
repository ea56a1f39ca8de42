/**
 * The one parser for date options of every command (`run --date`, `backfill --from/--to`, `notice --date`,
 * `status --date`, `risk --date`, `npm run demo -- --date`): the same rules the workflows apply, checked before anything
 * starts, with the option and the allowed range named in the message.
 */
import { isoDate, localDate, runDateProblem, weekendProblem } from '../domain/dates.js';
import { UsageError } from './command.js';

/** A date option that cannot be used; exits with the usage code like every other bad argument. */
export class DateOptionError extends UsageError {
  override name = 'DateOptionError';
}

/** Today's date (YYYY-MM-DD) in `timezone` (HEALTHSYNTH_TIMEZONE): what "the future" means for every command. */
export function todayIn(timezone: string, now: Date = new Date()): string {
  return localDate(now, timezone);
}

/** Checks that `value` is a real calendar date written YYYY-MM-DD (2026-02-30 is rejected). */
export function parseIsoDate(option: string, value: string): string {
  const parsed = isoDate.safeParse(value);
  if (!parsed.success) {
    throw new DateOptionError(`${option} ${parsed.error.issues[0]?.message ?? 'is invalid'}; got "${value}"`);
  }
  return value;
}

/**
 * A run date: a real date from the generator's first day (2000-01-01) to `today` in `timezone`. A later date
 * is refused before anything starts: it would only be a typo, and its retention cutoff would expire
 * everything stored.
 */
export function parseRunDate(option: string, value: string, today: string, timezone: string): string {
  const date = parseIsoDate(option, value);
  const problem = runDateProblem(date, today, timezone);
  if (problem) throw new DateOptionError(`${option} ${date} ${problem}`);
  return date;
}

/** A weekend notice's date: a run date that is a Saturday or Sunday (the notice says clinics are closed). */
export function parseWeekendDate(option: string, value: string, today: string, timezone: string): string {
  const date = parseRunDate(option, value, today, timezone);
  const problem = weekendProblem(date);
  if (problem) throw new DateOptionError(`${option} ${date} ${problem}`);
  return date;
}
