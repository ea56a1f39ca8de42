/**
 * The faults that leave the stack up, side by side on the fault suite's own stack (each scenario has its own
 * database, bucket, task queue, worker processes and Slack/Telegram receiver).
 *
 * The worker SIGKILLed at four points of a run; a fresh worker process is started right after each kill:
 *  - during generation: while part files are being written;
 *  - during a load: all six loads have copied their rows and wait to commit (an uncommitted load-ledger row of the
 *    same batch, inserted by the test, holds their last statement);
 *  - during dbt: after the build has created its first models;
 *  - during cleanup, between backup and delete: feedback's backup (the first table with rows) is written and verified
 *    and its delete waits (the test holds a row lock on the expired batch's load-ledger row, which the delete removes
 *    first).
 *
 * Slack and Telegram failing the way they do in real life: the receiver answers the run's staff summary with Slack
 * 500, 500 and then 200, or Telegram 429 (retry_after) and then 200. The summary must arrive exactly once on each
 * channel, after the retries Temporal schedules.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { addDays } from '../../src/domain/dates.js';
import { keys } from '../../src/activities/storage.js';
import { FaultScenario, faultDate, requestText, waitFor } from '../support/faults.js';
import type { RecordedRequest, ReceiverChannel } from '../support/receiver.js';

const scenarios: FaultScenario[] = [];
after(async () => {
  for (const s of scenarios) await s.close();
});

/** Telegram's wait, in seconds, that the 429 asks for. */
const RETRY_AFTER_S = 10;

/** The requests that carried the staff summary of `runDate` to `channel`, in arrival order. */
function summaryRequests(s: FaultScenario, channel: ReceiverChannel, runDate: string): RecordedRequest[] {
  return s.receiver.requests.filter((r) => r.channel === channel && requestText(r).includes(`daily run ${runDate}`));
}

async function scenario(name: string, env?: Record<string, string>): Promise<FaultScenario> {
  const s = await FaultScenario.create(name, env);
  scenarios.push(s);
  await s.startWorker();
  return s;
}

