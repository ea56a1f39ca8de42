/**
 * Appointment reminders (issue 12): what the selection decides, what each reminder records, the reminder's text
 * and the object keys. Pure, so workflows and activities share it.
 */

/** The reminder's languages, as the bot's (src/bot/texts.ts): Portuguese by default, English when asked. */
export type ReminderLanguage = 'pt' | 'en';

/** `reminded` get a message; `holdout` (chosen by a hash of the appointment id) do not, as the comparison group. */
export type ReminderArm = 'reminded' | 'holdout';

/** The events of `raw.reminder_events`, at most one of each per appointment (its primary key). */
export const REMINDER_EVENTS = ['selected', 'sent', 'confirmed', 'cancelled', 'no-answer', 'undeliverable'] as const;
export type ReminderEvent = (typeof REMINDER_EVENTS)[number];

/** How a reminder ended: the patient's answer, none by the appointment's start, or no message delivered. */
export type ReminderOutcome = 'confirmed' | 'cancelled' | 'no-answer' | 'undeliverable';

/** `raw.reminder_events`: one row per appointment and event (see {@link REMINDER_EVENTS}). */
export const REMINDER_EVENTS_TABLE = 'raw.reminder_events';

/**
 * The columns of {@link REMINDER_EVENTS_TABLE} with their SQL type (the same on PostgreSQL and Redshift), in one
 * place so the DDL (src/activities/warehouse/ddl.ts) and dbt's sources YAML (src/domain/dbt-sources.ts) agree. The
 * key is (appointment_id, event). Not a batch table: rows arrive whenever a reminder's workflow records one.
 */
export const REMINDER_EVENTS_COLUMNS = [
  { name: 'appointment_id', sql: 'bigint', description: 'The appointment the selection kept (either arm).' },
  { name: 'patient_id', sql: 'bigint', description: 'The appointment’s patient.' },
  { name: 'decided_on', sql: 'date', description: 'The run date whose scores chose it.' },
  { name: 'appointment_on', sql: 'date', description: 'Day of the appointment (the next weekday after decided_on).' },
  { name: 'probability', sql: 'double precision', description: 'The model’s no-show probability when chosen.' },
  {
    name: 'arm',
    sql: 'varchar(16)',
    description: 'reminded (gets the message) or holdout (the comparison group, chosen by a hash of the id).',
    accepted: ['reminded', 'holdout'] as readonly string[],
  },
  {
    name: 'event',
    sql: 'varchar(16)',
    description:
      'selected (both arms), then for the reminded: sent and confirmed, cancelled or no-answer, or undeliverable.',
    accepted: REMINDER_EVENTS as readonly string[],
  },
  { name: 'at', sql: 'timestamptz', description: 'When the event was recorded.' },
] as const;

/** One appointment the selection kept, in either arm: what the reminder's workflow needs, no contact data. */
export interface ReminderFacts {
  appointmentId: number;
  patientId: number;
  /** The run date whose scores chose it. */
  decidedOn: string;
  /** The appointment's day. */
  appointmentOn: string;
  probability: number;
  arm: ReminderArm;
  /** When the appointment starts (ISO instant): the reminder waits for an answer until then. */
  startsAt: string;
  /** The start as the patient reads it, HH:MM in the network's timezone. */
  localTime: string;
  doctorName: string;
  clinicName: string;
  /** The patient's language when linked (raw.patient_contacts); absent in decisions stored before it: Portuguese. */
  language?: ReminderLanguage;
}

/** The selection of one run date, as stored at {@link reminderKeys}.decision (reruns reuse it). */
export interface ReminderDecision {
  decidedOn: string;
  appointmentOn: string;
  settings: { riskThreshold: number; dailyLimit: number; holdoutShare: number };
  /** Riskiest first. */
  appointments: ReminderFacts[];
}

/** Object keys by appointment day: the decision, and the reminded set the day's pipeline run generates outcomes with. */
export const reminderKeys = {
  /** The day folders `dt=<appointment day>/` live under it; retention deletes those of expired days. */
  root: 'reminders/',
  decision: (appointmentOn: string) => `reminders/dt=${appointmentOn}/decision.json`,
  remindedSet: (appointmentOn: string) => `reminders/dt=${appointmentOn}/reminded.csv`,
};

/** The button answers a reminder takes, and the outcome each records. */
export const REMINDER_ANSWERS = { confirm: 'confirmed', cancel: 'cancelled' } as const satisfies Record<
  string,
  ReminderOutcome
>;
export type ReminderAnswer = keyof typeof REMINDER_ANSWERS;

const DATE_TEXT = { pt: 'pt-BR', en: 'en-GB' } as const;

/** The reminder's text and button labels in `language`: the doctor, the clinic, the day and time, and nothing else. */
export function reminderMessage(
  f: Pick<ReminderFacts, 'doctorName' | 'clinicName' | 'appointmentOn' | 'localTime'>,
  language: ReminderLanguage,
): { text: string; confirm: string; cancel: string } {
  const day = new Date(`${f.appointmentOn}T12:00:00Z`).toLocaleDateString(DATE_TEXT[language], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    timeZone: 'UTC',
  });
  return language === 'en'
    ? {
        text: `Reminder: you have an appointment with ${f.doctorName} at ${f.clinicName} on ${day} at ${f.localTime}. Will you come?`,
        confirm: 'Confirm',
        cancel: 'Cancel',
      }
    : {
        text: `Lembrete: tem consulta com ${f.doctorName} na ${f.clinicName} em ${day}, às ${f.localTime}. Confirma a sua presença?`,
        confirm: 'Confirmar',
        cancel: 'Cancelar',
      };
}

/**
 * The instant (ISO) of wall-clock `time` (HH:MM[:SS]) on `date` in `timezone`: the offset is read from Intl at
 * that moment, so daylight-saving days come out right except inside the skipped or repeated hour.
 */
export function zonedInstant(date: string, time: string, timezone: string): string {
  const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
  const asUtc = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)), h, m, s);
  const offsetAt = (instant: number) => {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }).formatToParts(instant);
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    return (
      Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) -
      Math.floor(instant / 1000) * 1000
    );
  };
  const first = asUtc - offsetAt(asUtc);
  return new Date(asUtc - offsetAt(first)).toISOString();
}
