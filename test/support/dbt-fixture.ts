/**
 * A small hand-made warehouse for the dbt tests: raw tables built from the entity definitions in a database of
 * their own, filled with two published daily batches whose marts the tests compute by hand (see
 * test/integration/dbt/).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.js';
import {
  createPublishedBatchesSql,
  createRatingRequestsSql,
  createReminderEventsSql,
} from '../../src/activities/warehouse/ddl.js';
import { ENTITY_NAMES, RAW_SCHEMA, csvColumns, type ColumnType, type EntityName } from '../../src/domain/entities.js';
import { PUBLISHED_BATCHES, PUBLISHED_BATCHES_COLUMNS } from '../../src/domain/published.js';

const PG_TYPES: Record<ColumnType, string> = {
  id: 'text',
  integer: 'integer',
  smallint: 'smallint',
  text: 'text',
  date: 'date',
  timestamp: 'timestamp',
  time: 'time',
  boolean: 'boolean',
  money: 'numeric(12, 2)',
};

export type Row = Record<string, string | number | boolean | null>;

/** Every mart of the dbt project, in a stable order (the tests that compare marts row for row read them all). */
export const MARTS = [
  'appointments',
  'doctor_days',
  'diagnosis_days',
  'no_show_daily',
  'doctor_performance',
  'appointments_monthly',
  'patient_conditions_monthly',
  'no_show_rates',
  'doctor_rating',
  'reminder_outcomes',
  'reminder_effect',
] as const;

export const B1 = '2026-02-27';
export const B2 = '2026-03-02';

/** Clinic and doctor rows that stay the same in both batches' snapshots. */
const NORTH_CLINIC: Row = {
  clinic_id: 'C1',
  clinic_name: 'North Clinic',
  neighbourhood: 'Centro',
  capacity: 80,
  opened_on: '2010-01-04',
};
const ANA_SOUZA: Row = {
  doctor_id: 'D1',
  full_name: 'Ana Souza',
  specialty: 'cardiology',
  clinic_id: 'C1',
  shift_start: '08:00',
  shift_end: '16:00',
  hired_on: '2018-03-01',
};
const BRUNO_LIMA: Row = {
  doctor_id: 'D2',
  full_name: 'Bruno Lima',
  specialty: 'pediatrics',
  clinic_id: 'C2',
  shift_start: '09:00',
  shift_end: '17:00',
  hired_on: '2019-05-10',
};

/** Two daily batches. Clinics/doctors are snapshots (D3 left after B1, C2 was renamed); P1 appears in both. */
export const FIXTURE: Record<EntityName, Row[]> = {
  clinics: [
    { ...NORTH_CLINIC, batch_date: B1 },
    {
      clinic_id: 'C2',
      clinic_name: 'South Clinic (old name)',
      neighbourhood: 'Praia',
      capacity: 40,
      opened_on: '2015-06-01',
      batch_date: B1,
    },
    { ...NORTH_CLINIC, batch_date: B2 },
    {
      clinic_id: 'C2',
      clinic_name: 'South Clinic',
      neighbourhood: 'Praia',
      capacity: 40,
      opened_on: '2015-06-01',
      batch_date: B2,
    },
  ],
  doctors: [
    { ...ANA_SOUZA, batch_date: B1 },
    { ...BRUNO_LIMA, batch_date: B1 },
    {
      doctor_id: 'D3',
      full_name: 'Carla Dias',
      specialty: 'pediatrics',
      clinic_id: 'C2',
      shift_start: '12:00',
      shift_end: '20:00',
      hired_on: '2020-01-15',
      batch_date: B1,
    },
    { ...ANA_SOUZA, batch_date: B2 },
    { ...BRUNO_LIMA, batch_date: B2 },
  ],
  patients: [
    patient('P1', 'F', '1960-03-15', { hypertension: true }, B1),
    patient('P2', 'M', '2001-07-01', {}, B1),
    patient('P1', 'F', '1960-03-15', { hypertension: true }, B2),
    patient('P3', 'F', '2015-11-30', { handicap: 1 }, B2),
    patient('P4', 'M', '1985-01-20', { diabetes: true, hypertension: true }, B2),
  ],
  appointments: [
    appt('A1', 'P1', 'D1', '2026-02-20 09:30:00', B1, true, false, B1),
    appt('A2', 'P2', 'D1', '2026-02-27 07:00:00', B1, false, true, B1),
    appt('A3', 'P2', 'D3', '2026-02-01 10:00:00', B1, true, false, B1),
    appt('A4', 'P1', 'D1', '2026-02-25 11:00:00', B2, true, false, B2),
    appt('A5', 'P3', 'D1', '2026-03-01 18:00:00', B2, false, false, B2),
    appt('A6', 'P4', 'D2', '2026-03-02 08:00:00', B2, false, false, B2),
    appt('A7', 'P3', 'D2', '2026-01-10 12:00:00', B2, true, true, B2),
  ],
  records: [
    rec('R1', 'A1', 'P1', 'D1', B1, 'hypertension', 150.0),
    rec('R2', 'A3', 'P2', 'D3', B1, 'bronchitis', 80.0),
    rec('R3', 'A4', 'P1', 'D1', B2, 'hypertension', 250.5),
    rec('R4', 'A5', 'P3', 'D1', B2, 'arrhythmia', 120.0),
    rec('R5', 'A6', 'P4', 'D2', B2, 'bronchitis', 60.0),
  ],
  feedback: [
    fb('F1', 'A1', 'P1', 'D1', 5, 'Very kind.', `${B1} 18:00:00`, B1),
    fb('F2', 'A4', 'P1', 'D1', 3, '', `${B2} 12:00:00`, B2),
    fb('F3', 'A5', 'P3', 'D1', 4, null, `${B2} 19:00:00`, B2),
    fb('F4', 'A6', 'P4', 'D2', 2, 'Long wait.', `${B2} 20:00:00`, B2),
  ],
  // The next weekday's appointments booked by the batch date: B1 (a Friday) holds B2's A4 and A7, not A5 or A6
  // (booked after B1); B2's schedule is an appointment of the day after B2, by a patient seen in no batch yet.
  schedule: [
    sched('A4', 'P1', 'D1', '2026-02-25 11:00:00', B2, true, B1),
    sched('A7', 'P3', 'D2', '2026-01-10 12:00:00', B2, true, B1),
    sched('A8', 'P9', 'D1', '2026-02-10 09:00:00', '2026-03-03', false, B2),
  ],
};

