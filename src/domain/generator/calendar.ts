/**
 * Calendar arithmetic for the generator in whole days since 2000-01-01 (the "day index"), with
 * date strings precomputed once so the hot loop formats dates by array lookup.
 */

const MS_PER_DAY = 86_400_000;
const EPOCH_MS = Date.UTC(2000, 0, 1);

/**
 * The run dates the generator accepts, defined once in src/domain/dates.ts (validation everywhere uses them):
 * ids encode the day index since 2000-01-01, which must not be negative, and stay below 2^53.
 */
export { FIRST_RUN_DATE as MIN_RUN_DATE, LAST_RUN_DATE as MAX_RUN_DATE } from '../dates.js';

/** First day the date table covers (patients can be born up to ~105 years before 2000). */
const TABLE_FIRST = -40_000;
/** Last day the date table covers (2100-12-31 plus margin). */
const TABLE_LAST = 37_000;

/** Parses a strict YYYY-MM-DD calendar date into its day index, or undefined when it is not a real date. */
export function parseDayIndex(date: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return Math.round((ms - EPOCH_MS) / MS_PER_DAY);
}

/** Formats a day index as YYYY-MM-DD (days-to-civil, H. Hinnant's algorithm; no Date allocation). */
export function formatDay(day: number): string {
  const z = day + 10_957 + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

let table: string[] | undefined;
let dateBytes: Uint8Array | undefined;

/**
 * ASCII 'YYYY-MM-DD' of every day in the calendar, 10 bytes per day, built on first use (~770 KB):
 * byte-level writers copy a date from offset {@link dateOffset} instead of formatting it.
 */
export function dateTable(): Uint8Array {
  if (!dateBytes) {
    dateBytes = new Uint8Array((TABLE_LAST - TABLE_FIRST + 1) * 10);
    for (let d = TABLE_FIRST; d <= TABLE_LAST; d++) {
      const s = dayString(d);
      for (let k = 0; k < 10; k++) dateBytes[(d - TABLE_FIRST) * 10 + k] = s.charCodeAt(k);
    }
  }
  return dateBytes;
}

/** Offset of a day's 10 bytes in {@link dateTable}. */
export function dateOffset(day: number): number {
  if (day < TABLE_FIRST || day > TABLE_LAST)
    throw new RangeError(`day index ${day} is outside the generator's calendar`);
  return (day - TABLE_FIRST) * 10;
}

/** YYYY-MM-DD for a day index, by lookup in a table built on first use (~77k strings, a few ms). */
export function dayString(day: number): string {
  if (!table) {
    table = new Array<string>(TABLE_LAST - TABLE_FIRST + 1);
    for (let d = TABLE_FIRST; d <= TABLE_LAST; d++) table[d - TABLE_FIRST] = formatDay(d);
  }
  const s = table[day - TABLE_FIRST];
  if (s === undefined) throw new RangeError(`day index ${day} is outside the generator's calendar`);
  return s;
}

/** Two-digit strings '00'..'99', for times and cents. */
export const PAD2: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

/** 'HH:MM:SS' for a second of the day. */
export function timeString(secondOfDay: number): string {
  const h = (secondOfDay / 3600) | 0;
  const m = ((secondOfDay % 3600) / 60) | 0;
  return `${PAD2[h]}:${PAD2[m]}:${PAD2[secondOfDay % 60]}`;
}
