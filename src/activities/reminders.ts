/**
 * Appointment reminders' activities (issue 12): choose tomorrow's reminders from the day's scores, hand them to the
 * workflow in small batches, record what happened to each in `raw.reminder_events`, and give the next day's run the
 * reminded set its outcomes are generated with.
 *
 * Only keys, counts and each reminder's own facts (ids, risk, doctor, clinic, time) cross Temporal history; the
 * patient's chat id stays in `raw.patient_contacts` and is read by the sender. Like the contacts, the events live in
 * the PostgreSQL warehouse for now: on Redshift the selection says it skipped and nothing is reminded.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createContactStore, PATIENT_CONTACTS } from '../bot/contacts.js';
import type { Config } from '../config.js';
import { REMINDED_ANSWER_HEADER } from '../domain/generator/index.js';
import {
  REMINDER_EVENTS,
  REMINDER_EVENTS_TABLE,
  reminderKeys,
  zonedInstant,
  type ReminderDecision,
  type ReminderEvent,
  type ReminderFacts,
} from '../domain/reminders.js';
import type { ObjectStore } from './storage.js';
import { createReminderEventsSql } from './warehouse/ddl.js';
import type { Warehouse } from './warehouse/index.js';
import { forgettingOnMissing, setupOnce } from './warehouse/setup-once.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function checkDate(field: string, value: string): string {
  if (typeof value !== 'string' || !DATE.test(value)) {
    throw ApplicationFailure.nonRetryable(`${field} must be YYYY-MM-DD`, 'InvalidInput');
  }
  return value;
}

/**
 * Whether appointment `id` is in the holdout: the first 32 bits of sha256("reminder-holdout:<id>") as a fraction
 * below `share`. A pure function of the id, so every rerun, worker and day agrees without storing a seed.
 */
