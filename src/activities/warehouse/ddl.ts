/**
 * Warehouse DDL derived from the one entity definition (src/domain/entities.ts), for both dialects.
 *
 * Nothing here talks to a database: the adapters run these strings, and unit tests compare them, so a
 * column added to an entity shows up in PostgreSQL and Redshift alike without touching this file.
 */
import { csvColumns, ENTITIES, ENTITY_NAMES, RAW_SCHEMA, type Column, type EntityName } from '../../domain/entities.js';
import { PUBLISHED_BATCHES, PUBLISHED_BATCHES_COLUMNS } from '../../domain/published.js';
import { RATING_REQUESTS, RATING_REQUESTS_COLUMNS } from '../../domain/rating-requests.js';
import { REMINDER_EVENTS_COLUMNS, REMINDER_EVENTS_TABLE } from '../../domain/reminders.js';
import type { ShardObject } from '../../domain/types.js';

/** The two SQL dialects the warehouse speaks. */
export type Dialect = 'postgres' | 'redshift';

/** Ledger of loaded batches: one row per (entity, batch_date) naming the exact objects (key + etag) loaded. */
export const LOAD_LEDGER = `${RAW_SCHEMA}._load_ledger`;
/** Ledger of retention cleanups: one row per (run_date, table) so a rerun neither backs up twice nor deletes more. */
export const CLEANUP_LEDGER = `${RAW_SCHEMA}._cleanup_ledger`;

export { PUBLISHED_BATCHES };

/** Redshift VARCHAR length is in bytes; 4 bytes per character covers any UTF-8 text of `maxLength` characters. */
const REDSHIFT_DEFAULT_VARCHAR = 256;

/** The SQL type of one column in `dialect`. */
export function sqlType(column: Column, dialect: Dialect): string {
  switch (column.type) {
    case 'id':
      return 'bigint';
    case 'integer':
      return 'integer';
    case 'smallint':
      return 'smallint';
    case 'text':
      return dialect === 'postgres'
        ? 'text'
        : `varchar(${column.maxLength ? Math.min(65_535, column.maxLength * 4) : REDSHIFT_DEFAULT_VARCHAR})`;
    case 'date':
      return 'date';
    case 'timestamp':
      return 'timestamp';
    case 'time':
      return 'time';
    case 'boolean':
      return 'boolean';
    case 'money':
      return dialect === 'postgres' ? 'numeric(12,2)' : 'decimal(12,2)';
  }
}

/** `raw.<entity>`: the raw table an entity's batches load into. */
export function rawTable(entity: EntityName): string {
  return `${RAW_SCHEMA}.${entity}`;
}

/** The column list in CSV order, for COPY and INSERT statements. */
export function columnList(entity: EntityName): string {
  return csvColumns(entity)
    .map((c) => c.name)
    .join(', ');
}

/**
 * CREATE TABLE IF NOT EXISTS for an entity's raw table. Every column is NOT NULL unless the entity says
 * nullable. Raw tables carry no primary key: a batch is replaced as a whole and dbt tests keys downstream.
 * Redshift sorts by batch_date so the per-batch delete and the retention scans touch few blocks.
 */
export function createRawTableSql(entity: EntityName, dialect: Dialect): string {
  const cols = csvColumns(entity).map((c) => `  ${c.name} ${sqlType(c, dialect)}${c.nullable ? '' : ' NOT NULL'}`);
  const tail = dialect === 'redshift' ? `\nSORTKEY (batch_date)` : '';
  return `CREATE TABLE IF NOT EXISTS ${rawTable(entity)} (\n${cols.join(',\n')}\n)${tail}`;
}

/**
 * Every statement that makes the raw schema ready, in order: schema, one table per entity, both ledgers, the
 * published-days table (with its one-time backfill), and on PostgreSQL an index on batch_date per raw table (a
 * reload deletes its batch by that column; without the index every load would scan the whole history). None of them waits for a lock on an existing
 * table, so a worker's first load does not queue behind a running cleanup.
 */
