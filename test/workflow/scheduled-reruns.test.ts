/**
 * The daily-pipeline schedule and a date that already has a run, on the real stack (Temporal, PostgreSQL, S3,
 * dbt; Slack and Telegram over HTTP to the local receiver). The schedule is created paused and backfilled over
 * one past weekday's 10:05, which makes the server start scheduledDailyPipeline for that date, as a catch-up or
 * a second trigger would. A failed date runs again; a completed one does nothing and says so (one chart and
 * one summary however often the schedule fires); a running one is attached to instead of failing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ScheduleOverlapPolicy, WorkflowFailedError, type Client } from '@temporalio/client';
import type { PipelineSummary } from '../../src/domain/types.js';
import { startPipeline } from '../../src/run-pipeline.js';
import { desiredSchedules } from '../../src/schedules.js';
import { workflowIds, WORKFLOW_TYPES } from '../../src/temporal.js';
import type { ScheduledPipelineResult } from '../../src/workflows/daily-pipeline.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { chatIdOf, receiverSettings, startReceiver, type Receiver } from '../support/receiver.js';
import { deleteSchedules, nextRun, unusedDate } from '../support/workflow-runs.js';

const STAFF_CHAT = '-100333333';

/** A past weekday (the schedule runs Mon-Fri) whose daily-pipeline-<date> this server has never seen. */
function unusedWeekday(client: Client): Promise<string> {
  const weekday = (): string => {
    for (;;) {
      const date = uniqueDate();
      const day = new Date(`${date}T00:00:00Z`).getUTCDay();
      if (day !== 0 && day !== 6) return date;
    }
  };
  return unusedDate(client, weekday, workflowIds.dailyPipeline);
}

/** Waits for a run of `workflowId` other than `previousRunId` (the server starts it) and returns its result. */
async function resultOfNextRun(client: Client, workflowId: string, previousRunId?: string) {
  const { runId, handle } = await nextRun(client, workflowId, { previousRunId, timeoutMs: 60_000 });
  return { runId, handle, result: handle.result() as Promise<ScheduledPipelineResult> };
}

