/**
 * dbt's declaration of the raw tables, derived from the entity definitions.
 *
 * `dbt/models/staging/__sources.yml` is generated from {@link ENTITIES} by {@link renderSourcesYaml} (written by
 * `npx tsx scripts/dbt-sources.ts`), so a column added to an entity reaches dbt's docs and tests without a
 * second hand-written copy; a unit test fails when the committed file drifts from the rendering.
 */
import { stringify } from 'yaml';
import {
  ENTITIES,
  ENTITY_NAMES,
  RAW_SCHEMA,
  csvColumns,
  type Column,
  type EntityDef,
  type EntityName,
} from './entities.js';

/** Path of the generated file, relative to the repository root. */
export const SOURCES_YAML_PATH = 'dbt/models/staging/__sources.yml';

/**
 * Entities whose raw rows repeat across batches: clinics and doctors are full snapshots per batch date, and a
 * patient appears in every batch in which they had an appointment. Their keys are unique only per batch at raw
 * level (tested here as `key + batch_date`); staging keeps the latest batch per key and tests the key there.
 * Appointment, record and feedback keys are unique across batches, so raw-level `unique` holds for them.
 */
export const REPEATED_ACROSS_BATCHES: ReadonlySet<EntityName> = new Set<EntityName>(['clinics', 'doctors', 'patients']);

type Test = string | Record<string, unknown>;

const HEADER = [
  'GENERATED from src/domain/entities.ts by `npx tsx scripts/dbt-sources.ts`. Do not edit by hand:',
  'change the entity definitions and regenerate (test/unit/dbt-sources.test.ts fails on drift).',
];

function columnTests(entity: EntityDef, column: Column): Test[] {
  const tests: Test[] = [];
  const isKey = column.name === entity.key;
  if (!column.nullable) tests.push('not_null');
  if (isKey && !REPEATED_ACROSS_BATCHES.has(entity.name)) tests.push('unique');
  if (column.references) {
    tests.push({
      relationships: {
        arguments: { to: `source('${RAW_SCHEMA}', '${column.references}')`, field: ENTITIES[column.references].key },
      },
    });
  }
  if (column.accepted) {
    const numeric = column.accepted.every((v) => typeof v === 'number');
    tests.push({
      accepted_values: { arguments: { values: [...column.accepted], ...(numeric ? { quote: false } : {}) } },
    });
  }
  return tests;
}

function tableEntry(name: EntityName): Record<string, unknown> {
  const entity = ENTITIES[name];
  const entry: Record<string, unknown> = { name, description: entity.description };
  if (REPEATED_ACROSS_BATCHES.has(name)) {
    // True at raw level: one row per key within a batch (the expression is ANSI, valid on PostgreSQL and Redshift).
    entry.data_tests = [
      {
        unique: {
          name: `source_unique_raw_${name}_${entity.key}_per_batch`,
          arguments: { column_name: `cast(${entity.key} as varchar) || '/' || cast(batch_date as varchar)` },
        },
      },
    ];
  }
  entry.columns = csvColumns(name).map((column) => {
    const tests = columnTests(entity, column);
    return { name: column.name, description: column.description, ...(tests.length > 0 ? { data_tests: tests } : {}) };
  });
  return entry;
}

/**
 * Renders the dbt sources YAML for every entity: source `raw`, one table per entity with descriptions, and the
 * tests that hold at raw level (not_null on required columns, unique on keys that never repeat across batches,
 * per-batch uniqueness for snapshot entities, relationships on foreign keys, accepted_values on enumerations).
 * Pure and deterministic, so the drift check can compare bytes.
 */
export function renderSourcesYaml(): string {
  const doc = {
    version: 2,
    sources: [
      {
        name: RAW_SCHEMA,
        schema: RAW_SCHEMA,
        description:
          'Raw tables loaded by the pipeline: one batch per entity and run date (column batch_date); a reload replaces its batch.',
        tables: ENTITY_NAMES.map(tableEntry),
      },
    ],
  };
  const body = stringify(doc, { lineWidth: 0, indentSeq: true, singleQuote: true });
  return `${HEADER.map((line) => `# ${line}`).join('\n')}\n${body}`;
}
