/**
 * The stack's own services failing under a running pipeline, on the fault suite's own stack (never the one other
 * tests use): PostgreSQL stopped with `pg_ctl stop -m immediate` during the loads and started again, the S3 server
 * stopped for 30 s while part files are uploaded, and the Temporal dev server restarted mid-pipeline. One at a time,
 * since they stop what every scenario shares; the worker process is the same one throughout each scenario.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { stackDown, stackUp, type ServiceName } from '../../src/stack/index.js';
import { FaultScenario, faultDate, sleep, waitFor } from '../support/faults.js';

const scenarios: FaultScenario[] = [];
after(async () => {
  for (const s of scenarios) await s.close();
});

const stackLog: string[] = [];
const log = (line: string) => stackLog.push(line);

/** Stops one service of this suite's stack (the config comes from the environment `npm run test:faults` set). */
async function stop(name: ServiceName, immediate = false): Promise<void> {
  const stopped = await stackDown({ config: loadConfig(), log, only: [name], immediate });
  assert.deepEqual(stopped, [name], `${name} was running and is stopped\n${stackLog.join('\n')}`);
}

/** Starts what is stopped again (the running services are reused); returns when it answers. */
async function start(name: ServiceName): Promise<void> {
  const up = await stackUp({ config: loadConfig(), log });
  assert.equal(up.services.find((s) => s.name === name)?.status, 'started', stackLog.join('\n'));
}

async function scenario(name: string, env?: Record<string, string>): Promise<FaultScenario> {
  const s = await FaultScenario.create(name, env);
  scenarios.push(s);
  await s.startWorker();
  return s;
}

describe('a stack service fails mid-run', { concurrency: 1, timeout: 1_200_000 }, () => {
  test('PostgreSQL stopped with pg_ctl stop -m immediate during a load, then started', async () => {
    // Six loads held at once need six activity slots (default 4), and the first may wait for the last entity's
    // generation longer than the default 2 min lock_timeout on a busy machine.
    const s = await scenario('postgres-crash', { WORKER_MAX_CONCURRENT_ACTIVITIES: '8', PG_LOCK_TIMEOUT: '10min' });
    const runDate = faultDate();
    // The crash finds all six loads with their rows copied and uncommitted.
    await s.holdLoadsAtCommit(runDate);
    const handle = await s.startRun(runDate);
    await s.loadsHeld();
    const faultAt = Date.now();
    await stop('postgres', true);
    // Down until the worker has seen it: a load attempt failed against the stopped server.
    const failed = await waitFor('a load attempt failing while PostgreSQL is down', async () =>
      (await s.pendingActivities(runDate)).find((a) => a.type === 'loadBatch' && a.lastFailure),
    );
    await start('postgres');
    const downFor = (Date.now() - faultAt) / 1000;
    const { summary, closedAt } = await s.completion(handle);

    await s.finishRun(
      {
        order: 5,
        fault: 'PostgreSQL killed (`pg_ctl stop -m immediate`) during a load',
        happened:
          `stopped with six loads copied and uncommitted, started again after ${downFor.toFixed(1)} s (once a load ` +
          `had failed: "${failed.lastFailure?.slice(0, 60) ?? ''}"); crash recovery dropped the six transactions ` +
          `and the retried loads wrote each batch once (retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });

  test('the S3 server stopped for 30 s during an upload', async () => {
    const s = await scenario('s3-outage');
    const runDate = faultDate();
    const handle = await s.startRun(runDate);
    const written = await s.midGeneration(runDate);
    const faultAt = Date.now();
    await stop('s3');
    await sleep(30_000);
    await start('s3');
    const { summary, closedAt } = await s.completion(handle);

    await s.finishRun(
      {
        order: 6,
        fault: 'S3 server stopped for 30 s during an upload',
        happened:
          `stopped with ${written} of ${FaultScenario.partFilesPerRun()} part files written and uploads running; ` +
          `the generation attempts failed and were retried until it was back (retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });

  test('the Temporal dev server restarted mid-pipeline', async () => {
    const s = await scenario('temporal-restart');
    const runDate = faultDate();
    const handle = await s.startRun(runDate);
    const written = await s.midGeneration(runDate);
    const faultAt = Date.now();
    await stop('temporal');
    await start('temporal');
    const downFor = (Date.now() - faultAt) / 1000;
    const { summary, closedAt } = await s.completion(handle);
    assert.equal(s.workers.length, 1, 'the first worker finished the run');
    assert.equal(s.worker.proc.exitCode, null, 'and is still running');

    await s.finishRun(
      {
        order: 7,
        fault: 'Temporal dev server restarted mid-pipeline',
        happened:
          `restarted (down ${downFor.toFixed(1)} s) with ${written} of ${FaultScenario.partFilesPerRun()} part ` +
          'files written; the same worker reconnected and the run went on from its history ' +
          `(retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });
});
