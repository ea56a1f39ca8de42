/**
 * The weekly dbt-full-refresh: its schedule's workflow, started on the real Temporal dev server and worker, rebuilds
 * every mart from raw with every test (unit tests included) and keeps doctor_rating's past rankings. Real dbt and
 * PostgreSQL, on a private database holding the hand-made fixture of the dbt tests; dropped at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createDbtActivities } from '../../src/activities/dbt.js';
import type { DbtSummary } from '../../src/domain/types.js';
import { WORKFLOW_TYPES } from '../../src/workflow-ids.js';
import { B1, B2, createFixtureDatabase, type FixtureDatabase } from '../support/dbt-fixture.js';
import { harness, testConfig, type TestHarness } from '../support/env.js';

describe('dbt-full-refresh', { timeout: 600_000 }, () => {
  let fixture: FixtureDatabase;
  let h: TestHarness;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-dbt-refresh-'));
    fixture = await createFixtureDatabase('hs_dbt_refresh_test', dataDir);
    h = await harness(testConfig({ DATABASE_URL: fixture.url, HEALTHSYNTH_DATA_DIR: dataDir }));
  });
  after(async () => {
    await h?.close();
    await fixture?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('rebuilds everything with every test and keeps the past rankings', async () => {
    // A day's build first (as the pipeline runs it): no unit tests, tests scoped to the batch.
    const day = await createDbtActivities({ config: h.config }).runDbt({ runDate: B1, scope: 'day' });
    assert.equal(day.unitTestsPassed, 0);

    const summary = await h.client.workflow.execute<(input: { runDate: string }) => Promise<DbtSummary>>(
      WORKFLOW_TYPES.dbtFullRefresh,
      {
        workflowId: `dbt-full-refresh-test-${randomUUID()}`,
        taskQueue: h.config.temporal.taskQueue,
        args: [{ runDate: B2 }],
      },
    );
    assert.equal(summary.success, true);
    assert.equal(summary.testsFailed, 0);
    assert.equal(summary.modelsBuilt, 20);
    assert.equal(summary.unitTestsPassed, 7);
    assert.ok(summary.testsPassed > day.testsPassed, `${summary.testsPassed} tests vs ${day.testsPassed} in a day`);
    assert.equal(
      summary.command,
      `dbt build --target local --vars {"run_date":"${B2}","keep_rankings":true} --full-refresh`,
    );

    const db = new pg.Client({ connectionString: fixture.url });
    await db.connect();
    try {
      const dates = await db.query<{ as_of_on: string }>(
        `select distinct as_of_on::text as as_of_on from marts.doctor_rating order by 1`,
      );
      assert.deepEqual(
        dates.rows.map((r) => r.as_of_on),
        [B1, B2],
        'the full refresh added its own ranking and kept the day build ranking',
      );
    } finally {
      await db.end();
    }
  });
});
