/**
 * dbt/models/staging/__sources.yml must be exactly what the entity definitions render, and the rendering must
 * declare only tests that hold at raw level.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { REPEATED_ACROSS_BATCHES, SOURCES_YAML_PATH, renderSourcesYaml } from '../../src/domain/dbt-sources.js';
import { ENTITIES, ENTITY_NAMES, SPECIALTIES, csvColumns } from '../../src/domain/entities.js';
import { PUBLISHED_BATCHES_COLUMNS, PUBLISHED_BATCHES_TABLE } from '../../src/domain/published.js';
import { RATING_REQUESTS_COLUMNS, RATING_REQUESTS_TABLE } from '../../src/domain/rating-requests.js';
import { REMINDER_EVENTS_COLUMNS } from '../../src/domain/reminders.js';

/** The tables that are not an entity's batches. */
const REMINDER_EVENTS = 'reminder_events';
const NOT_ENTITIES = [PUBLISHED_BATCHES_TABLE, RATING_REQUESTS_TABLE, REMINDER_EVENTS];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface SourceColumn {
  name: string;
  description: string;
  data_tests?: (string | Record<string, { arguments?: Record<string, unknown>; config?: { where?: string } }>)[];
}
interface SourceTable {
  name: string;
  description: string;
  data_tests?: unknown[];
  columns: SourceColumn[];
}

const testNames = (c: SourceColumn): string[] =>
  (c.data_tests ?? []).map((t) => (typeof t === 'string' ? t : Object.keys(t)[0]!));

