/**
 * The no-show model's tables and its two bulk paths through the warehouse, on both adapters:
 *
 * - `exportCsv`: a query's rows to CSV objects in the store (PostgreSQL: COPY … TO STDOUT streamed into a put;
 *   Redshift: UNLOAD to the prefix), so features reach the model as files, never through Temporal or memory.
 * - `replaceRows`: one CSV object into a model table, replacing the rows of one key value (a scored day, an evaluated
 *   day, a model version) in one transaction (PostgreSQL: DELETE + COPY FROM STDIN; Redshift: one batch of DELETE +
 *   COPY from S3), as the raw loads do. A rerun replaces the same rows with the same file: idempotent. The caller
 *   creates the tables first (`ensureModelTables`).
 *
 * The tables are written by the predictNoShows workflow, not by dbt (dbt builds before the model runs); they live in
 * `marts` beside the dbt marts and are created here when missing. dbt never drops tables it does not manage.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { ObjectStore } from '../storage.js';
import { stringLiteral, type Dialect } from './ddl.js';
import type { RedshiftSession } from './redshift-data.js';

/** Column name and portable SQL type, in file order. */
type Columns = ReadonlyArray<readonly [name: string, type: string]>;

/**
 * The model tables: their columns in CSV order. `no_show_risk` holds tomorrow's scores, `model_performance` one
 * row per evaluated day, `model_registry` every model the worker trained and the sha256 of its file (the only
 * models scoring will load).
 */
export const MODEL_TABLES = {
  no_show_risk: [
    ['appointment_id', 'varchar(64)'],
    ['appointment_day', 'date'],
    ['doctor_id', 'varchar(64)'],
    ['clinic_id', 'varchar(64)'],
    ['probability', 'double precision'],
    ['risk_decile', 'integer'],
    ['model_version', 'varchar(64)'],
    ['scored_on', 'date'],
  ],
  model_performance: [
    ['evaluated_on', 'date'],
    ['model_version', 'varchar(64)'],
    ['n', 'integer'],
    ['no_show_rate', 'double precision'],
    ['roc_auc', 'double precision'],
    ['pr_auc', 'double precision'],
    ['brier', 'double precision'],
    ['calibration_error', 'double precision'],
    ['top_decile_lift', 'double precision'],
    ['bayes_auc', 'double precision'],
  ],
  model_registry: [
    ['model_version', 'varchar(64)'],
    ['trained_for', 'date'],
    ['artifact_key', 'varchar(512)'],
    ['sha256', 'varchar(64)'],
    ['train_rows', 'integer'],
    ['window_from', 'date'],
    ['window_to', 'date'],
  ],
} as const satisfies Record<string, Columns>;

export type ModelTable = keyof typeof MODEL_TABLES;

/** `marts.<table>`. */
export const modelTable = (table: ModelTable): string => `marts.${table}`;

/** The CSV header of a model table's files (its columns in order). */
export const modelCsvHeader = (table: ModelTable): string => MODEL_TABLES[table].map(([name]) => name).join(',');

/** CREATE SCHEMA / TABLE IF NOT EXISTS for every model table (both dialects accept the same SQL). */
export function ensureModelTablesSql(): string[] {
  return [
    'CREATE SCHEMA IF NOT EXISTS marts',
    ...Object.entries(MODEL_TABLES).map(
      ([table, cols]) =>
        `CREATE TABLE IF NOT EXISTS ${modelTable(table as ModelTable)} (${cols.map(([n, t]) => `${n} ${t}`).join(', ')})`,
    ),
  ];
}

/** What `replaceRows` loads: one CSV object (with the table's header) replacing the rows where `column` = `value`. */
export interface ReplaceRowsInput {
  table: ModelTable;
  column: string;
  value: string;
  key: string;
}

/** Refuses a column the table does not have: the name is put into SQL. */
function checkColumn(table: ModelTable, column: string): void {
  if (!MODEL_TABLES[table].some(([name]) => name === column)) {
    throw ApplicationFailure.nonRetryable(`${modelTable(table)} has no column ${column}`, 'InvalidInput');
  }
}

const deleteSql = (input: ReplaceRowsInput, dialect: Dialect): string =>
  `DELETE FROM ${modelTable(input.table)} WHERE ${input.column} = ${stringLiteral(input.value, dialect)}`;

/** PostgreSQL: the query's rows streamed as one CSV object (`<prefix>part-00000.csv`). */
export async function exportCsvPostgres(
  client: pg.PoolClient,
  store: ObjectStore,
  select: string,
  prefix: string,
): Promise<string[]> {
  const key = `${prefix}part-00000.csv`;
  const out: Readable = client.query(copyTo(`COPY (${select}) TO STDOUT (FORMAT csv, HEADER true)`));
  await store.put(key, out, 'text/csv');
  return [key];
}

/** PostgreSQL: DELETE the value's rows and COPY the object in, inside the caller's transaction; returns rows. */
export async function replaceRowsPostgres(
  client: pg.PoolClient,
  store: ObjectStore,
  input: ReplaceRowsInput,
): Promise<number> {
  checkColumn(input.table, input.column);
  await client.query(deleteSql(input, 'postgres'));
  const cols = MODEL_TABLES[input.table].map(([n]) => n).join(', ');
  const copy = client.query(
    copyFrom(`COPY ${modelTable(input.table)} (${cols}) FROM STDIN (FORMAT csv, HEADER MATCH)`),
  );
  await pipeline(await store.get(input.key), copy);
  return copy.rowCount;
}

/** Redshift: UNLOAD of the query to `prefix` (one file while under 6.2 GB), then the objects it wrote. */
export async function exportCsvRedshift(s: RedshiftSession, select: string, prefix: string): Promise<string[]> {
  await s.store.deletePrefix(prefix);
  await s.api.execute(
    `UNLOAD (${stringLiteral(select, 'redshift')}) TO ${stringLiteral(s.store.s3Uri(`${prefix}part-`), 'redshift')} ` +
      `IAM_ROLE ${stringLiteral(s.iamRole, 'redshift')} FORMAT AS CSV HEADER PARALLEL OFF ALLOWOVERWRITE ` +
      `EXTENSION 'csv' REGION ${stringLiteral(s.region, 'redshift')}`,
  );
  return (await s.store.list(prefix)).map((o) => o.key);
}

/** Redshift: the table when missing, then DELETE + COPY from the object in one transaction (a batch); returns rows. */
export async function replaceRowsRedshift(s: RedshiftSession, input: ReplaceRowsInput): Promise<number> {
  checkColumn(input.table, input.column);
  const cols = MODEL_TABLES[input.table].map(([n]) => n).join(', ');
  const done = await s.api.batch([
    deleteSql(input, 'redshift'),
    `COPY ${modelTable(input.table)} (${cols}) FROM ${stringLiteral(s.store.s3Uri(input.key), 'redshift')} ` +
      `IAM_ROLE ${stringLiteral(s.iamRole, 'redshift')} FORMAT AS CSV IGNOREHEADER 1 ` +
      `REGION ${stringLiteral(s.region, 'redshift')}`,
  ]);
  return done.SubStatements?.[1]?.ResultRows ?? 0;
}
