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
import { PUBLISHED_BATCHES_COLUMNS, PUBLISHED_BATCHES_TABLE, PUBLISHED_ONLY_PREDICATE } from './published.js';
import { RATING_REQUESTS_COLUMNS, RATING_REQUESTS_TABLE } from './rating-requests.js';
import { REMINDER_EVENTS_COLUMNS, REMINDER_EVENTS_TABLE } from './reminders.js';

/** Path of the generated file, relative to the repository root. */
export const SOURCES_YAML_PATH = 'dbt/models/staging/__sources.yml';

/**
 * Entities whose raw rows repeat across batches: clinics and doctors are full snapshots per batch date, and a
 * patient appears in every batch in which they had an appointment, an appointment in the schedule of every date
 * whose next weekday it falls on. Their keys are unique only per batch at raw
 * level (tested here as `key + batch_date`); staging keeps the latest batch per key and tests the key there.
 * Appointment, record and feedback keys are unique across batches, so raw-level `unique` holds for them.
 */
export const REPEATED_ACROSS_BATCHES: ReadonlySet<EntityName> = new Set<EntityName>([
  'clinics',
  'doctors',
  'patients',
  // A Friday's schedule and a weekend run's both hold Monday's booked appointments.
  'schedule',
]);

type Test = string | Record<string, unknown>;

const HEADER = [
  'GENERATED from src/domain/entities.ts by `npx tsx scripts/dbt-sources.ts`. Do not edit by hand:',
  'change the entity definitions and regenerate (test/unit/dbt-sources.test.ts fails on drift).',
];

/**
 * Raw tests look at published batches only (dbt's `where` config wraps the tested table in a filtered subquery):
 * a day whose seven loads are not all done (a failed load, a rerun in progress) must not fail the build of another
 * date. Relationships keep their unfiltered parent side, which only makes them easier to satisfy.
 */
const PUBLISHED_ONLY = { config: { where: PUBLISHED_ONLY_PREDICATE } };

/** A generic test with its arguments, limited to published batches. */
function published(name: string, args?: Record<string, unknown>): Test {
  return { [name]: { ...(args ? { arguments: args } : {}), ...PUBLISHED_ONLY } };
}

function columnTests(entity: EntityDef, column: Column): Test[] {
  const tests: Test[] = [];
  const isKey = column.name === entity.key;
  if (!column.nullable) tests.push(published('not_null'));
  if (isKey && !REPEATED_ACROSS_BATCHES.has(entity.name)) tests.push(published('unique'));
  if (column.references) {
    tests.push(
      published('relationships', {
        to: `source('${RAW_SCHEMA}', '${column.references}')`,
        field: ENTITIES[column.references].key,
      }),
    );
  }
  if (column.accepted) {
    const numeric = column.accepted.every((v) => typeof v === 'number');
    tests.push(published('accepted_values', { values: [...column.accepted], ...(numeric ? { quote: false } : {}) }));
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
          ...PUBLISHED_ONLY,
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

/** The published-days table (src/domain/published.ts), which staging reads to pick the complete days. */
function publishedEntry(): Record<string, unknown> {
  return {
    name: PUBLISHED_BATCHES_TABLE,
    description:
      'One row per run date whose seven batches are all loaded (written by the pipeline after its loads; removed by ' +
      'any load that changes a batch of that date). Staging models and raw tests read only these dates.',
    columns: PUBLISHED_BATCHES_COLUMNS.map((column) => ({
      name: column.name,
      description: column.description,
      data_tests: column.name === 'batch_date' ? ['not_null', 'unique'] : ['not_null'],
    })),
  };
}

/** The rating requests' outcomes (src/domain/rating-requests.ts): not a batch table, so every row is tested. */
function ratingRequestsEntry(): Record<string, unknown> {
  return {
    name: RATING_REQUESTS_TABLE,
    description:
      'One row per finished ratingRequest-<appointmentId> workflow (Telegram): the rating, no response, or ' +
      'undeliverable. Written once by the workflow, at any time of day; not a batch table.',
    columns: RATING_REQUESTS_COLUMNS.map((column) => {
      const tests: Test[] = [];
      if (!column.nullable) tests.push('not_null');
      if (column.name === 'appointment_id') tests.push('unique');
      if (column.accepted) tests.push({ accepted_values: { arguments: { values: [...column.accepted] } } });
      return { name: column.name, description: column.description, ...(tests.length > 0 ? { data_tests: tests } : {}) };
    }),
  };
}

/** The reminders' events (src/domain/reminders.ts): not a batch table either; the key is (appointment_id, event). */
function reminderEventsEntry(): Record<string, unknown> {
  return {
    name: REMINDER_EVENTS_TABLE.split('.')[1],
    description:
      'One row per reminded or held-out appointment and event (selected, sent, confirmed, cancelled, no-answer, ' +
      'undeliverable), written by appointmentReminders and each reminder-<appointmentId> workflow; not a batch table.',
    columns: REMINDER_EVENTS_COLUMNS.map((column) => {
      const tests: Test[] = ['not_null'];
      if ('accepted' in column) tests.push({ accepted_values: { arguments: { values: [...column.accepted] } } });
      return { name: column.name, description: column.description, data_tests: tests };
    }),
  };
}

/**
 * Renders the dbt sources YAML for every entity: source `raw`, one table per entity with descriptions, and the
 * tests that hold at raw level for published batches (not_null on required columns, unique on keys that never
 * repeat across batches, per-batch uniqueness for snapshot entities, relationships on foreign keys,
 * accepted_values on enumerations), then the published-days table, the rating requests and the reminder events. Pure and deterministic, so the drift check can
 * compare bytes.
 */
export function renderSourcesYaml(): string {
  const doc = {
    version: 2,
    sources: [
      {
        name: RAW_SCHEMA,
        schema: RAW_SCHEMA,
        description:
          'Raw tables loaded by the pipeline: one batch per entity and run date (column batch_date); a reload replaces ' +
          'its batch. A date is read only once published (all seven batches loaded).',
        tables: [...ENTITY_NAMES.map(tableEntry), publishedEntry(), ratingRequestsEntry(), reminderEventsEntry()],
      },
    ],
  };
  const body = stringify(doc, { lineWidth: 0, indentSeq: true, singleQuote: true, aliasDuplicateObjects: false });
  return `${HEADER.map((line) => `# ${line}`).join('\n')}\n${body}`;
}
