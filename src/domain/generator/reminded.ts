/**
 * The reminded set of a run date: which of the day's appointments got a reminder, read from a small text object
 * (one appointment id per line, optionally under an `appointment_id` header), as a flag per appointment index.
 * A line may add the patient's answer, `<id>,cancelled` (under an `appointment_id,answer` header; `confirmed` or
 * nothing mean the appointment stands): a cancelled appointment becomes a cancellation.
 */
import { dayString, parseDayIndex } from './calendar.js';
import { ID_DAY_STRIDE } from './patients.js';
import { REMINDED, REMINDED_CANCELLED } from './visits.js';

/** The header line a reminded-set object may start with (a one-column CSV of appointment ids). */
export const REMINDED_HEADER = 'appointment_id';
/** The header of a reminded set with answers (`<id>,cancelled`, `<id>,confirmed` or `<id>,`). */
export const REMINDED_ANSWER_HEADER = 'appointment_id,answer';

/**
 * Flags ({@link REMINDED}, or {@link REMINDED_CANCELLED} for a cancelled one) for each of the `appointments` indexes
 * of `runDate`, from the object's `text`. Throws a RangeError naming the first bad line (by number, not content) when
 * a line is not an appointment id of that day (another day's id, an index past the day's appointments, not a number)
 * or has another answer; repeated ids count once (a cancellation wins).
 */
export function parseRemindedIds(text: string, runDate: string, appointments: number): Uint8Array {
  const day = parseDayIndex(runDate);
  if (day === undefined) throw new RangeError(`runDate ${JSON.stringify(runDate)} is not a date`);
  const flags = new Uint8Array(appointments);
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || (n === 0 && (line === REMINDED_HEADER || line === REMINDED_ANSWER_HEADER))) continue;
    const m = /^(\d{1,16})(?:,(cancelled|confirmed|))?$/.exec(line);
    const id = m ? Number(m[1]) : Number.NaN;
    const index = id - day * ID_DAY_STRIDE;
    if (!Number.isSafeInteger(id) || index < 0 || index >= appointments) {
      throw new RangeError(
        `line ${n + 1} is not the id of one of the ${appointments} appointments of ${dayString(day)}`,
      );
    }
    flags[index] = m?.[2] === 'cancelled' || flags[index] === REMINDED_CANCELLED ? REMINDED_CANCELLED : REMINDED;
  }
  return flags;
}
