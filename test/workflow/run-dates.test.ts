/**
 * Run dates on the real Temporal dev server with the real worker: every workflow that takes a date refuses one
 * after today (in HEALTHSYNTH_TIMEZONE, from workflow time) or before 2000-01-01 (the generator's first day) at
 * once, as a non-retryable InvalidInput naming the field and the allowed range; the weekend notice also refuses
 * a weekday. Inputs are plain JSON, as `temporal workflow start --input` sends them.
 *
 * The worker runs in a timezone whose date differs from UTC's right now, so a check that used UTC (or the
 * machine's zone) would be caught. Its own database and bucket: the accepted retentionCleanup really runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { addDays, localDate } from '../../src/domain/dates.js';
import type { CleanupResult } from '../../src/domain/types.js';
import { deleteBucket, freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';
import { invalidInputFailure } from '../support/workflow-runs.js';

/** A timezone whose date differs from UTC's now and for the next 15 minutes (one of these always does). */
function timezoneAwayFromUtc(now = new Date()): string {
  const later = new Date(now.getTime() + 15 * 60_000);
  for (const tz of ['Etc/GMT+12', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Pacific/Auckland']) {
    if (localDate(now, tz) !== localDate(now, 'UTC') && localDate(later, tz) !== localDate(later, 'UTC')) return tz;
  }
  return 'Pacific/Kiritimati';
}

describe('run dates are checked inside every workflow', () => {
  const timezone = timezoneAwayFromUtc();
  const bucket = `hs-run-dates-${uniq()}`;
  let h: TestHarness;

  before(async () => {
    h = await harness(
      testConfig({
        HEALTHSYNTH_TIMEZONE: timezone,
        DATABASE_URL: await freshDatabase('hs_wf_run_dates_test'),
        S3_BUCKET: bucket,
        SLACK_WEBHOOK_URL: '',
        TELEGRAM_BOT_TOKEN: '',
        TELEGRAM_CHAT_ID: '',
      }),
    );
  });
  after(async () => {
    if (h) await deleteBucket(h.store);
    await h?.close();
  });

  /** Plain-JSON inputs of each workflow for `date`, with the field that carries it. */
  const inputs = (date: string) =>
    [
      ['dailyPipeline', 'runDate', { runDate: date, scale: 100 }],
      ['ingestEntity', 'runDate', { entity: 'clinics', runDate: date, scale: 100, seed: 1, shardRows: 250_000 }],
      ['retentionCleanup', 'runDate', { runDate: date, retentionDays: 365 }],
      ['doctorRatingReport', 'runDate', { runDate: date }],
      ['weekendNotice', 'date', { date }],
    ] as const;

  const start = (type: string, input: object): Promise<WorkflowHandle> =>
    h.client.workflow.start(type, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `run-dates-${type}-${uniq()}`,
      args: [input],
    });

  /** The InvalidInput failure `handle`'s run must end with, after no work but reading the settings. */
  async function refused(handle: WorkflowHandle): Promise<ApplicationFailure> {
    const { failure, events } = await invalidInputFailure(handle);
    const activities = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    assert.ok(
      activities.every((a) => a === 'pipelineSettings'),
      `only the settings were read: ${activities.join(', ')}`,
    );
    assert.equal(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length, 0);
    return failure;
  }

  test('a date after today is refused by each workflow, naming the field, the range and today', async () => {
    const today = localDate(new Date(), timezone);
    // The Saturday after next (20 - weekday days ahead): after today in every timezone, and a weekend day, so
    // the weekend notice too is refused for the future alone.
    const future = addDays(today, 20 - new Date(`${today}T00:00:00Z`).getUTCDay());
    const failures = await Promise.all(
      inputs(future).map(
        async ([type, field, input]) => [type, field, await refused(await start(type, input))] as const,
      ),
    );
    for (const [type, field, failure] of failures) {
      assert.match(failure.message, new RegExp(`^${type}: invalid input: ${field}: must be from 2000-01-01 to today`));
      assert.match(failure.message, /it is after today/);
      assert.ok(!failure.message.includes(future), `${type}'s message does not repeat the input: ${failure.message}`);
    }
  });

  test('a date before 2000-01-01 is refused by each workflow', async () => {
    const failures = await Promise.all(
      inputs('1999-12-25').map(
        async ([type, field, input]) => [type, field, await refused(await start(type, input))] as const,
      ),
    );
    for (const [type, field, failure] of failures) {
      assert.match(failure.message, new RegExp(`${field}: must be from 2000-01-01 to today`), type);
      assert.match(failure.message, /it is before 2000-01-01, the first day the generator makes/, type);
    }
  });

  test(`"today" is today in HEALTHSYNTH_TIMEZONE (${timezone}): its today runs, its tomorrow is refused`, async () => {
    const today = localDate(new Date(), timezone);
    const accepted = (await start('retentionCleanup', { runDate: today, retentionDays: 30 })).result();
    const summary = (await accepted) as CleanupResult;
    assert.equal(summary.cutoff, addDays(today, -30));
    assert.deepEqual(
      summary.tables.map((t) => [t.table, t.status]),
      [
        ['rating_requests', 'nothing-to-clean'],
        ['reminder_events', 'nothing-to-clean'],
        ['feedback', 'nothing-to-clean'],
        ['records', 'nothing-to-clean'],
        ['appointments', 'nothing-to-clean'],
        ['patients', 'nothing-to-clean'],
        ['schedule', 'nothing-to-clean'],
      ],
    );

    const failure = await refused(await start('retentionCleanup', { runDate: addDays(today, 1), retentionDays: 30 }));
    assert.match(
      failure.message,
      new RegExp(`today \\(${today}, HEALTHSYNTH_TIMEZONE ${timezone.replace('+', '\\+')}\\)`),
    );
  });

  test('weekendNotice refuses a weekday before reading anything, and says why', async () => {
    // 2013-06-12 was a Wednesday.
    const handle = await start('weekendNotice', { date: '2013-06-12' });
    const failure = await refused(handle);
    assert.equal(
      failure.message,
      'weekendNotice: invalid input: date: must be a Saturday or Sunday ' +
        '(the notice tells patients the clinics are closed this weekend); it is a Wednesday',
    );
    const events = (await handle.fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0);
  });
});
