/**
 * The published-days table: a day becomes visible to dbt only when all seven entities of that date are loaded.
 *
 * The seven loads of a date commit one by one, so between the first and the last (and for good when one fails, or
 * while a rerun with another scale replaces them) the raw tables hold a half-loaded day whose foreign keys point
 * at nothing. The pipeline therefore writes one row here after all seven loads succeeded (publishDay), every load
 * that changes a batch removes its date's row in the same transaction, and dbt's staging models and source tests
 * read only the batches listed here. One definition, so the DDL (src/activities/warehouse/ddl.ts) and dbt's
 * sources YAML (src/domain/dbt-sources.ts) cannot disagree.
 */
import { ENTITY_NAMES, RAW_SCHEMA, type Column, type EntityName } from './entities.js';

/** Table name inside {@link RAW_SCHEMA}. */
export const PUBLISHED_BATCHES_TABLE = '_published_batches';

/** `raw._published_batches`. */
export const PUBLISHED_BATCHES = `${RAW_SCHEMA}.${PUBLISHED_BATCHES_TABLE}`;

/** The column holding an entity's row count in the published snapshot. */
export function publishedRowsColumn(entity: EntityName): string {
  return `${entity}_rows`;
}

/** Columns of the published-days table: the date, when it was published, and each entity's rows at that moment. */
export const PUBLISHED_BATCHES_COLUMNS: readonly Column[] = [
  { name: 'batch_date', type: 'date', description: 'Run date whose seven batches are all loaded and visible to dbt.' },
  { name: 'published_at', type: 'timestamp', description: 'When the pipeline published the day (UTC).' },
  ...ENTITY_NAMES.map((entity): Column => ({
    name: publishedRowsColumn(entity),
    type: 'integer',
    description: `Rows of raw.${entity} in the batch when the day was published (the load ledger's count).`,
  })),
];

/**
 * The SQL predicate that keeps only published batches of a raw table, for dbt source tests' `where` config (which
 * cannot call source()). Staging models use the dbt macro `published_batches_only` instead.
 */
export const PUBLISHED_ONLY_PREDICATE = `batch_date in (select batch_date from ${PUBLISHED_BATCHES})`;
