/**
 * The real schedules, triggered by hand on the real Temporal dev server, run the real workflows: the
 * daily pipeline (scale 100 through the schedule's action args) and the weekend notice (which refuses a
 * weekday: triggered by hand on one, its run fails with InvalidInput and sends nothing). The run date must
 * be the trigger time's date in the schedule's timezone; the timezone is chosen so that date differs from
 * the UTC date right now, so a run that used UTC (or the worker's clock zone) would be caught.
 *
 * Schedules carry a unique id prefix, are created paused (a trigger still runs; nothing fires on its own
 * should the test straddle 10:05) and are deleted in finally. The pipeline runs in its own database.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { WorkflowFailedError, type Client, type ScheduleExecutionResult } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { dayOfWeek, localDate } from '../../src/domain/dates.js';
import { applySchedules, SCHEDULE_IDS } from '../../src/schedules.js';
import { workflowIds } from '../../src/temporal.js';
import type { ScheduledPipelineResult } from '../../src/workflows/daily-pipeline.js';
import type { WeekendNoticeResult } from '../../src/workflows/weekend-notice.js';
import { freshDatabase, harness, testConfig, type TestHarness } from '../support/env.js';
import { chatIdOf, receiverSettings, startReceiver, type Receiver } from '../support/receiver.js';
import { deleteSchedules } from '../support/workflow-runs.js';
import { temporalCli } from '../support/temporal-cli.js';

/**
 * A timezone whose date differs from UTC's now and stays so for the next 15 minutes (UTC-12 before noon
 * UTC, UTC+14 from 10:00 UTC on: one of them always qualifies).
 */