describe('scheduled runs of a date that already has a run', () => {
  let receiver: Receiver;
  let h: TestHarness;
  const prefix = `t-${randomUUID().slice(0, 8)}-`;
  let scheduleId = '';
  /** Dates whose dbt step waits until the test opens their gate (to keep a run RUNNING). */
  const gates = new Map<string, { entered: () => void; open: Promise<void> }>();

  before(async () => {
    receiver = await startReceiver();
    h = await harness(
      testConfig({
        DATABASE_URL: await freshDatabase('hs_wf_scheduled_reruns_test'),
        HEALTHSYNTH_TIMEZONE: 'UTC',
        // The test's dates are random and can be years apart; their retention cleanup is not what it tests.
        RETENTION_DAYS: '36500',
        ...receiverSettings(receiver, { botToken: '123456:RERUNS-token', staffChat: STAFF_CHAT }),
      }),
      {
        wrapActivities: (activities) => ({
          ...activities,
          async runDbt(input: Parameters<typeof activities.runDbt>[0]) {
            const gate = gates.get(input.runDate);
            if (gate) {
              gate.entered();
              await gate.open;
            }
            return activities.runDbt(input);
          },
        }),
      },
    );
    const daily = desiredSchedules(h.config, { idPrefix: prefix, scale: 100 })[0];
    assert.ok(daily, 'a daily-pipeline schedule is defined');
    scheduleId = daily.scheduleId;
    await h.client.schedule.create({ ...daily, state: { ...daily.state, paused: true } });
  });
  after(async () => {
    if (h) await deleteSchedules(h.client, [scheduleId]);
    await h?.close();
    await receiver?.close();
  });

  /** Fires the schedule for `date` 10:05 UTC; returns the id the server gives that scheduled run. */
  const fire = async (date: string): Promise<string> => {
    await h.client.schedule.getHandle(scheduleId).backfill({
      start: new Date(`${date}T10:00:00Z`),
      end: new Date(`${date}T10:10:00Z`),
      overlap: ScheduleOverlapPolicy.ALLOW_ALL,
    });
    const { action } = await h.client.schedule.getHandle(scheduleId).describe();
    return `${action.workflowId}-${date}T10:05:00Z`;
  };

  /** Requests the receiver got for `date`'s chart and summary. */
  const sent = (date: string) => {
    const mentions = (needle: string) => receiver.requests.filter((r) => r.body.toString('utf8').includes(needle));
    const summaries = mentions(`daily run ${date}`);
    const charts = mentions(`Doctor rating — ${date}`);
    return {
      slackCharts: charts.filter((r) => r.channel === 'slack').length,
      telegramCharts: charts.filter((r) => r.telegramMethod === 'sendPhoto').length,
      slackSummaries: summaries.filter((r) => r.channel === 'slack').length,
      telegramSummaries: summaries.filter((r) => r.telegramMethod === 'sendMessage').length,
    };
  };

  test('a failed date runs again; the schedule firing twice more gives one chart and one summary', async () => {
    const date = await unusedWeekday(h.client);
    const businessId = workflowIds.dailyPipeline(date);
    // A failed run of the date (scale 0 is refused at once as InvalidInput).
    await assert.rejects(
      h.client.workflow.execute(WORKFLOW_TYPES.dailyPipeline, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: businessId,
        args: [{ runDate: date, scale: 0 }],
      }),
      WorkflowFailedError,
    );

    const scheduledId = await fire(date);
    const first = await resultOfNextRun(h.client, scheduledId);
    const summary = (await first.result) as PipelineSummary;
    assert.equal(summary.runDate, date);
    assert.equal(summary.ingest.find((r) => r.entity === 'appointments')?.rowsLoaded, 100);
    const completed = await h.client.workflow.getHandle(businessId).describe();
    assert.equal(completed.status.name, 'COMPLETED');
    assert.equal(completed.parentExecution?.runId, first.runId, 'the failed date ran again as the scheduled child');

    await fire(date);
    const second = await resultOfNextRun(h.client, scheduledId, first.runId);
    assert.deepEqual(await second.result, {
      runDate: date,
      alreadyCompleted: true,
      workflowId: businessId,
      runId: completed.runId,
    });
    assert.equal((await h.client.workflow.getHandle(businessId).describe()).runId, completed.runId, 'no new run');

    assert.deepEqual(sent(date), { slackCharts: 1, telegramCharts: 1, slackSummaries: 1, telegramSummaries: 1 });
    const telegram = receiver.requests.filter((r) => r.channel === 'telegram');
    assert.ok(
      telegram.every((r) => chatIdOf(r) === STAFF_CHAT),
      'chart and summary went to the staff chat',
    );
  });

  test('a date still running is attached to: the scheduled run returns that run’s result', async () => {
    const date = await unusedWeekday(h.client);
    let entered!: () => void;
    const inDbt = new Promise<void>((resolve) => (entered = resolve));
    let open!: () => void;
    gates.set(date, { entered, open: new Promise<void>((resolve) => (open = resolve)) });
    try {
      const manual = await startPipeline(h.client, h.config, { runDate: date, scale: 100 });
      await inDbt; // the manual run is RUNNING, held at its dbt step

      const scheduledId = await fire(date);
      const scheduled = await resultOfNextRun(h.client, scheduledId);
      // Wait until the scheduled run waits on the manual one, then let the manual run finish.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { raw } = await scheduled.handle.describe();
        if (raw.pendingActivities?.some((a) => a.activityType?.name === 'awaitPipelineRun')) break;
        assert.ok(Date.now() < deadline, 'the scheduled run never started waiting for the running one');
        await new Promise((r) => setTimeout(r, 200));
      }
      open();

      const manualSummary = (await manual.result()) as PipelineSummary;
      const result = (await scheduled.result) as PipelineSummary & { attachedRunId?: string };
      const manualRunId = (await manual.describe()).runId;
      assert.equal(result.attachedRunId, manualRunId);
      assert.deepEqual({ ...result, attachedRunId: undefined }, { ...manualSummary, attachedRunId: undefined });
      assert.equal(
        (await h.client.workflow.getHandle(workflowIds.dailyPipeline(date)).describe()).runId,
        manualRunId,
        'no second run of the date was started',
      );
      assert.deepEqual(sent(date), { slackCharts: 1, telegramCharts: 1, slackSummaries: 1, telegramSummaries: 1 });
    } finally {
      open?.();
      gates.delete(date);
    }
  });
});