export function ensureRawTablesSql(dialect: Dialect): string[] {
  const text = dialect === 'postgres' ? 'text' : 'varchar(65535)';
  const stmts = [`CREATE SCHEMA IF NOT EXISTS ${RAW_SCHEMA}`];
  for (const entity of Object.keys(ENTITIES) as EntityName[]) {
    stmts.push(createRawTableSql(entity, dialect));
    if (dialect === 'postgres') {
      stmts.push(createRawIndexSql(entity, 'batch_date'));
    }
  }
  stmts.push(
    `CREATE TABLE IF NOT EXISTS ${LOAD_LEDGER} (\n` +
      `  entity varchar(64) NOT NULL,\n  batch_date date NOT NULL,\n  objects ${text} NOT NULL,\n` +
      `  rows bigint NOT NULL,\n  loaded_at timestamp NOT NULL,\n  PRIMARY KEY (entity, batch_date)\n)`,
    `CREATE TABLE IF NOT EXISTS ${CLEANUP_LEDGER} (\n` +
      `  run_date date NOT NULL,\n  table_name varchar(64) NOT NULL,\n  cutoff date NOT NULL,\n` +
      `  backup_key varchar(1024) NOT NULL,\n  rows bigint NOT NULL,\n  cleaned_at timestamp NOT NULL,\n` +
      `  PRIMARY KEY (run_date, table_name)\n)`,
    createPublishedBatchesSql(dialect),
    ...(dialect === 'postgres' ? addPublishedColumnsSql() : []),
    backfillPublishedSql(dialect),
    createRatingRequestsSql(dialect),
    createReminderEventsSql(dialect),
  );
  if (dialect === 'postgres') stmts.push(...retentionIndexesSql());
  return stmts;
}

/**
 * PostgreSQL: an index on each retention table's date column (where it is not batch_date, indexed above), so the
 * daily cleanup finds the rows due through it. Without one it read the whole table every day to find none: 0.7 s
 * for raw.appointments at 120 medium days (EXPLAIN ANALYZE), up to 2.0 s inside the cleanup, where raw.patients's
 * cleanup waited for it (it locks raw.appointments). Created as the batch_date indexes are (no table lock when
 * present). Redshift has no indexes: its zone maps skip the blocks of any column.
 */
export function retentionIndexesSql(): string[] {
  const specs: [string, RetentionSpec][] = Object.entries(RETENTION_TABLES);
  return specs
    .filter(([, spec]) => spec.dateColumn !== 'batch_date')
    .map(([table, spec]) => createRawIndexSql(table, spec.dateColumn));
}

/**
 * PostgreSQL: `raw.<table>_<column>_idx` on raw.<table> (column), unless it exists. Not CREATE INDEX IF NOT EXISTS:
 * that takes a SHARE lock on the table before it finds the index, so every worker's first load would queue behind a
 * cleanup's EXCLUSIVE lock. The catalog check takes no table lock.
 */
function createRawIndexSql(table: string, column: string): string {
  const name = `${table}_${column}_idx`;
  return (
    `DO $$ BEGIN IF to_regclass('${RAW_SCHEMA}.${name}') IS NULL THEN ` +
    `CREATE INDEX ${name} ON ${RAW_SCHEMA}.${table} (${column}); END IF; END $$`
  );
}

/**
 * PostgreSQL: adds the per-entity row columns a published-days table made before that entity existed lacks
 * (schedule_rows, when tomorrow's schedule came), 0 for the days published before. The catalog check takes no
 * table lock when the column is there. Redshift has no conditional DDL outside procedures: add it there by hand
 * (`ALTER TABLE raw._published_batches ADD COLUMN schedule_rows integer NOT NULL DEFAULT 0`).
 */
export function addPublishedColumnsSql(): string[] {
  const [schema, table] = PUBLISHED_BATCHES.split('.') as [string, string];
  return PUBLISHED_BATCHES_COLUMNS.filter((c) => c.type === 'integer').map(
    (c) =>
      `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = '${schema}' ` +
      `AND table_name = '${table}' AND column_name = '${c.name}') THEN ` +
      `ALTER TABLE ${PUBLISHED_BATCHES} ADD COLUMN ${c.name} ${sqlType(c, 'postgres')} NOT NULL DEFAULT 0; END IF; END $$`,
  );
}

/**
 * The rating requests' outcomes (src/domain/rating-requests.ts): one row per appointment, keyed by it. Made with the
 * raw tables so dbt's source exists before the first request finishes.
 */