function timezoneAwayFromUtc(now = new Date()): string {
  const later = new Date(now.getTime() + 15 * 60_000);
  for (const tz of ['Etc/GMT+12', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Pacific/Auckland']) {
    if (localDate(now, tz) !== localDate(now, 'UTC') && localDate(later, tz) !== localDate(later, 'UTC')) return tz;
  }
  return 'Pacific/Kiritimati';
}

/** Waits until the schedule has taken an action, and returns the newest one. */
async function awaitAction(client: Client, scheduleId: string, after = 0): Promise<ScheduleExecutionResult> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { info } = await client.schedule.getHandle(scheduleId).describe();
    const action = info.recentActions.at(-1);
    if (action && info.recentActions.length > after) return action;
    if (Date.now() > deadline) throw new Error(`schedule ${scheduleId} took no action within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('schedules trigger the real workflows for the schedule-local date', () => {
  const prefix = `t-${randomUUID().slice(0, 8)}-`;
  const dailyId = `${prefix}${SCHEDULE_IDS.dailyPipeline}`;
  const weekendId = `${prefix}${SCHEDULE_IDS.weekendNotice}`;
  const refreshId = `${prefix}${SCHEDULE_IDS.dbtFullRefresh}`;
  const timezone = timezoneAwayFromUtc();
  let receiver: Receiver;
  let h: TestHarness;

  before(async () => {
    receiver = await startReceiver();
    h = await harness(
      testConfig({
        HEALTHSYNTH_TIMEZONE: timezone,
        DATABASE_URL: await freshDatabase('hs_wf_scheduled_test'),
        ...receiverSettings(receiver, {
          botToken: '123456:SCHEDULED-token',
          staffChat: '-100100100',
          patientChat: '-100200300',
        }),
        EMERGENCY_PHONE: '+1 555 0100',
      }),
    );
    const { applied } = await applySchedules(h.client, h.config, { idPrefix: prefix, scale: 100 });
    assert.deepEqual(applied.sort(), [dailyId, refreshId, weekendId].sort());
    for (const id of applied) await h.client.schedule.getHandle(id).pause('paused by test: triggered by hand only');
  });
  after(async () => {
    if (h) await deleteSchedules(h.client, [dailyId, weekendId, refreshId]);
    await h?.close();
    await receiver?.close();
  });

  test(`daily-pipeline schedule (timezone ${timezone}), triggered: runs daily-pipeline-<local date> at scale 100`, async () => {
    const described = await h.client.schedule.getHandle(dailyId).describe();
    assert.equal(described.spec.timezone, timezone);
    assert.deepEqual(described.action.args, [{ timezone, scale: 100 }]);

    await h.client.schedule.getHandle(dailyId).trigger();
    const action = await awaitAction(h.client, dailyId);
    const expectedDate = localDate(action.scheduledAt, timezone);
    assert.notEqual(expectedDate, localDate(action.scheduledAt, 'UTC'), `${timezone} should be on another date`);

    const scheduled = h.client.workflow.getHandle(action.action.workflow.workflowId);
    const result = (await scheduled.result()) as ScheduledPipelineResult;
    assert.equal(result.runDate, expectedDate);
    if ('alreadyCompleted' in result) {
      // daily-pipeline-<date> is once per date on this server: an earlier test run today already completed it,
      // so the scheduled run did nothing (scheduled-reruns.test.ts runs that path on a fresh date).
      const existing = await h.client.workflow.getHandle(workflowIds.dailyPipeline(expectedDate)).describe();
      assert.equal(existing.status.name, 'COMPLETED');
      assert.equal(result.runId, existing.runId);
      return;
    }
    const summary = result;
    assert.equal(summary.scale, 100);
    assert.equal(summary.ingest.find((r) => r.entity === 'appointments')?.rowsLoaded, 100);

    // The business run exists under its own id, as the scheduled run's child, and completed.
    const child = await h.client.workflow.getHandle(workflowIds.dailyPipeline(expectedDate)).describe();
    assert.equal(child.status.name, 'COMPLETED');
    assert.equal(child.parentExecution?.workflowId, action.action.workflow.workflowId);
    assert.equal(await h.warehouse.countBatch('appointments', expectedDate), 100);
  });

  test(`weekend-notice schedule, triggered with the temporal CLI: notice for the local date`, async () => {
    await execa(temporalCli, [
      'schedule',
      'trigger',
      '--schedule-id',
      weekendId,
      '--address',
      h.config.temporal.address,
    ]);
    const action = await awaitAction(h.client, weekendId);
    const expectedDate = localDate(action.scheduledAt, timezone);
    const scheduledRun = h.client.workflow.getHandle(action.action.workflow.workflowId);

    if (!['Saturday', 'Sunday'].includes(dayOfWeek(expectedDate))) {
      // Triggered by hand on a weekday: the notice (clinics closed this weekend) would be false, so its run
      // fails at once with InvalidInput naming the weekday, and nothing is sent.
      const err = await scheduledRun.result().then(
        () => assert.fail(`a weekend notice for ${expectedDate} (${dayOfWeek(expectedDate)}) was accepted`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const cause = err.cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, 'InvalidInput');
      assert.match(cause.message, new RegExp(`must be a Saturday or Sunday .*; it is a ${dayOfWeek(expectedDate)}`));
      const toPatients = receiver.requests.filter(
        (r) => r.telegramMethod === 'sendMessage' && chatIdOf(r) === '-100200300',
      );
      assert.equal(toPatients.length, 0, 'nothing was sent to the patients');
      return;
    }
    const result = (await scheduledRun.result()) as WeekendNoticeResult;
    assert.equal(result.date, expectedDate);
    const notice = await h.client.workflow.getHandle(workflowIds.weekendNotice(expectedDate)).describe();
    assert.equal(notice.status.name, 'COMPLETED');
    if (result.alreadySent) {
      // weekend-notice-<date> is once per date on this server: an earlier run today already sent it.
      assert.deepEqual(result.notifications, []);
    } else {
      assert.equal(notice.parentExecution?.workflowId, action.action.workflow.workflowId);
      // The patients' chat: the daily run before it sent its staff messages to the staff chat.
      const sent = receiver.requests.filter((r) => r.telegramMethod === 'sendMessage' && chatIdOf(r) === '-100200300');
      assert.equal(sent.length, 1);
      const text = (sent[0]?.json as { text: string }).text;
      assert.ok(text.includes('+1 555 0100') && text.includes(expectedDate), text);
    }
  });
});