describe('faults that leave the stack up', { concurrency: true, timeout: 900_000 }, () => {
  test('worker SIGKILL during generation', async () => {
    const s = await scenario('kill-generation');
    const runDate = faultDate();
    const handle = await s.startRun(runDate);
    const written = await s.midGeneration(runDate);
    const faultAt = await s.killWorker();
    await s.startWorker();
    const { summary, closedAt } = await s.completion(handle);

    await s.finishRun(
      {
        order: 1,
        fault: 'worker SIGKILL during generation',
        happened:
          `killed with ${written} of ${FaultScenario.partFilesPerRun()} part files written; a new worker took over ` +
          `the shards once their 20 s heartbeat timeout passed (retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });

  test('worker SIGKILL during a load', async () => {
    // Six loads held at once need six activity slots (default 4), and the first may wait for the last entity's
    // generation longer than the default 2 min lock_timeout on a busy machine.
    const s = await scenario('kill-load', { WORKER_MAX_CONCURRENT_ACTIVITIES: '8', PG_LOCK_TIMEOUT: '10min' });
    const runDate = faultDate();
    const blocker = await s.holdLoadsAtCommit(runDate);
    const handle = await s.startRun(runDate);
    await s.loadsHeld();
    const faultAt = await s.killWorker();
    await blocker.end();
    await s.startWorker();
    const { summary, closedAt } = await s.completion(handle);

    await s.finishRun(
      {
        order: 2,
        fault: 'worker SIGKILL during a load',
        happened:
          'killed while all six loads had copied their rows and waited to commit; their transactions rolled back ' +
          `and a new worker loaded each batch once (retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });

  test('worker SIGKILL during dbt', async () => {
    const s = await scenario('kill-dbt');
    const runDate = faultDate();
    const handle = await s.startRun(runDate);
    await s.runningActivity(runDate, 'runDbt');
    const nodes = await waitFor('dbt building its first models', async () => {
      const done = await s.dbtNodesDone(runDate);
      return done >= 3 ? done : undefined;
    });
    const faultAt = await s.killWorker();
    await s.startWorker();
    const { summary, closedAt } = await s.completion(handle);

    await s.finishRun(
      {
        order: 3,
        fault: 'worker SIGKILL during dbt',
        happened:
          `killed after dbt had finished ${nodes} nodes; runDbt was retried after its 1 min heartbeat timeout and ` +
          `rebuilt everything (retried: ${await s.retried(runDate)})`,
        faultAt,
      },
      { runDate, summary, closedAt },
    );
  });

  test('worker SIGKILL during cleanup, between backup and delete', async () => {
    const s = await scenario('kill-cleanup');
    // A date past the retention window (365 days) of the faulted run, loaded by a run of its own first.
    const runDate = faultDate();
    const oldDate = addDays(runDate, -400);
    const old = await s.completion(await s.startRun(oldDate));

    // Cleanup deletes feedback first (of the tables with rows here), and the load-ledger row of an expired batch before its rows: hold that row.
    const blocker = await s.session();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM raw._load_ledger WHERE entity = 'feedback' AND batch_date = $1 FOR UPDATE`, [
      oldDate,
    ]);
    // The old date is half of every table: more than RETENTION_MAX_DELETE_SHARE, so this run allows it.
    const handle = await s.startRun(runDate, { allowLargeCleanup: true });
    const backupKey = `${keys.backupPrefix('feedback', runDate)}part-00000.csv`;
    await waitFor(
      'the feedback backup written and its delete waiting',
      async () =>
        (await s.lockWaits('%DELETE FROM raw._load_ledger%')).length === 1 &&
        (await s.h.store.list(backupKey)).length === 1,
    );
    const faultAt = await s.killWorker();
    await blocker.query('ROLLBACK');
    await blocker.end();
    await s.startWorker();
    const { summary, closedAt } = await s.completion(handle);

    const cleanup = summary.cleanup;
    assert.ok(cleanup && 'tables' in cleanup, JSON.stringify(cleanup));
    assert.deepEqual(
      cleanup.tables.map((t) => [t.table, t.status]),
      [
        // No patient linked a chat in these runs: no rating or reminder rows to clean.
        ['rating_requests', 'nothing-to-clean'],
        ['reminder_events', 'nothing-to-clean'],
        ...['feedback', 'records', 'appointments', 'patients', 'schedule'].map((table) => [table, 'cleaned']),
      ],
    );
    const checks = [
      await s.checkDate(oldDate, { summary: old.summary, backupRunDate: runDate }),
      await s.checkDate(runDate, { summary }),
    ];
    s.finish(
      {
        order: 4,
        fault: 'worker SIGKILL during cleanup, between backup and delete',
        happened:
          'killed with the feedback backup written and verified and its delete not yet run; the transaction rolled ' +
          'back, the retry wrote the backup again and deleted exactly its rows ' +
          `(retried: ${await s.retried(runDate)})`,
        faultAt,
        recoveredAt: closedAt,
      },
      checks,
      [
        { runDate: oldDate, summary: old.summary },
        { runDate, summary },
      ],
    );
  });

  test('Slack answers 500, 500, then 200', async () => {
    const s = await scenario('slack-500');
    const runDate = faultDate();
    s.receiver.failNext('slack', 2, { status: 500 }, (r) => requestText(r).includes(`daily run ${runDate}`));
    const { summary } = await s.completion(await s.startRun(runDate));

    const attempts = summaryRequests(s, 'slack', runDate);
    assert.deepEqual(
      attempts.map((r) => r.status),
      [500, 500, 200],
    );
    const [first, second, delivered] = attempts as [RecordedRequest, RecordedRequest, RecordedRequest];
    const gap = (a: RecordedRequest, b: RecordedRequest) => ((b.receivedAt - a.receivedAt) / 1000).toFixed(1);
    const result = summary.notifications.find((n) => n.channel === 'slack' && n.message === 'pipeline-summary');
    assert.equal(result?.status, 'delivered');
    s.finish(
      {
        order: 8,
        fault: 'Slack answers 500 twice',
        happened:
          'the summary was posted three times (500, 500, 200): each 500 failed deliverSlack retryably and ' +
          `Temporal retried it ${gap(first, second)} s and ${gap(second, delivered)} s later; every other ` +
          'message went through once',
        faultAt: first.receivedAt,
        recoveredAt: delivered.receivedAt,
      },
      [await s.checkDate(runDate, { summary })],
      [{ runDate, summary }],
    );
  });

  test(`Telegram answers 429 with retry_after ${RETRY_AFTER_S}, then 200`, async () => {
    const s = await scenario('telegram-429');
    const runDate = faultDate();
    s.receiver.failNext('telegram', 1, { status: 429, retryAfter: RETRY_AFTER_S }, (r) =>
      requestText(r).includes(`daily run ${runDate}`),
    );
    const { summary } = await s.completion(await s.startRun(runDate));

    const attempts = summaryRequests(s, 'telegram', runDate);
    assert.deepEqual(
      attempts.map((r) => r.status),
      [429, 200],
    );
    const [refused, delivered] = attempts as [RecordedRequest, RecordedRequest];
    const waited = (delivered.receivedAt - refused.receivedAt) / 1000;
    assert.ok(waited >= RETRY_AFTER_S, `the retry waited ${waited} s, Telegram asked for ${RETRY_AFTER_S}`);
    s.finish(
      {
        order: 9,
        fault: `Telegram answers 429 (retry_after ${RETRY_AFTER_S})`,
        happened:
          `the summary was sent twice (429, 200): the retry came ${waited.toFixed(1)} s later, as retry_after ` +
          'asked, through the next retry delay of the delivery activity; the other messages went through once',
        faultAt: refused.receivedAt,
        recoveredAt: delivered.receivedAt,
      },
      [await s.checkDate(runDate, { summary })],
      [{ runDate, summary }],
    );
  });
});