export function createRatingRequestsSql(dialect: Dialect): string {
  const cols = RATING_REQUESTS_COLUMNS.map((c) => `  ${c.name} ${sqlType(c, dialect)}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE IF NOT EXISTS ${RATING_REQUESTS} (\n${cols.join(',\n')},\n  PRIMARY KEY (appointment_id)\n)`;
}

/**
 * The reminders' events (src/domain/reminders.ts): one row per appointment and event, keyed by both. Made with the
 * raw tables so dbt's source exists before the first selection; PostgreSQL also checks the enumerations.
 */
export function createReminderEventsSql(dialect: Dialect): string {
  const cols = REMINDER_EVENTS_COLUMNS.map((c) => {
    const check =
      dialect === 'postgres' && 'accepted' in c
        ? ` CHECK (${c.name} IN (${c.accepted.map((v) => `'${v}'`).join(', ')}))`
        : '';
    return `  ${c.name} ${c.sql} NOT NULL${check}`;
  });
  return `CREATE TABLE IF NOT EXISTS ${REMINDER_EVENTS_TABLE} (\n${cols.join(',\n')},\n  PRIMARY KEY (appointment_id, event)\n)`;
}

/** The published-days table (src/domain/published.ts): one row per date whose seven batches are all loaded. */
export function createPublishedBatchesSql(dialect: Dialect): string {
  const cols = PUBLISHED_BATCHES_COLUMNS.map((c) => `  ${c.name} ${sqlType(c, dialect)} NOT NULL`);
  return `CREATE TABLE IF NOT EXISTS ${PUBLISHED_BATCHES} (\n${cols.join(',\n')},\n  PRIMARY KEY (batch_date)\n)`;
}

/**
 * Publishes, once, the days loaded before the table existed: every date whose load ledger holds all seven entities.
 * It only writes into an empty table, so it runs the first time the table is made (an upgrade that would otherwise
 * hide the whole history from dbt) and never again re-publishes a day a later load took back.
 */
export function backfillPublishedSql(dialect: Dialect): string {
  const now = dialect === 'postgres' ? 'now()' : 'GETDATE()';
  const counts = ENTITY_NAMES.map((e) => `MAX(CASE WHEN entity = '${e}' THEN rows END)`);
  return (
    `INSERT INTO ${PUBLISHED_BATCHES} (${PUBLISHED_BATCHES_COLUMNS.map((c) => c.name).join(', ')})\n` +
    `SELECT batch_date, ${now}, ${counts.join(', ')}\nFROM ${LOAD_LEDGER}\n` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${PUBLISHED_BATCHES})\n` +
    `GROUP BY batch_date\nHAVING COUNT(DISTINCT entity) = ${ENTITY_NAMES.length}`
  );
}

/** The column list and values of a published row for `day` (a validated date literal) and per-entity `rows`. */
export function publishedRow(
  day: string,
  now: string,
  rows: Record<EntityName, number>,
): { columns: string; values: string } {
  return {
    columns: PUBLISHED_BATCHES_COLUMNS.map((c) => c.name).join(', '),
    values: [day, now, ...ENTITY_NAMES.map((e) => String(Math.trunc(rows[e])))].join(', '),
  };
}

/**
 * The ledger's canonical form of a batch's objects: keys and etags only, sorted by key, as compact JSON.
 * Two loads of the same objects give the same string whatever order the shards finished in.
 */
export function canonicalObjects(objects: readonly ShardObject[]): string {
  const sorted = objects
    .map((o) => ({ key: o.key, etag: o.etag }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return JSON.stringify(sorted);
}

/** What retention needs to know of one table it prunes. */
interface RetentionSpec {
  /** The date that ages a row: it goes when this is before the cutoff. */
  dateColumn: string;
  /** The whole-number column whose sum, with the row count, checks the backup (need not be unique). */
  key: string;
  /** The backup's row order (default: the key); a key that repeats is ordered by the columns that make rows unique. */
  orderBy?: readonly string[];
  /**
   * A batch of this table stays while that table still holds rows of the same batch (foreign keys resolve within a
   * day's batch), so a row is never deleted before the rows pointing at it.
   */
  keptWhileReferencedBy?: EntityName;
  /**
   * The table is not loaded in batches (rows arrive when a patient's workflow records them): it has no batch_date
   * and no load-ledger rows to remove with its rows.
   */
  notBatched?: true;
}

/**
 * Tables retention cleanup prunes, with the date that ages each row and the key column for the backup checksum: the
 * entities' raw tables and the patient loop's tables (src/domain/rating-requests.ts, src/domain/reminders.ts).
 */
export const RETENTION_TABLES = {
  appointments: { dateColumn: 'appointment_day', key: 'appointment_id' },
  records: { dateColumn: 'report_date', key: 'record_id' },
  // Feedback goes too: it references appointments, and keeping it would keep personal data past retention.
  feedback: { dateColumn: 'submitted_at', key: 'feedback_id' },
  // Names, birth dates and conditions: a batch's patients are the snapshots its appointments point to.
  patients: { dateColumn: 'batch_date', key: 'patient_id', keptWhileReferencedBy: 'appointments' },
  // Tomorrow's schedule (patient and doctor ids, booking times) ages with its batch, as its raw objects do.
  schedule: { dateColumn: 'batch_date', key: 'appointment_id' },
  // The Telegram ratings (patient ids, stars, comments) age with the appointment they rate, as the appointment does.
  rating_requests: { dateColumn: 'appointment_day', key: 'appointment_id', notBatched: true },
  // The reminders' events (patient ids, risk scores, answers), up to six per appointment: the checksum sums the
  // appointment ids of all of them, and the delete takes exactly the rows the date predicate selected and the backup
  // verified (same transaction), so the key need not be unique.
  reminder_events: {
    dateColumn: 'appointment_on',
    key: 'appointment_id',
    orderBy: ['appointment_id', 'event'],
    notBatched: true,
  },
} as const satisfies Record<string, RetentionSpec>;

/** A table retention cleanup handles. */
export type RetentionTable = keyof typeof RETENTION_TABLES;

/** Narrows untrusted input (activity arguments) to a {@link RetentionTable}. */
export function isRetentionTable(value: unknown): value is RetentionTable {
  return typeof value === 'string' && Object.hasOwn(RETENTION_TABLES, value);
}

/** `raw.<table>` of a retention table (an entity's raw table, or one of the patient loop's). */
export function retentionTableName(table: RetentionTable): string {
  return `${RAW_SCHEMA}.${table}`;
}

/** The columns a retention backup holds, in table order: the whole row, so a restore loses nothing. */
export function retentionColumnList(table: RetentionTable): string {
  if (table === 'rating_requests') return RATING_REQUESTS_COLUMNS.map((c) => c.name).join(', ');
  if (table === 'reminder_events') return REMINDER_EVENTS_COLUMNS.map((c) => c.name).join(', ');
  return columnList(table);
}

/** The ORDER BY list of a retention backup: rows in key order, ties broken so two exports are byte for byte equal. */
export function retentionOrderBy(table: RetentionTable): string {
  const spec: RetentionSpec = RETENTION_TABLES[table];
  return (spec.orderBy ?? [spec.key]).join(', ');
}

/** True when the table is loaded in batches, so its cleanup also removes the load-ledger rows of touched batches. */
export function hasLoadLedger(table: RetentionTable): boolean {
  const spec: RetentionSpec = RETENTION_TABLES[table];
  return !spec.notBatched;
}

/**
 * The predicate selecting a table's expired rows: its date (for feedback, `submitted_at::date`) before
 * `cutoff`. Comparing the timestamp with the cutoff date is the same test and can use a sort key or index.
 * For patients it also requires that no appointment of the same batch remains (appointments of a batch can
 * be dated after it); the subquery is uncorrelated and limited to expired batch dates, for both dialects.
 */
export function expiredPredicate(table: RetentionTable, cutoff: string): string {
  const spec: RetentionSpec = RETENTION_TABLES[table];
  const expired = `${spec.dateColumn} < ${dateLiteral(cutoff)}`;
  if (!spec.keptWhileReferencedBy) return expired;
  return (
    `${expired} AND batch_date NOT IN (SELECT DISTINCT batch_date FROM ${rawTable(spec.keptWhileReferencedBy)} ` +
    `WHERE batch_date < ${dateLiteral(cutoff)})`
  );
}

/**
 * Removes the load-ledger rows of every batch that has rows matching `where` in `table`; runs in the cleanup's
 * transaction BEFORE the rows are deleted. Rule: a batch the cleanup touches at all is no longer "loaded" as the
 * ledger describes it, whether all of its rows go or only some (appointments of one batch can fall on different
 * days). Without its ledger row a reload of that date loads the whole batch again instead of answering
 * `unchanged` over a table that no longer holds it; the next cleanup then removes the expired part again.
 * Only for tables loaded in batches ({@link hasLoadLedger}); it throws for the others, which have no batch_date.
 */
export function deleteLedgerOfExpiredSql(table: RetentionTable, where: string): string {
  if (!hasLoadLedger(table)) throw new Error(`${retentionTableName(table)} is not loaded in batches: no ledger rows`);
  return (
    `DELETE FROM ${LOAD_LEDGER} WHERE entity = '${table}' AND batch_date IN ` +
    `(SELECT DISTINCT batch_date FROM ${retentionTableName(table)} WHERE ${where})`
  );
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** A validated `'YYYY-MM-DD'::date` literal; anything else throws (dates reach SQL text only through here). */
export function dateLiteral(date: string): string {
  const parsed = new Date(`${date}T00:00:00Z`);
  if (!DATE_RE.test(date) || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw new Error(`not a date in YYYY-MM-DD form: ${JSON.stringify(date)}`);
  }
  return `'${date}'::date`;
}

/** A single-quoted SQL string literal (quotes doubled; backslashes doubled too, for Redshift). */
export function stringLiteral(value: string, dialect: Dialect): string {
  const escaped = value.replace(/'/g, "''");
  return `'${dialect === 'redshift' ? escaped.replace(/\\/g, '\\\\') : escaped}'`;
}
