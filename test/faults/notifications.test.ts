/**
 * Slack and Telegram failing the way they do in real life, on the fault suite's own stack: the receiver answers
 * the run's staff summary with Slack 500, 500 and then 200, or Telegram 429 (retry_after) and then 200. The
 * summary must arrive exactly once on each channel, after the retries Temporal schedules, and the run complete.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FaultScenario, faultDate, requestText } from '../support/faults.js';
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

describe('Slack and Telegram refusing', { concurrency: true, timeout: 600_000 }, () => {
  test('Slack answers 500, 500, then 200', async () => {
    const s = await FaultScenario.create('slack-500');
    scenarios.push(s);
    await s.startWorker();
    const runDate = faultDate();
    s.receiver.failNext('slack', 2, { status: 500 }, (r) => requestText(r).includes(`daily run ${runDate}`));
    const { summary } = await s.completion(await s.startRun(runDate));

    const attempts = summaryRequests(s, 'slack', runDate);
    assert.deepEqual(
      attempts.map((r) => r.status),
      [500, 500, 200],
    );
    const [first, , delivered] = attempts as [RecordedRequest, RecordedRequest, RecordedRequest];
    const result = summary.notifications.find((n) => n.channel === 'slack' && n.message === 'pipeline-summary');
    assert.equal(result?.status, 'delivered');
    s.finish(
      {
        order: 8,
        fault: 'Slack answers 500 twice',
        happened:
          'the summary was posted three times (500, 500, 200): deliverSlack failed retryably and Temporal retried ' +
          'it after 2 s and 4 s; the other messages went through once',
        faultAt: first.receivedAt,
        recoveredAt: delivered.receivedAt,
      },
      [await s.checkDate(runDate, { summary })],
      [{ runDate, summary }],
    );
  });

  test(`Telegram answers 429 with retry_after ${RETRY_AFTER_S}, then 200`, async () => {
    const s = await FaultScenario.create('telegram-429');
    scenarios.push(s);
    await s.startWorker();
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
