/**
 * The reminded set of a run date: which of the day's appointments got a reminder, read from a small text object
 * (one appointment id per line, optionally under an `appointment_id` header), as a flag per appointment index.
 */
import { dayString, parseDayIndex } from './calendar.js';
import { ID_DAY_STRIDE } from './patients.js';

/** The header line a reminded-set object may start with (a one-column CSV of appointment ids). */
export const REMINDED_HEADER = 'appointment_id';

/**
 * Flags (1 = reminded) for each of the `appointments` indexes of `runDate`, from the object's `text`. Throws a
 * RangeError naming the first bad line (by number, not content) when a line is not an appointment id of that day
 * (another day's id, an index past the day's appointments, not a number); repeated ids count once.
 */
export function parseRemindedIds(text: string, runDate: string, appointments: number): Uint8Array {
  const day = parseDayIndex(runDate);
  if (day === undefined) throw new RangeError(`runDate ${JSON.stringify(runDate)} is not a date`);
  const flags = new Uint8Array(appointments);
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || (n === 0 && line === REMINDED_HEADER)) continue;
    const id = /^\d{1,16}$/.test(line) ? Number(line) : Number.NaN;
    const index = id - day * ID_DAY_STRIDE;
    if (!Number.isSafeInteger(id) || index < 0 || index >= appointments) {
      throw new RangeError(
        `line ${n + 1} is not the id of one of the ${appointments} appointments of ${dayString(day)}`,
      );
    }
    flags[index] = 1;
  }
  return flags;
}
