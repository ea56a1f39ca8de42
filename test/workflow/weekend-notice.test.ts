/**
 * The weekend notice goes out at most once per date. The real weekend-notice schedule is backfilled twice
 * over the same Saturday 10:05, so the server starts scheduledWeekendNotice twice with the same
 * TemporalScheduledStartTime (what a catch-up after an outage or an operator's second backfill does);
 * Telegram (the local receiver, over real HTTP) must get exactly one message, carrying the emergency number.
 *
 * The Saturday is a random past one (2011-2018; dates after today are refused) whose weekend-notice-<date> id
 * this server has never seen, so no other test or run shares it. The schedule has a unique id prefix, is paused, and is deleted in finally.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { desiredSchedules } from '../../src/schedules.js';
import { workflowIds } from '../../src/temporal.js';
import type { WeekendNoticeResult } from '../../src/workflows/weekend-notice.js';
import { harness, testConfig, uniqueSaturday, type TestHarness } from '../support/env.js';
import { chatIdOf, receiverSettings, startReceiver, type Receiver } from '../support/receiver.js';
import { deleteSchedules, nextRun, unusedDate } from '../support/workflow-runs.js';

const EMERGENCY_PHONE = '+44 20 7946 0999';

/** Waits for a run of `workflowId` other than `previousRunId` (the server starts it) and returns its result. */
async function resultOfNextRun(client: Client, workflowId: string, previousRunId?: string) {
  const { runId, handle } = await nextRun(client, workflowId, { previousRunId, timeoutMs: 30_000 });
  return { runId, result: (await handle.result()) as WeekendNoticeResult };
}

describe('weekend notice: once per date', () => {
  let receiver: Receiver;
  let h: TestHarness;
  const prefix = `t-${randomUUID().slice(0, 8)}-`;
  let scheduleId = '';

  before(async () => {
    receiver = await startReceiver();
    h = await harness(
      testConfig({
        ...receiverSettings(receiver, {
          botToken: '123456:WEEKEND-token',
          staffChat: '-100100100',
          patientChat: '-100200300',
        }),
        EMERGENCY_PHONE,
        HEALTHSYNTH_TIMEZONE: 'UTC',
      }),
    );
  });
  after(async () => {
    if (h) await deleteSchedules(h.client, [scheduleId]);
    await h?.close();
    await receiver?.close();
  });

  test('the schedule run twice for the same Saturday: one Telegram message, the second run says alreadySent', async () => {
    const saturday = await unusedDate(h.client, uniqueSaturday, workflowIds.weekendNotice);
    const weekend = desiredSchedules(h.config, { idPrefix: prefix })[1];
    assert.ok(weekend, 'a weekend-notice schedule is defined');
    scheduleId = weekend.scheduleId;
    const schedule = await h.client.schedule.create({ ...weekend, state: { ...weekend.state, paused: true } });
    const backfill = () =>
      schedule.backfill({
        start: new Date(`${saturday}T10:00:00Z`),
        end: new Date(`${saturday}T10:10:00Z`),
        overlap: ScheduleOverlapPolicy.ALLOW_ALL,
      });
    // The server names a scheduled run after the action's workflow id and the scheduled time.
    const scheduledId = `${weekend.action.workflowId}-${saturday}T10:05:00Z`;

    await backfill();
    const first = await resultOfNextRun(h.client, scheduledId);
    assert.equal(first.result.date, saturday);
    assert.equal(first.result.alreadySent, undefined);
    assert.deepEqual(
      first.result.notifications.map((n) => [n.channel, n.audience, n.status]),
      [['telegram', 'patients', 'delivered']],
    );

    await backfill();
    const second = await resultOfNextRun(h.client, scheduledId, first.runId);
    assert.deepEqual(second.result, { date: saturday, notifications: [], alreadySent: true });

    const telegram = receiver.requests.filter((r) => r.channel === 'telegram');
    assert.equal(telegram.length, 1, 'exactly one Telegram request');
    assert.equal(telegram[0]?.telegramMethod, 'sendMessage');
    const text = (telegram[0]?.json as { text: string; chat_id: unknown }).text;
    assert.ok(text.includes(EMERGENCY_PHONE), `the notice carries the emergency number: ${text}`);
    assert.ok(text.includes(saturday), text);
    assert.equal(chatIdOf(telegram[0]!), '-100200300', "the patients' chat");
    assert.equal(
      receiver.requests.filter((r) => r.channel === 'slack').length,
      0,
      'patient messages never go to Slack',
    );

    // One business run for the date, and it is the first scheduled run's child.
    const notice = await h.client.workflow.getHandle(workflowIds.weekendNotice(saturday)).describe();
    assert.equal(notice.status.name, 'COMPLETED');
    assert.equal(notice.parentExecution?.runId, first.runId);
  });
});
