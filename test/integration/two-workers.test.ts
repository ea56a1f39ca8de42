/**
 * Two worker processes (`healthsynth worker`, as deployed) on one task queue: a day with many small shards
 * (SHARD_ROWS at its minimum) spreads its generateShard activities over both; one of them is SIGKILLed while it
 * generates a shard, and the other finishes the run: every entity's loaded count equals its generated count and
 * the warehouse's, with no duplicate primary key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ENTITIES, ENTITY_NAMES } from '../../src/domain/entities.js';
import { failureText } from '../../src/cli/format.js';
import { awaitPipeline, startPipeline } from '../../src/run-pipeline.js';
import { collectRuns } from '../../bench/e2e.js';
import { generatingOn, split } from '../../bench/workers.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { startWorkerProcess, stopWorker, type WorkerProcess } from '../support/worker-process.js';

/** 30 appointment shards per appointment entity at the smallest SHARD_ROWS: 122 generateShard activities. */
const SHARD_ROWS = 1_000;
const SCALE = 30_000;

describe('two workers on one task queue', () => {
  let h: TestHarness;
  const workers: WorkerProcess[] = [];
  before(async () => {
    h = await harness(
      testConfig({ DATABASE_URL: await freshDatabase('hs_two_workers_test'), SHARD_ROWS: String(SHARD_ROWS) }),
      { worker: false },
    );
  });
  after(async () => {
    for (const w of workers) await stopWorker(w, 'SIGKILL').catch(() => undefined);
    await h?.close();
  });

  test('shards spread over both; one SIGKILLed mid-generation, the other finishes with exact counts', async () => {
    const env = {
      ...process.env,
      TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
      DATABASE_URL: h.config.warehouse.kind === 'postgres' ? h.config.warehouse.databaseUrl : '',
      SHARD_ROWS: String(SHARD_ROWS),
    };
    const [a, b] = await Promise.all([startWorkerProcess(env), startWorkerProcess(env)]);
    workers.push(a, b);

    const runDate = uniqueDate();
    const handle = await startPipeline(h.client, h.config, { runDate, scale: SCALE });
    // Killed once it has done some of the run's shards and is generating another one.
    await generatingOn(h.client, runDate, b.workerPid, 60_000, 3);
    process.kill(b.workerPid, 'SIGKILL');
    const outcome = await awaitPipeline(h.config, handle);
    assert.equal(outcome.error, undefined, outcome.error ? failureText(outcome.error) : '');
    assert.equal(a.proc.exitCode, null, 'the survivor is still running');

    const { runs } = await collectRuns(h.client, handle);
    const byWorker = split(runs, a.workerPid, b.workerPid);
    const shards = runs.filter((r) => r.type === 'generateShard');
    assert.ok(byWorker.a.generateShard > 0, `the survivor generated shards: ${JSON.stringify(byWorker)}`);
    // b's attempt that was cut short closed by timing out; it still counts as b's (the started event names b).
    assert.ok(byWorker.b.generateShard > 0, `the killed worker had shards: ${JSON.stringify(byWorker)}`);
    assert.ok(
      shards.some((r) => r.attempt > 1 && r.identity.startsWith(`${a.workerPid}@`)),
      'the survivor retried the shard the killed worker was generating',
    );

    const summary = outcome.summary;
    assert.ok(summary);
    assert.deepEqual(summary.ingest.map((r) => r.entity).sort(), [...ENTITY_NAMES].sort());
    for (const r of summary.ingest) {
      assert.equal(r.rowsLoaded, r.rowsGenerated, `${r.entity}: loaded = generated`);
      assert.equal(await h.warehouse.countBatch(r.entity, runDate), r.rowsGenerated, `${r.entity}: warehouse rows`);
      const key = ENTITIES[r.entity].key;
      const [row] = await h.warehouse.query<{ n: number }>(
        `select count(*) - count(distinct ${key}) as n from raw.${r.entity} where batch_date = $1`,
        [runDate],
      );
      assert.equal(Number(row?.n), 0, `${r.entity}: duplicate keys`);
    }
    const appointments = summary.ingest.find((r) => r.entity === 'appointments');
    assert.equal(appointments?.rowsGenerated, SCALE);
    assert.equal(appointments?.shards, SCALE / SHARD_ROWS);
  });
});