/** A schedule row: the appointment as its own day's batch will carry it, without the outcome. */
function sched(id: string, p: string, d: string, at: string, day: string, sms: boolean, batch: string): Row {
  const { no_show: _outcome, ...row } = appt(id, p, d, at, day, sms, false, batch);
  return row;
}

function patient(
  id: string,
  gender: string,
  born: string,
  flags: Partial<Record<string, boolean | number>>,
  batch: string,
): Row {
  return {
    patient_id: id,
    full_name: `Patient ${id}`,
    gender,
    birth_date: born,
    neighbourhood: 'Centro',
    scholarship: false,
    hypertension: Boolean(flags.hypertension),
    diabetes: Boolean(flags.diabetes),
    alcoholism: false,
    handicap: Number(flags.handicap ?? 0),
    registered_on: '2024-01-01',
    batch_date: batch,
  };
}
/** An appointment row (raw.appointments) for the fixture or a test's extra rows. */
export function appt(
  id: string,
  p: string,
  d: string,
  at: string,
  day: string,
  sms: boolean,
  noShow: boolean,
  batch: string,
): Row {
  return {
    appointment_id: id,
    patient_id: p,
    doctor_id: d,
    scheduled_at: at,
    appointment_day: day,
    sms_received: sms,
    no_show: noShow,
    batch_date: batch,
  };
}
function rec(id: string, a: string, p: string, d: string, day: string, diagnosis: string, amount: number): Row {
  return {
    record_id: id,
    appointment_id: a,
    patient_id: p,
    doctor_id: d,
    report_date: day,
    diagnosis,
    billing_amount: amount,
    batch_date: day,
  };
}
function fb(
  id: string,
  a: string,
  p: string,
  d: string,
  rating: number,
  comment: string | null,
  at: string,
  batch: string,
): Row {
  return {
    feedback_id: id,
    appointment_id: a,
    patient_id: p,
    doctor_id: d,
    rating,
    comment,
    submitted_at: at,
    batch_date: batch,
  };
}

/**
 * Creates schema raw, one table per entity typed from the entity definitions, the published-days table and the
 * rating requests' table (empty: dbt's Telegram ratings source).
 */
export async function createRawTables(client: pg.Client): Promise<void> {
  await client.query(`create schema if not exists ${RAW_SCHEMA}`);
  for (const entity of ENTITY_NAMES) {
    const cols = csvColumns(entity).map((c) => `${c.name} ${PG_TYPES[c.type]}${c.nullable ? '' : ' not null'}`);
    await client.query(`create table ${RAW_SCHEMA}.${entity} (${cols.join(', ')})`);
  }
  await client.query(createPublishedBatchesSql('postgres'));
  await client.query(createRatingRequestsSql('postgres'));
  // The fixture's ids are text (A1, P1…); its reminder events follow them.
  await client.query(createReminderEventsSql('postgres'));
  await client.query(
    'alter table raw.reminder_events alter column appointment_id type text, alter column patient_id type text',
  );
}

