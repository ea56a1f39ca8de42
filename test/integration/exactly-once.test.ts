/**
 * Exactly once, whatever fails — on the real stack (Temporal, PostgreSQL, S3):
 *  - the worker killed with SIGKILL in the middle of a load: a new worker finishes the run, counts exact;
 *  - a corrupt object in raw/: the load fails naming the object key and line, the loaded batch is untouched.
 * (The same date run twice is covered by the end-to-end test.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { ENTITY_NAMES, type EntityName } from '../../src/domain/entities.js';
import type { GenerateShardInput, IngestResult, PipelineSummary, ShardObject } from '../../src/domain/types.js';
import { keys } from '../../src/activities/storage.js';
import { workflowIds, WORKFLOW_TYPES } from '../../src/temporal.js';
import { startWorker } from '../../src/worker.js';
import { corruptCsvField } from '../support/csv-faults.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';

const PendingState = temporal.api.enums.v1.PendingActivityState;

async function duplicateKeys(h: TestHarness, entity: EntityName, key: string, batchDate: string): Promise<number> {
  const rows = await h.warehouse.query<{ n: number }>(
    `select count(*) - count(distinct ${key}) as n from raw.${entity} where batch_date = $1`,
    [batchDate],
  );
  return Number(rows[0]?.n);
}

function startWorkerProcess(taskQueue: string, databaseUrl: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    env: { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, DATABASE_URL: databaseUrl, WORKER_METRICS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('exactly-once ingestion', () => {
  let h: TestHarness;
  before(async () => {
    // Its own database: the corrupt-object case leaves an appointments batch without its patients,
    // which would fail every later dbt build's relationship tests in a shared one.
    const databaseUrl = await freshDatabase('hs_exactly_once_test');
    h = await harness(testConfig({ DATABASE_URL: databaseUrl }), { worker: false });
  });
  after(async () => {
    await h.close();
  });

  test('a worker killed with SIGKILL mid-load: a new worker completes the pipeline with exact counts', async () => {
    const runDate = uniqueDate();
    const scale = 150_000;
    const proc = startWorkerProcess(
      h.config.temporal.taskQueue,
      h.config.warehouse.kind === 'postgres' ? h.config.warehouse.databaseUrl : '',
    );
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let replacement: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const handle = await h.client.workflow.start(WORKFLOW_TYPES.dailyPipeline, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: `${workflowIds.dailyPipeline(runDate)}`,
        args: [{ runDate, scale }],
      });

      // Wait until some load activity is running, then kill the worker without warning.
      const deadline = Date.now() + 180_000;
      let killedDuring: string | undefined;
      while (!killedDuring && Date.now() < deadline) {
        for (const entity of ENTITY_NAMES) {
          const child = h.client.workflow.getHandle(workflowIds.ingest(entity, runDate));
          const desc = await child.describe().catch(() => undefined);
          const running = desc?.raw.pendingActivities?.find(
            (a) => a.activityType?.name === 'loadBatch' && a.state === PendingState.PENDING_ACTIVITY_STATE_STARTED,
          );
          if (running) {
            proc.kill('SIGKILL');
            killedDuring = entity;
            break;
          }
        }
        if (!killedDuring) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(killedDuring, `no load started within 180 s; worker output:\n${output}`);
      if (proc.exitCode === null) await once(proc, 'exit');

      replacement = await startWorker(h.config);
      const summary = (await handle.result()) as PipelineSummary;

      for (const r of summary.ingest) {
        assert.equal(r.rowsLoaded, r.rowsGenerated, `${r.entity}: loaded ${r.rowsLoaded} of ${r.rowsGenerated}`);
        assert.equal(await h.warehouse.countBatch(r.entity, runDate), r.rowsGenerated, `${r.entity} warehouse count`);
      }
      assert.equal(await duplicateKeys(h, 'appointments', 'appointment_id', runDate), 0);
      assert.equal(await duplicateKeys(h, 'patients', 'patient_id', runDate), 0);

      // The killed load really was interrupted: its activity ran a second attempt.
      const history = await h.client.workflow.getHandle(workflowIds.ingest(killedDuring, runDate)).fetchHistory();
      const attempts = (history.events ?? [])
        .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0)
        .reduce((a, b) => Math.max(a, b), 0);
      assert.ok(attempts >= 2, `expected a retried load for ${killedDuring}, max attempt was ${attempts}`);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await replacement?.shutdown();
    }
  });

  test('a corrupt object fails the load naming key and line, and leaves the loaded batch untouched', async () => {
    const runDate = uniqueDate();
    const entity: EntityName = 'appointments';
    const input = { entity, runDate, scale: 2_000, seed: h.config.seed, shardRows: 1_000 };
    const good = await harness(h.config);
    let first: IngestResult;
    try {
      first = await h.client.workflow.execute(WORKFLOW_TYPES.ingestEntity, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: `${workflowIds.ingest(entity, runDate)}-good`,
        args: [input],
      });
    } finally {
      await good.close();
    }
    assert.equal(first.rowsLoaded, 2_000);
    const checksum = async (): Promise<string> =>
      String(
        (
          await h.warehouse.query<{ s: string }>(
            `select md5(string_agg(appointment_id::text || patient_id::text || no_show::text, ',' order by appointment_id)) as s
               from raw.appointments where batch_date = $1`,
            [runDate],
          )
        )[0]?.s,
      );
    const before = await checksum();

    // Fault injection: after the real generator writes shard 1, line 7 of the object gets a bad value.
    const corruptKey = keys.rawPart(entity, runDate, 1);
    const corrupting = await harness(h.config, {
      wrapActivities: (activities) => ({
        ...activities,
        async generateShard(shardInput: GenerateShardInput): Promise<ShardObject> {
          const object = await activities.generateShard(shardInput);
          if (shardInput.shard !== 1) return object;
          return corruptCsvField(h.store, object, { line: 6, field: 1, value: 'not-a-number' });
        },
      }),
    });
    try {
      await assert.rejects(
        h.client.workflow.execute(WORKFLOW_TYPES.ingestEntity, {
          taskQueue: h.config.temporal.taskQueue,
          workflowId: `${workflowIds.ingest(entity, runDate)}-corrupt`,
          args: [input],
        }),
        (err: unknown) => {
          assert.ok(err instanceof WorkflowFailedError);
          let message = '';
          for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) message += ` ${(e as Error).message}`;
          assert.match(message, new RegExp(corruptKey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
          assert.match(message, /line 7\b/);
          return true;
        },
      );
    } finally {
      await corrupting.close();
    }
    assert.equal(await h.warehouse.countBatch(entity, runDate), 2_000);
    assert.equal(await checksum(), before, 'the batch loaded before must be unchanged');
  });
});
