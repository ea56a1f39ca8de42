/**
 * At most once per message, on the real stack: real workflows (retentionCleanup sends a staff note, weekendNotice
 * a patient notice) on the real Temporal dev server, the real S3 server holding the delivery records, and Slack
 * and Telegram over real HTTP to the local receiver, scripted to fail the way the real services do. Retries are
 * Temporal's: each delivery activity attempt makes one request.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { deliveryKey, type DeliveryRecord } from '../../src/activities/delivery.js';
import type { CleanupResult } from '../../src/domain/types.js';
import { workflowIds, WORKFLOW_TYPES } from '../../src/temporal.js';
import { startWorker } from '../../src/worker.js';
import type { WeekendNoticeResult } from '../../src/workflows/weekend-notice.js';
import {
  freshDatabase,
  harness,
  testConfig,
  uniq,
  uniqueDate,
  uniqueSaturday,
  type TestHarness,
} from '../support/env.js';
import { chatIdOf, receiverSettings, startReceiver, type Receiver } from '../support/receiver.js';
import { unusedDate } from '../support/workflow-runs.js';

const STAFF_CHAT = '-100111111';
const PATIENT_CHAT = '-100222222';

async function record(h: TestHarness, scope: string, name: string, channel: 'slack' | 'telegram') {
  return JSON.parse(await h.store.getText(deliveryKey(scope, name, channel))) as DeliveryRecord;
}

describe('deliveries: one activity per channel and message, at most once', () => {
  let receiver: Receiver;
  let databaseUrl: string;
  let env: Record<string, string>;
  let h: TestHarness;

  before(async () => {
    receiver = await startReceiver();
    // Its own database: retention cleanup deletes what is older than its date.
    databaseUrl = await freshDatabase('hs_wf_deliveries_test');
    env = {
      DATABASE_URL: databaseUrl,
      ...receiverSettings(receiver, {
        botToken: '123456:DELIVERIES-token',
        staffChat: STAFF_CHAT,
        patientChat: PATIENT_CHAT,
      }),
    };
    h = await harness(testConfig(env));
  });
  after(async () => {
    await h?.close();
    await receiver?.close();
  });

  const cleanup = (runDate: string) =>
    h.client.workflow.execute(WORKFLOW_TYPES.retentionCleanup, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.cleanup(runDate),
      args: [{ runDate, retentionDays: 365 }],
    }) as Promise<CleanupResult>;

  test('Slack answers 500, 500, 200: one message delivered, on the third attempt; a rerun sends nothing', async () => {
    const runDate = uniqueDate();
    receiver.failNext('slack', 2, { status: 500 });
    const before = receiver.requests.length;
    const result = await cleanup(runDate);
    const mine = receiver.requests.slice(before);

    assert.deepEqual(
      mine.filter((r) => r.channel === 'slack').map((r) => r.status),
      [500, 500, 200],
    );
    const slack = result.notifications.find((n) => n.channel === 'slack');
    assert.equal(slack?.status, 'delivered');
    assert.equal(slack?.detail, 'delivered on attempt 3');
    // The cleanup note is for staff: Slack and the staff chat, never the patients' chat.
    const telegram = mine.filter((r) => r.channel === 'telegram');
    assert.deepEqual(telegram.map(chatIdOf), [STAFF_CHAT]);
    assert.match((telegram[0]?.json as { text: string }).text, new RegExp(`Retention cleanup ${runDate}`));
    const stored = await record(h, workflowIds.cleanup(runDate), 'retention-cleanup', 'slack');
    assert.equal(stored.status, 'delivered');
    assert.equal(stored.attempt, 3);

    // The same date again (a rerun with the same workflow id): the records answer, no request is made.
    const again = await cleanup(runDate);
    assert.deepEqual(
      again.notifications.map((n) => [n.channel, n.status, n.alreadyDelivered]),
      [
        ['slack', 'delivered', true],
        ['telegram', 'delivered', true],
      ],
    );
    assert.equal(receiver.requests.length, before + 4, 'no request for the rerun');
  });

  test('Slack answers 403: one request, the run completes, the result says failed with the HTTP status', async () => {
    const runDate = uniqueDate();
    receiver.failNext('slack', 1, { status: 403, error: 'invalid_token' });
    const before = receiver.requests.length;
    const result = await cleanup(runDate);
    assert.equal(receiver.requests.slice(before).filter((r) => r.channel === 'slack').length, 1, 'not retried');
    const slack = result.notifications.find((n) => n.channel === 'slack');
    assert.equal(slack?.status, 'failed');
    assert.equal(slack?.httpStatus, 403);
    assert.match(slack?.detail ?? '', /HTTP 403 invalid_token \(DeliveryRejected, not retried\)/);
    assert.ok(!JSON.stringify(result).includes(receiver.slackUrl), 'the webhook URL is not in the result');
    assert.equal(result.notifications.find((n) => n.channel === 'telegram')?.status, 'delivered');
    assert.equal((await record(h, workflowIds.cleanup(runDate), 'retention-cleanup', 'slack')).status, 'failed');
  });

  test('Telegram answers 429 with retry_after 8, then 200: one notice, to the patients chat only', async () => {
    const date = await unusedDate(h.client, uniqueSaturday, workflowIds.weekendNotice);
    receiver.failNext('telegram', 1, { status: 429, retryAfter: 8 });
    const before = receiver.requests.length;
    const result = (await h.client.workflow.execute(WORKFLOW_TYPES.weekendNotice, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.weekendNotice(date),
      args: [{ date }],
    })) as WeekendNoticeResult;
    const mine = receiver.requests.slice(before);

    assert.deepEqual(
      result.notifications.map((n) => [n.channel, n.audience, n.status]),
      [['telegram', 'patients', 'delivered']],
    );
    assert.deepEqual(
      mine.map((r) => [r.channel, r.status, chatIdOf(r)]),
      [
        ['telegram', 429, PATIENT_CHAT],
        ['telegram', 200, PATIENT_CHAT],
      ],
      'patients only: no Slack post, no staff chat',
    );
    // The retry came when Telegram asked (nextRetryDelay), not after the policy's 2 s first interval.
    const waited = (mine[1]?.receivedAt ?? 0) - (mine[0]?.receivedAt ?? 0);
    assert.ok(waited >= 7_900, `second request after ${waited} ms`);
    assert.equal(mine.filter((r) => r.status === 200).length, 1, 'exactly one message delivered');
  });

  test('an attempt that dies between the intent and the answer is not resent: the result says unknown', async () => {
    const config = testConfig(env);
    const h2 = await harness(config, { worker: false });
    // The first attempt runs in a worker process that is killed while its request is in flight.
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, ...env, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, WORKER_METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const deadline = Date.now() + 90_000;
      while (!output.includes('polling task queue')) {
        assert.ok(Date.now() < deadline && proc.exitCode === null, `worker did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const date = await unusedDate(h2.client, uniqueSaturday, workflowIds.weekendNotice);
      const telegramBefore = receiver.requests.filter((r) => r.channel === 'telegram').length;
      receiver.hangNext('telegram', 1);
      const handle = await h2.client.workflow.start(WORKFLOW_TYPES.weekendNotice, {
        taskQueue: config.temporal.taskQueue,
        workflowId: workflowIds.weekendNotice(date),
        args: [{ date }],
      });
      await receiver.waitFor('telegram', telegramBefore + 1);
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      const scope = workflowIds.weekendNotice(date);
      assert.equal((await record(h2, scope, 'weekend-notice', 'telegram')).status, 'sending');

      // Another worker takes the retry (after the heartbeat timeout): it finds the intent and does not resend.
      worker = await startWorker(config);
      const result = (await handle.result()) as WeekendNoticeResult;
      assert.equal(result.notifications.length, 1);
      assert.equal(result.notifications[0]?.status, 'unknown');
      assert.match(result.notifications[0]?.detail ?? '', /cut off while sending.*not sent again/);
      assert.equal((await record(h2, scope, 'weekend-notice', 'telegram')).status, 'unknown');

      // A manual run for the same date under another workflow id: still at most once.
      const rerun = (await h2.client.workflow.execute(WORKFLOW_TYPES.weekendNotice, {
        taskQueue: config.temporal.taskQueue,
        workflowId: `manual-notice-${uniq()}`,
        args: [{ date }],
      })) as WeekendNoticeResult;
      assert.equal(rerun.notifications[0]?.status, 'unknown');
      assert.equal(
        receiver.requests.filter((r) => r.channel === 'telegram').length,
        telegramBefore + 1,
        'exactly one request ever reached Telegram',
      );
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await once(proc, 'exit');
      }
      await worker?.shutdown();
      await h2.close();
    }
  });
});
