/**
 * Patients' Telegram contacts in the warehouse: `raw.patient_contacts` (patient_id, chat_id, linked_at,
 * opted_out_at, language: `pt` or `en`, from the Telegram user's language_code when they linked). The bot writes them (link, /stop), the patient sender reads them (and marks a blocked chat opted
 * out), so chat ids never travel in workflow payloads. Every write is an idempotent upsert: the same /start twice
 * keeps the first linked_at, the same /stop twice keeps the first opted_out_at.
 *
 * PostgreSQL only for now (the local warehouse); on Redshift the bot refuses to start and says so.
 */
import { createPool } from '../pg-pool.js';
import type { Config } from '../config.js';
import type { Language } from './texts.js';

export const PATIENT_CONTACTS = 'raw.patient_contacts';

/** One patient's contact. */
export interface PatientContact {
  patientId: number;
  chatId: string;
  linkedAt: Date;
  optedOutAt: Date | null;
  /** The language the patient's Telegram is in; messages to them use it (Portuguese when unknown). */
  language: Language;
}

/** Where contacts live; see the module comment. */
export interface ContactStore {
  ensureTable(): Promise<void>;
  /**
   * Links `chatId` to `patientId` (a chat holds one patient: linking it again moves it), records the patient's
   * language (default `pt`) and clears an opt-out.
   */
  link(patientId: number, chatId: string, language?: Language): Promise<PatientContact>;
  /** Opts the patient of `chatId` out; returns the contact, or undefined when the chat is not linked. */
  optOutChat(chatId: string): Promise<PatientContact | undefined>;
  /** Opts `patientId` out (a 403 "bot was blocked"); idempotent. */
  optOutPatient(patientId: number): Promise<void>;
  byChat(chatId: string): Promise<PatientContact | undefined>;
  byPatient(patientId: number): Promise<PatientContact | undefined>;
  close(): Promise<void>;
}

interface Row {
  patient_id: string;
  chat_id: string;
  linked_at: Date;
  opted_out_at: Date | null;
  language: string | null;
}
const toContact = (r: Row): PatientContact => ({
  patientId: Number(r.patient_id),
  chatId: String(r.chat_id),
  linkedAt: r.linked_at,
  optedOutAt: r.opted_out_at,
  language: r.language === 'en' ? 'en' : 'pt',
});

/** What the contact store's sessions are called in pg_stat_activity. */
export const CONTACTS_APPLICATION_NAME = 'healthsynth-contacts';

/** A {@link ContactStore} on the PostgreSQL warehouse of `config`. */
export function createContactStore(config: Pick<Config, 'warehouse'>): ContactStore {
  if (config.warehouse.kind !== 'postgres') {
    throw new Error('patient contacts are kept in a PostgreSQL warehouse for now; Redshift is not supported yet');
  }
  const pool = createPool({
    connectionString: config.warehouse.databaseUrl,
    max: 4,
    application_name: CONTACTS_APPLICATION_NAME,
  });
  const one = async (sql: string, params: unknown[]): Promise<PatientContact | undefined> => {
    const { rows } = await pool.query<Row>(sql, params);
    return rows[0] ? toContact(rows[0]) : undefined;
  };
  const cols = 'patient_id, chat_id, linked_at, opted_out_at, language';
  return {
    async ensureTable() {
      await pool.query(`create schema if not exists raw`);
      await pool.query(
        `create table if not exists ${PATIENT_CONTACTS} (
           patient_id bigint primary key,
           chat_id bigint not null unique,
           linked_at timestamptz not null,
           opted_out_at timestamptz
         )`,
      );
      // Added after the first contacts were linked: they have none and get Portuguese, the network's language.
      await pool.query(`alter table ${PATIENT_CONTACTS} add column if not exists language text`);
    },
    async link(patientId, chatId, language = 'pt') {
      const client = await pool.connect();
      try {
        await client.query('begin');
        // One chat, one patient: a chat that linked another patient before moves to this one.
        await client.query(`delete from ${PATIENT_CONTACTS} where chat_id = $1 and patient_id <> $2`, [
          chatId,
          patientId,
        ]);
        const { rows } = await client.query<Row>(
          `insert into ${PATIENT_CONTACTS} as c (${cols}) values ($1, $2, now(), null, $3)
           on conflict (patient_id) do update set
             chat_id = excluded.chat_id,
             linked_at = case when c.chat_id = excluded.chat_id and c.opted_out_at is null then c.linked_at
                              else excluded.linked_at end,
             opted_out_at = null,
             language = excluded.language
           returning ${cols}`,
          [patientId, chatId, language],
        );
        await client.query('commit');
        return toContact(rows[0]!);
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    optOutChat: (chatId) =>
      one(
        `update ${PATIENT_CONTACTS} set opted_out_at = coalesce(opted_out_at, now()) where chat_id = $1 returning ${cols}`,
        [chatId],
      ),
    async optOutPatient(patientId) {
      await pool.query(
        `update ${PATIENT_CONTACTS} set opted_out_at = coalesce(opted_out_at, now()) where patient_id = $1`,
        [patientId],
      );
    },
    byChat: (chatId) => one(`select ${cols} from ${PATIENT_CONTACTS} where chat_id = $1`, [chatId]),
    byPatient: (patientId) => one(`select ${cols} from ${PATIENT_CONTACTS} where patient_id = $1`, [patientId]),
    close: () => pool.end(),
  };
}