/**
 * Reminders chosen on B1 (a Friday) for B2's appointments: A4 reminded and confirmed, A5 reminded without an answer,
 * A7 held out (and a no-show in B2's batch).
 */
export const REMINDER_EVENTS_FIXTURE: ReadonlyArray<{
  id: string;
  patient: string;
  probability: number;
  arm: string;
  events: string[];
}> = [
  { id: 'A4', patient: 'P1', probability: 0.42, arm: 'reminded', events: ['selected', 'sent', 'confirmed'] },
  { id: 'A5', patient: 'P3', probability: 0.33, arm: 'reminded', events: ['selected', 'sent', 'no-answer'] },
  { id: 'A7', patient: 'P3', probability: 0.47, arm: 'holdout', events: ['selected'] },
];

/** Inserts reminder events chosen on B1 for B2's appointments, each of `rows`' events once (default: the fixture's). */
export async function insertReminderEvents(
  client: pg.Client,
  rows: ReadonlyArray<{
    id: string;
    patient: string;
    probability: number;
    arm: string;
    events: readonly string[];
  }> = REMINDER_EVENTS_FIXTURE,
): Promise<void> {
  for (const r of rows) {
    for (const event of r.events) {
      await client.query(
        `insert into raw.reminder_events (appointment_id, patient_id, decided_on, appointment_on, probability, arm, event, at)
         values ($1, $2, $3, $4, $5, $6, $7, now())`,
        [r.id, r.patient, B1, B2, r.probability, r.arm, event],
      );
    }
  }
}

/** Publishes `batchDate` (dbt's staging reads published days only), with the fixture's rows of that date as counts. */
export async function publishDay(client: pg.Client, batchDate: string): Promise<void> {
  const counts = ENTITY_NAMES.map((e) => FIXTURE[e].filter((r) => r.batch_date === batchDate).length);
  await client.query(
    `insert into ${PUBLISHED_BATCHES} (${PUBLISHED_BATCHES_COLUMNS.map((c) => c.name).join(', ')}) ` +
      `values ($1, now(), ${ENTITY_NAMES.map((_, i) => `$${i + 2}`).join(', ')})`,
    [batchDate, ...counts],
  );
}

/** Inserts fixture rows into raw.<entity>, one statement per row (a handful of rows). */
export async function insertRows(client: pg.Client, entity: EntityName, rows: Row[]): Promise<void> {
  const names = csvColumns(entity).map((c) => c.name);
  for (const row of rows) {
    const params = names.map((n) => row[n] ?? null);
    await client.query(
      `insert into ${RAW_SCHEMA}.${entity} (${names.join(', ')}) values (${names.map((_, i) => `$${i + 1}`).join(', ')})`,
      params,
    );
  }
}

/** A fresh database holding the raw tables and {@link FIXTURE}, with a config pointing at it; `drop` removes it. */
export interface FixtureDatabase {
  name: string;
  url: string;
  /** loadConfig() with DATABASE_URL pointing at this database and HEALTHSYNTH_DATA_DIR at `dataDir`. */
  config: Config;
  drop(): Promise<void>;
}

/** Creates `<prefix>_<random>` on the configured PostgreSQL server and fills it with the fixture. */
export async function createFixtureDatabase(prefix: string, dataDir: string): Promise<FixtureDatabase> {
  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres') throw new Error('the dbt integration tests need WAREHOUSE=postgres');
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const adminUrl = base.warehouse.databaseUrl;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = async (): Promise<void> => {
    const a = new pg.Client({ connectionString: adminUrl });
    await a.connect();
    try {
      await a.query(`drop database if exists ${name} with (force)`);
    } finally {
      await a.end();
    }
  };
  const db = new pg.Client({ connectionString: url.toString() });
  try {
    await db.connect();
    await createRawTables(db);
    for (const entity of ENTITY_NAMES) await insertRows(db, entity, FIXTURE[entity]);
    await insertReminderEvents(db);
    for (const day of [B1, B2]) await publishDay(db, day);
  } catch (err) {
    await db.end().catch(() => {});
    await drop();
    throw err;
  }
  await db.end();
  const config = loadConfig({ ...process.env, DATABASE_URL: url.toString(), HEALTHSYNTH_DATA_DIR: dataDir });
  return { name, url: url.toString(), config, drop };
}