export function inHoldout(appointmentId: number, share: number): boolean {
  const digest = createHash('sha256').update(`reminder-holdout:${appointmentId}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32 < share;
}

/** What selectReminders decided (counts and keys only). */
export interface ReminderSelection {
  decidedOn: string;
  /** The appointments' day; absent when skipped. */
  appointmentOn?: string;
  decisionKey?: string;
  reminded: number;
  holdout: number;
  /** Why nothing was selected without looking (a Redshift warehouse); absent otherwise. */
  skipped?: string;
  /** The decision was already stored by an earlier run and is reused as it was. */
  reused?: boolean;
}

export interface ReminderEventInput {
  facts: Pick<ReminderFacts, 'appointmentId' | 'patientId' | 'decidedOn' | 'appointmentOn' | 'probability' | 'arm'>;
  event: ReminderEvent;
}

interface Candidate {
  appointment_id: number;
  patient_id: number;
  probability: number;
  appointment_day: string;
  doctor_name: string | null;
  clinic_name: string | null;
  shift_start: string | null;
  language: string | null;
}

/** Before a doctor's shift start is known (a doctor hired since the last snapshot): the clinics' opening time. */
const DEFAULT_START = '07:00:00';
/** Rows per insert statement (8 parameters each, far below PostgreSQL's 65,535). */
const INSERT_ROWS = 1000;

export interface ReminderDeps {
  config: Pick<Config, 'warehouse' | 'timezone' | 'reminders'>;
  store: ObjectStore;
  warehouse: Warehouse;
}

export function createReminderActivities(deps: ReminderDeps) {
  const { config, store, warehouse } = deps;
  /** Creates raw.reminder_events and raw.patient_contacts when missing (once per process; idempotent). */
  const tables = setupOnce(async () => {
    const contacts = createContactStore(config);
    try {
      await contacts.ensureTable();
    } finally {
      await contacts.close();
    }
    await warehouse.ensureModelTables();
    await warehouse.query(createReminderEventsSql('postgres'));
  });
  const ensureTables = tables.ready;

  /** Inserts events, each at most once (the primary key; a repeat keeps the first row and its time). */
  async function insertEvents(rows: ReminderEventInput[]): Promise<number> {
    let inserted = 0;
    for (let i = 0; i < rows.length; i += INSERT_ROWS) {
      const chunk = rows.slice(i, i + INSERT_ROWS);
      const params: unknown[] = [];
      const values = chunk.map(({ facts: f, event }) => {
        const n = params.push(f.appointmentId, f.patientId, f.decidedOn, f.appointmentOn, f.probability, f.arm, event);
        return `($${n - 6}, $${n - 5}, cast($${n - 4} as date), cast($${n - 3} as date), $${n - 2}, $${n - 1}, $${n}, now())`;
      });
      const result = await warehouse.query<{ appointment_id: number }>(
        `insert into ${REMINDER_EVENTS_TABLE}
           (appointment_id, patient_id, decided_on, appointment_on, probability, arm, event, at)
         values ${values.join(', ')}
         on conflict (appointment_id, event) do nothing
         returning appointment_id`,
        params,
      );
      inserted += result.length;
    }
    return inserted;
  }

  async function readDecision(key: string): Promise<ReminderDecision | undefined> {
    const text = await store.getTextIfExists(key);
    return text === undefined ? undefined : (JSON.parse(text) as ReminderDecision);
  }

  return forgettingOnMissing(tables, {
    /**
     * Chooses the reminders for the appointments scored on `runDate` (tomorrow's schedule): those of linked patients
     * who have not opted out, scored at least REMINDER_RISK_THRESHOLD, the riskiest REMINDER_DAILY_LIMIT, split into
     * `reminded` and a `holdout` of about REMINDER_HOLDOUT_SHARE by {@link inHoldout}. Writes the decision to
     * `reminders/dt=<appointment day>/decision.json` and a `selected` event per appointment.
     *
     * Idempotent: a decision already stored for the date is reused as it is (a rerun never changes who was
     * reminded, even after new links or new settings), and the events are inserted at most once.
     */
    async selectReminders(input: { runDate: string }): Promise<ReminderSelection> {
      const decidedOn = checkDate('runDate', input.runDate);
      if (config.warehouse.kind !== 'postgres') {
        return { decidedOn, reminded: 0, holdout: 0, skipped: 'reminders need the PostgreSQL warehouse for now' };
      }
      await ensureTables();
      const { riskThreshold, dailyLimit, holdoutShare } = config.reminders;
      const days = await warehouse.query<{ appointment_day: string }>(
        `select min(appointment_day) as appointment_day from marts.no_show_risk where scored_on = cast($1 as date)`,
        [decidedOn],
      );
      const appointmentOn = days[0]?.appointment_day ?? undefined;
      if (!appointmentOn) return { decidedOn, reminded: 0, holdout: 0 };
      const decisionKey = reminderKeys.decision(appointmentOn);
      let decision = await readDecision(decisionKey);
      const reused = decision !== undefined;
      if (!decision) {
        const rows = await warehouse.query<Candidate>(
          `select s.appointment_id, s.patient_id, r.probability, r.appointment_day,
                  d.full_name as doctor_name, c.clinic_name, d.shift_start, pc.language
             from marts.no_show_risk r
             join raw.schedule s on s.appointment_id = cast(r.appointment_id as bigint) and s.batch_date = r.scored_on
             join ${PATIENT_CONTACTS} pc on pc.patient_id = s.patient_id and pc.opted_out_at is null
             left join raw.doctors d on d.doctor_id = s.doctor_id and d.batch_date = r.scored_on
             left join raw.clinics c on c.clinic_id = d.clinic_id and c.batch_date = r.scored_on
            where r.scored_on = cast($1 as date) and r.probability >= $2
            order by r.probability desc, s.appointment_id
            limit $3`,
          [decidedOn, riskThreshold, dailyLimit],
        );
        decision = {
          decidedOn,
          appointmentOn,
          settings: { riskThreshold, dailyLimit, holdoutShare },
          appointments: rows.map((r) => {
            const start = r.shift_start ?? DEFAULT_START;
            return {
              appointmentId: Number(r.appointment_id),
              patientId: Number(r.patient_id),
              decidedOn,
              appointmentOn: String(r.appointment_day).slice(0, 10),
              probability: Number(r.probability),
              arm: inHoldout(Number(r.appointment_id), holdoutShare) ? 'holdout' : 'reminded',
              startsAt: zonedInstant(String(r.appointment_day).slice(0, 10), start, config.timezone),
              localTime: start.slice(0, 5),
              doctorName: r.doctor_name ?? 'the doctor',
              clinicName: r.clinic_name ?? 'the clinic',
              language: r.language === 'en' ? 'en' : 'pt',
            };
          }),
        };
        await store.put(decisionKey, `${JSON.stringify(decision)}\n`, 'application/json');
      }
      await insertEvents(decision.appointments.map((facts) => ({ facts, event: 'selected' })));
      const reminded = decision.appointments.filter((a) => a.arm === 'reminded').length;
      return {
        decidedOn,
        appointmentOn,
        decisionKey,
        reminded,
        holdout: decision.appointments.length - reminded,
        ...(reused ? { reused } : {}),
      };
    },

    /** The reminded arm's entries `offset`..`offset + limit` of a stored decision (for starting their workflows). */
    async reminderBatch(input: { decisionKey: string; offset: number; limit: number }): Promise<ReminderFacts[]> {
      const decision = await readDecision(input.decisionKey);
      if (!decision) throw ApplicationFailure.nonRetryable('no reminder decision at that key', 'InvalidInput');
      return decision.appointments
        .filter((a) => a.arm === 'reminded')
        .slice(input.offset, input.offset + Math.min(input.limit, 1000));
    },

    /** Records one event of one appointment at most once (returns false when it was already recorded). */
    async recordReminderEvent(input: ReminderEventInput): Promise<boolean> {
      if (!REMINDER_EVENTS.includes(input.event)) {
        throw ApplicationFailure.nonRetryable(`unknown reminder event`, 'InvalidInput');
      }
      await ensureTables();
      return (await insertEvents([input])) === 1;
    },

    /**
     * The reminded set of the appointments on `runDate`, for generating their outcomes: the key of
     * `reminders/dt=<runDate>/reminded.csv`, written the first time from the events recorded so far (every
     * appointment whose reminder was sent, with `cancelled` when the patient cancelled) and reused afterwards, so
     * reruns of the date generate the same outcomes. Undefined when no reminder was sent for the date.
     */
    async remindedSetFor(input: { runDate: string }): Promise<{ remindedKey?: string; reminded: number }> {
      const runDate = checkDate('runDate', input.runDate);
      const key = reminderKeys.remindedSet(runDate);
      let text: string;
      if (await store.head(key)) {
        text = await store.getText(key);
      } else {
        if (config.warehouse.kind !== 'postgres' || !(await store.head(reminderKeys.decision(runDate)))) {
          return { reminded: 0 };
        }
        await ensureTables();
        const rows = await warehouse.query<{ appointment_id: number; cancelled: boolean; confirmed: boolean }>(
          `select appointment_id,
                  bool_or(event = 'cancelled') as cancelled,
                  bool_or(event = 'confirmed') as confirmed
             from ${REMINDER_EVENTS_TABLE}
            where appointment_on = cast($1 as date) and arm = 'reminded'
            group by appointment_id
           having bool_or(event = 'sent')
            order by appointment_id`,
          [runDate],
        );
        const lines = rows.map(
          (r) => `${r.appointment_id},${r.cancelled ? 'cancelled' : r.confirmed ? 'confirmed' : ''}`,
        );
        text = `${[REMINDED_ANSWER_HEADER, ...lines].join('\n')}\n`;
        await store.put(key, text, 'text/csv');
      }
      const reminded = text.split('\n').filter((l) => /^\d/.test(l)).length;
      return reminded > 0 ? { remindedKey: key, reminded } : { reminded };
    },
  });
}