describe('dbt sources YAML', () => {
  test('the committed file matches the rendering (run `npx tsx scripts/dbt-sources.ts` if not)', async () => {
    const committed = await readFile(path.join(ROOT, SOURCES_YAML_PATH), 'utf8');
    assert.equal(committed, renderSourcesYaml());
  });

  test('declares every entity column, with only the tests that hold at raw level', () => {
    const doc = parse(renderSourcesYaml()) as { sources: { name: string; schema: string; tables: SourceTable[] }[] };
    assert.equal(doc.sources.length, 1);
    const source = doc.sources[0]!;
    assert.deepEqual([source.name, source.schema], ['raw', 'raw']);
    assert.deepEqual(
      source.tables.map((t) => t.name),
      [...ENTITY_NAMES, PUBLISHED_BATCHES_TABLE, RATING_REQUESTS_TABLE, REMINDER_EVENTS],
    );
    for (const table of source.tables.filter((t) => !NOT_ENTITIES.includes(t.name))) {
      const entity = ENTITIES[table.name as keyof typeof ENTITIES];
      assert.equal(table.description, entity.description);
      assert.deepEqual(
        table.columns.map((c) => c.name),
        csvColumns(entity.name).map((c) => c.name),
      );
      const key = table.columns.find((c) => c.name === entity.key)!;
      // Snapshot entities repeat keys across batches: unique per batch only, the key itself is tested in staging.
      assert.equal(
        testNames(key).includes('unique'),
        !REPEATED_ACROSS_BATCHES.has(entity.name),
        `${table.name}.${entity.key}`,
      );
      assert.equal(table.data_tests !== undefined, REPEATED_ACROSS_BATCHES.has(entity.name));
      for (const def of entity.columns) {
        const col = table.columns.find((c) => c.name === def.name)!;
        assert.equal(col.description, def.description);
        assert.equal(testNames(col).includes('not_null'), !def.nullable, `${table.name}.${def.name} not_null`);
        assert.equal(testNames(col).includes('relationships'), def.references !== undefined);
        assert.equal(testNames(col).includes('accepted_values'), def.accepted !== undefined);
      }
    }
    const comment = source.tables.find((t) => t.name === 'feedback')!.columns.find((c) => c.name === 'comment')!;
    assert.equal(comment.data_tests, undefined, 'a nullable column without enumeration has no tests');
    const rating = source.tables.find((t) => t.name === 'feedback')!.columns.find((c) => c.name === 'rating')!;
    assert.deepEqual(rating.data_tests?.[1], {
      accepted_values: {
        arguments: { values: [1, 2, 3, 4, 5], quote: false },
        config: { where: 'batch_date in (select batch_date from raw._published_batches)' },
      },
    });
  });

  test('raw tests look at published days only; the published-days table is declared from its definition', () => {
    const doc = parse(renderSourcesYaml()) as { sources: { tables: SourceTable[] }[] };
    const tables = doc.sources[0]!.tables;
    // Every test of an entity table, column-level and table-level, carries the filter; none is left out.
    const entityTests = tables
      .filter((t) => !NOT_ENTITIES.includes(t.name))
      .flatMap((t) => [...(t.data_tests ?? []), ...t.columns.flatMap((c) => c.data_tests ?? [])]);
    assert.ok(entityTests.length > 40);
    for (const t of entityTests) {
      assert.ok(typeof t === 'object', `a bare test name cannot carry the filter: ${JSON.stringify(t)}`);
      const [body] = Object.values(t as Record<string, { config?: { where?: string } }>);
      assert.equal(body?.config?.where, 'batch_date in (select batch_date from raw._published_batches)');
    }
    const published = tables.find((t) => t.name === PUBLISHED_BATCHES_TABLE)!;
    assert.deepEqual(
      published.columns.map((c) => c.name),
      PUBLISHED_BATCHES_COLUMNS.map((c) => c.name),
    );
    assert.deepEqual(testNames(published.columns[0]!), ['not_null', 'unique']);
    assert.equal(PUBLISHED_BATCHES_COLUMNS.length, 2 + ENTITY_NAMES.length);
  });

  test('the reminder events are declared from their definition, tested whole, enumerations checked', () => {
    const doc = parse(renderSourcesYaml()) as { sources: { tables: SourceTable[] }[] };
    const events = doc.sources[0]!.tables.find((t) => t.name === REMINDER_EVENTS)!;
    assert.deepEqual(
      events.columns.map((c) => c.name),
      REMINDER_EVENTS_COLUMNS.map((c) => c.name),
    );
    const byName = Object.fromEntries(events.columns.map((c) => [c.name, testNames(c)]));
    assert.deepEqual(byName.arm, ['not_null', 'accepted_values']);
    assert.deepEqual(byName.event, ['not_null', 'accepted_values']);
    assert.deepEqual(byName.probability, ['not_null']);
  });

  test('the rating requests are declared from their definition: not a batch table, so tested whole', () => {
    const doc = parse(renderSourcesYaml()) as { sources: { tables: SourceTable[] }[] };
    const ratings = doc.sources[0]!.tables.find((t) => t.name === RATING_REQUESTS_TABLE)!;
    assert.deepEqual(
      ratings.columns.map((c) => c.name),
      RATING_REQUESTS_COLUMNS.map((c) => c.name),
    );
    const byName = Object.fromEntries(ratings.columns.map((c) => [c.name, testNames(c)]));
    assert.deepEqual(byName.appointment_id, ['not_null', 'unique']);
    assert.deepEqual(byName.status, ['not_null', 'accepted_values']);
    assert.deepEqual(byName.rating, []);
    for (const t of ratings.columns.flatMap((c) => c.data_tests ?? [])) {
      const body = typeof t === 'object' ? Object.values(t)[0] : undefined;
      assert.equal(body?.config?.where, undefined, 'no published-batch filter on a table without batches');
    }
  });

  test("dbt's specialties var is the domain's list, and the models' tests use the var, not a copy", async () => {
    const project = parse(await readFile(path.join(ROOT, 'dbt/dbt_project.yml'), 'utf8')) as {
      vars: { specialties: string[] };
    };
    assert.deepEqual(project.vars.specialties, [...SPECIALTIES]);
    const doctors = (parse(renderSourcesYaml()) as { sources: { tables: SourceTable[] }[] }).sources[0]!.tables.find(
      (t) => t.name === 'doctors',
    )!;
    const specialty = doctors.columns.find((c) => c.name === 'specialty')!;
    const accepted = specialty.data_tests?.find((t) => typeof t === 'object' && 'accepted_values' in t) as {
      accepted_values: { arguments: { values: string[] } };
    };
    assert.deepEqual(accepted.accepted_values.arguments.values, [...SPECIALTIES]);
    for (const file of [
      'dbt/models/staging/stg_doctors.yml',
      'dbt/models/marts/appointments.yml',
      'dbt/models/marts/doctor_performance.yml',
      'dbt/models/marts/doctor_rating.yml',
    ]) {
      const text = await readFile(path.join(ROOT, file), 'utf8');
      assert.match(text, /values: "\{\{ var\('specialties'\) \}\}"/, file);
      // A copy of the list would name all of them; fixtures of unit tests name one or two.
      const named = SPECIALTIES.filter((s) => text.includes(s));
      assert.ok(named.length < SPECIALTIES.length / 2, `${file} lists the specialties by hand: ${named.join(', ')}`);
    }
  });

  test('scripts/dbt-sources.ts --check passes on the committed file and exits 1 on drift', async () => {
    const ok = await execa('npx', ['tsx', 'scripts/dbt-sources.ts', '--check'], { cwd: ROOT, reject: false });
    assert.equal(ok.exitCode, 0, ok.stderr);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hs-dbt-sources-'));
    try {
      const drifted = path.join(dir, '__sources.yml');
      await writeFile(drifted, renderSourcesYaml().replace('name: clinic_name', 'name: clinic_title'));
      const bad = await execa('npx', ['tsx', 'scripts/dbt-sources.ts', '--check', `--file=${drifted}`], {
        cwd: ROOT,
        reject: false,
      });
      assert.equal(bad.exitCode, 1);
      assert.match(bad.stderr, /is out of date: run `npx tsx scripts\/dbt-sources.ts`/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
