/**
 * A day is visible to dbt only when all seven entities of it are loaded — on the real stack (Temporal, PostgreSQL, S3,
 * dbt). Date X's patients part file is corrupted after the other six entities of X are loaded, so X's pipeline
 * fails at ingest with appointments, records and feedback in the raw tables whose patients never arrived. The
 * pipeline of the next day, Y, must still pass dbt's relationship tests, and X's rows must stay out of staging.
 *
 * The run of Y also proves the versioned publish step: its history carries the `publish-day` patch marker and the
 * publishDay activity, and it replays against the current workflow code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { addDays } from '../../src/domain/dates.js';
import { ENTITY_NAMES } from '../../src/domain/entities.js';
import type { GenerateShardInput, PipelineSummary, ShardObject } from '../../src/domain/types.js';
import { awaitPipeline, startPipeline } from '../../src/run-pipeline.js';
import { PATCHES } from '../../src/workflows/patches.js';
import { installQuietRuntime, WORKFLOWS_PATH } from '../../src/worker.js';
import { corruptCsvField } from '../support/csv-faults.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { patchIds, scheduledActivities } from '../support/history.js';

describe('atomic days', () => {
  let h: TestHarness;
  const dayX = uniqueDate();
  const dayY = addDays(dayX, 1);

  /** Entities of `day` whose load is in the ledger. */
  const ledgered = async (day: string): Promise<string[]> =>
    (
      await h.warehouse.query<{ entity: string }>(
        'SELECT entity FROM raw._load_ledger WHERE batch_date = $1 ORDER BY entity',
        [day],
      )
    ).map((r) => r.entity);
  const count = async (sql: string, day: string): Promise<number> =>
    (await h.warehouse.query<{ n: number }>(sql, [day]))[0]?.n ?? -1;

  before(async () => {
    const databaseUrl = await freshDatabase('hs_atomic_day_test');
    h = await harness(testConfig({ DATABASE_URL: databaseUrl }), {
      wrapActivities: (activities) => ({
        ...activities,
        // Fault injection, for date X only: once the other six entities of X are loaded, the real patients part
        // file gets a birth date that is not a date, so its load fails for good (CsvLoadError).
        async generateShard(input: GenerateShardInput): Promise<ShardObject> {
          const object = await activities.generateShard(input);
          if (input.entity !== 'patients' || input.runDate !== dayX) return object;
          const deadline = Date.now() + 180_000;
          while ((await ledgered(dayX)).length < ENTITY_NAMES.length - 1) {
            if (Date.now() > deadline) throw new Error('the other six loads of X did not finish within 180 s');
            await new Promise((r) => setTimeout(r, 250));
          }
          return corruptCsvField(h.store, object, { line: 1, field: 3, value: 'not-a-date' });
        },
      }),
    });
  });
  after(async () => {
    await h?.close();
  });

  test("a half-loaded day never breaks another date's dbt build, and stays out of staging", async () => {
    const x = await awaitPipeline(h.config, await startPipeline(h.client, h.config, { runDate: dayX, scale: 'small' }));
    assert.ok(x.error instanceof WorkflowFailedError, `X must fail at ingest, got ${String(x.error ?? 'success')}`);
    let message = '';
    for (let e: unknown = x.error; e; e = (e as { cause?: unknown }).cause) message += ` ${(e as Error).message}`;
    assert.match(message, /failed at step ingest/);
    assert.match(message, /patients\/dt=\d{4}-\d\d-\d\d\/part-00000\.csv line 2 \(column birth_date\)/);

    // X is half loaded: six batches in the raw tables and the ledger, no patients, not published.
    assert.deepEqual(await ledgered(dayX), ['appointments', 'clinics', 'doctors', 'feedback', 'records', 'schedule']);
    assert.ok((await count('SELECT count(*) AS n FROM raw.appointments WHERE batch_date = $1', dayX)) > 0);
    assert.equal(await count('SELECT count(*) AS n FROM raw.patients WHERE batch_date = $1', dayX), 0);
    assert.equal(await count('SELECT count(*) AS n FROM raw._published_batches WHERE batch_date = $1', dayX), 0);

    // Y runs the whole pipeline: dbt builds and tests everything (relationships included) and passes.
    const y = await awaitPipeline(h.config, await startPipeline(h.client, h.config, { runDate: dayY, scale: 'small' }));
    assert.equal(y.error, undefined, `Y failed: ${String(y.error)}`);
    const summary = y.summary as PipelineSummary;
    assert.equal(summary.dbt?.success, true);
    assert.equal(summary.dbt?.testsFailed, 0);
    assert.ok((summary.dbt?.testsPassed ?? 0) > 50, 'the source relationship tests ran');

    // Staging shows Y and nothing of X, although X's appointments are in raw.
    assert.equal(await count('SELECT count(*) AS n FROM raw._published_batches WHERE batch_date = $1', dayY), 1);
    const appointmentsY = summary.ingest.find((r) => r.entity === 'appointments')?.rowsLoaded;
    assert.equal(
      await count('SELECT count(*) AS n FROM staging.stg_appointments WHERE batch_on = $1', dayY),
      appointmentsY,
    );
    assert.equal(await count('SELECT count(*) AS n FROM staging.stg_appointments WHERE batch_on = $1', dayX), 0);
    assert.equal(await count('SELECT count(*) AS n FROM staging.stg_records WHERE batch_on = $1', dayX), 0);
    assert.equal(
      await count(
        `SELECT count(*) AS n FROM marts.appointments m
           JOIN raw.appointments r ON m.appointment_id = CAST(r.appointment_id AS text) WHERE r.batch_date = $1`,
        dayX,
      ),
      0,
    );

    // The versioned step: Y's history has the patch marker and publishDay, and replays against today's code.
    const history = await h.client.workflow.getHandle(y.workflowId, y.runId).fetchHistory();
    assert.ok(patchIds(history).includes(PATCHES.publishDay), 'the new run took the publish-day path');
    const activities = scheduledActivities(history);
    assert.ok(activities.indexOf('publishDay') > -1, 'publishDay ran');
    assert.ok(activities.indexOf('publishDay') < activities.indexOf('runDbt'), 'before dbt');
    installQuietRuntime();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: 'atomic-day-replay' }, history);
  });
});
