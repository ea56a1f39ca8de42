/**
 * The real dailyPipeline when a step fails, on the real stack (Temporal, PostgreSQL, S3, dbt) with Slack and
 * Telegram over real HTTP to the local receiver. Faults are injected by replacing ONE activity through the
 * worker's `wrapActivities` (or, for bad data, by corrupting one generated object); every other activity, the
 * workflows and all services are real. Alerts go to staff only and carry failure types and ids, never the
 * error text, which can quote data values.
 *
 * The run dates are three consecutive days, so no run's retention cleanup (365 days) touches another's batch,
 * and the file has its own database, so row counts see only its own runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { addDays } from '../../src/domain/dates.js';
import { ENTITY_NAMES } from '../../src/domain/entities.js';
import type {
  CleanupResult,
  NotificationResult,
  PipelineProgress,
  PipelineSummary,
  ReportResult,
  StepState,
} from '../../src/domain/types.js';
import type { createActivities } from '../../src/activities/index.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { startPipeline } from '../../src/run-pipeline.js';
import { workflowIds } from '../../src/temporal.js';
import { webUiLink } from '../../src/workflow-ids.js';
import { freshDatabase, harness, testConfig, uniqueDate, type TestHarness } from '../support/env.js';
import { chatIdOf, startReceiver, type Receiver } from '../support/receiver.js';

type Activities = ReturnType<typeof createActivities>;

const SCALE = 200;
const base = uniqueDate();
const STAFF_CHAT = '-100200300';
const PATIENT_CHAT = '-100900900';

/** A worker whose activities are real, except `faulty` (if given), replaced by one that fails for good. */
async function pipelineHarness(
  databaseUrl: string,
  receiver: Receiver,
  faulty?: { activity: keyof Activities; message: string },
  wrapActivities?: NonNullable<Parameters<typeof harness>[1]>['wrapActivities'],
): Promise<TestHarness> {
  return harness(
    testConfig({
      DATABASE_URL: databaseUrl,
      SLACK_WEBHOOK_URL: receiver.slackUrl,
      TELEGRAM_BOT_TOKEN: '123456:FAILURES-token',
      TELEGRAM_STAFF_CHAT_ID: STAFF_CHAT,
      TELEGRAM_PATIENT_CHAT_ID: PATIENT_CHAT,
      TELEGRAM_API_ROOT: receiver.telegramApiRoot,
      RETENTION_DAYS: '365',
    }),
    wrapActivities
      ? { wrapActivities }
      : faulty
        ? {
            wrapActivities: (activities) => ({
              ...activities,
              // Fault injection: this one activity throws a non-retryable failure; the rest is real.
              [faulty.activity]: async () => {
                throw ApplicationFailure.nonRetryable(faulty.message, 'InjectedFault');
              },
            }),
          }
        : {},
  );
}

/** The run's failure, asserting it failed. */
async function expectFailure(handle: WorkflowHandle): Promise<ApplicationFailure> {
  try {
    await handle.result();
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
    assert.ok(
      err.cause instanceof ApplicationFailure,
      `expected an ApplicationFailure cause, got ${String(err.cause)}`,
    );
    return err.cause;
  }
  assert.fail(`${handle.workflowId} completed, but it should have failed`);
}

/** Starts the pipeline for `runDate` and waits for it to fail: its handle, failure and run id. */
async function failedRun(h: TestHarness, runDate: string) {
  const handle = await startPipeline(h.client, h.config, { runDate, scale: SCALE });
  const failure = await expectFailure(handle);
  return { handle, failure, runId: (await handle.describe()).runId };
}

const stepStates = (p: PipelineProgress): Record<string, StepState> =>
  Object.fromEntries(p.steps.map((s) => [s.name, s.state]));

async function exists(h: TestHarness, workflowId: string): Promise<boolean> {
  try {
    await h.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Texts the receiver got: Slack payloads and Telegram sendMessage texts that mention `needle`. */
function messagesMentioning(receiver: Receiver, needle: string) {
  const slack = receiver.requests
    .filter((r) => r.channel === 'slack' && JSON.stringify(r.json).includes(needle))
    .map((r) => (r.json as { text: string }).text);
  const telegramRequests = receiver.requests.filter(
    (r) => r.telegramMethod === 'sendMessage' && JSON.stringify(r.json).includes(needle),
  );
  // Alerts are for staff: every one of them went to the staff chat, none to the patients'.
  for (const r of telegramRequests) assert.equal(chatIdOf(r), STAFF_CHAT, `alert sent to chat ${chatIdOf(r)}`);
  const telegram = telegramRequests.map((r) => (r.json as { text: string }).text);
  return { slack, telegram };
}

describe('dailyPipeline failures (real workflows, one injected fault each)', () => {
  let databaseUrl: string;
  let receiver: Receiver;
  before(async () => {
    databaseUrl = await freshDatabase('hs_wf_failures_test');
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver?.close();
  });

  test('the report fails: cleanup still completes, the run alerts Slack and Telegram and fails, data stays', async () => {
    const runDate = base;
    const h = await pipelineHarness(databaseUrl, receiver, {
      activity: 'buildDoctorRatingReport',
      message: 'chart renderer crashed (injected)',
    });
    try {
      const { handle, failure, runId } = await failedRun(h, runDate);

      assert.equal(failure.type, 'PipelineStepFailed');
      assert.match(failure.message, /failed: report: .*chart renderer crashed \(injected\)/);
      // The summary rides in the failure's details: the cleanup's result is there, the report's error too.
      const summary = failure.details?.[0] as PipelineSummary;
      const cleanup = summary.cleanup as CleanupResult;
      assert.deepEqual(
        cleanup.tables.map((t) => t.table),
        ['rating_requests', 'reminder_events', 'feedback', 'records', 'appointments', 'patients', 'schedule'],
      );
      assert.match((summary.report as { error: string }).error, /InjectedFault: chart renderer crashed/);
      const cleanupChild = await h.client.workflow.getHandle(workflowIds.cleanup(runDate)).describe();
      assert.equal(cleanupChild.status.name, 'COMPLETED');

      // One alert on each staff channel names the run, the step, the error TYPE and the Web UI link of this run;
      // the error's text stays in Temporal.
      const runName = workflowIds.dailyPipeline(runDate);
      const link = webUiLink(h.config.temporal, runName, runId);
      const alerts = messagesMentioning(receiver, `${runName} failed`);
      assert.equal(alerts.slack.length, 1, `Slack alerts: ${JSON.stringify(alerts.slack)}`);
      assert.equal(alerts.telegram.length, 1, `Telegram alerts: ${JSON.stringify(alerts.telegram)}`);
      for (const text of [...alerts.slack, ...alerts.telegram]) {
        assert.match(text, /failed at step \*?report\*?\n/);
        assert.match(text, /report: InjectedFault in doctor-rating-report-\d{4}-\d\d-\d\d › buildDoctorRatingReport/);
        assert.ok(text.includes(runId), `${text} should carry the run id ${runId}`);
        assert.ok(!text.includes('chart renderer crashed'), `the error text must stay out of alerts: ${text}`);
        assert.ok(text.includes(link), `${text} should carry ${link}`);
      }

      // The loaded batch stays: a failed report never undoes the load.
      assert.equal(summary.ingest.length, ENTITY_NAMES.length);
      for (const r of summary.ingest) {
        assert.ok(r.rowsLoaded > 0, r.entity);
        assert.equal(await h.warehouse.countBatch(r.entity, runDate), r.rowsLoaded, `${r.entity} still loaded`);
      }

      const progress = await handle.query<PipelineProgress>('progress');
      assert.deepEqual(stepStates(progress), {
        ingest: 'completed',
        dbt: 'completed',
        report: 'failed',
        cleanup: 'completed',
        predict: 'completed',
        remind: 'completed',
        ratings: 'completed',
        summary: 'pending',
      });
    } finally {
      await h.close();
    }
  });

  test('dbt fails: the alert names step dbt, and neither report nor cleanup ran', async () => {
    const runDate = addDays(base, 1);
    const h = await pipelineHarness(databaseUrl, receiver, {
      activity: 'runDbt',
      message: 'dbt build exited with code 2 (injected)',
    });
    try {
      const { handle, failure, runId } = await failedRun(h, runDate);
      assert.equal(failure.type, 'PipelineStepFailed');
      assert.match(failure.message, /failed at step dbt: InjectedFault: dbt build exited with code 2 \(injected\)/);

      const runName = workflowIds.dailyPipeline(runDate);
      const alerts = messagesMentioning(receiver, `${runName} failed`);
      assert.equal(alerts.slack.length, 1);
      assert.equal(alerts.telegram.length, 1);
      for (const text of [...alerts.slack, ...alerts.telegram]) {
        assert.match(text, /failed at step \*?dbt\*?\n• dbt: InjectedFault in runDbt\n/);
        assert.ok(!text.includes('exited with code 2'), `the error text must stay out of alerts: ${text}`);
        assert.ok(text.includes(webUiLink(h.config.temporal, runName, runId)), text);
      }

      assert.equal(await exists(h, workflowIds.report(runDate)), false, 'report never started');
      assert.equal(await exists(h, workflowIds.cleanup(runDate)), false, 'cleanup never started');
      const progress = await handle.query<PipelineProgress>('progress');
      assert.deepEqual(stepStates(progress), {
        ingest: 'completed',
        dbt: 'failed',
        report: 'pending',
        cleanup: 'pending',
        predict: 'pending',
        remind: 'pending',
        ratings: 'pending',
        summary: 'pending',
      });
      for (const entity of ENTITY_NAMES) assert.ok((await h.warehouse.countBatch(entity, runDate)) > 0, entity);
    } finally {
      await h.close();
    }
  });

  test('Slack answers 403 invalid_token: the run still completes, says so, and keeps the loaded data', async () => {
    const runDate = addDays(base, 2);
    // Its own receiver: every Slack post of this run is refused, as with a revoked webhook.
    const revoked = await startReceiver();
    revoked.failNext('slack', 20, { status: 403, error: 'invalid_token' });
    const h = await pipelineHarness(databaseUrl, revoked);
    try {
      const handle = await startPipeline(h.client, h.config, { runDate, scale: SCALE });
      const summary = (await handle.result()) as PipelineSummary;

      const slackResult = (list: NotificationResult[]) => list.find((n) => n.channel === 'slack');
      assert.equal(slackResult(summary.notifications)?.status, 'failed');
      assert.equal(slackResult(summary.notifications)?.httpStatus, 403);
      assert.match(
        slackResult(summary.notifications)?.detail ?? '',
        /HTTP 403 invalid_token \(DeliveryRejected, not retried\)/,
      );
      const report = summary.report as ReportResult;
      assert.equal(slackResult(report.notifications)?.status, 'failed');
      assert.equal(report.notifications.find((n) => n.channel === 'telegram')?.status, 'delivered');
      // The summary (delivered to the staff Telegram chat) says which channel failed for the chart, and why.
      const summaryText = revoked.requests
        .filter((r) => r.telegramMethod === 'sendMessage' && chatIdOf(r) === STAFF_CHAT)
        .map((r) => (r.json as { text: string }).text)
        .find((t) => t.includes(`daily run ${runDate}`));
      assert.match(summaryText ?? '', /Not delivered: slack doctor-rating: failed \(slack doctor-rating: HTTP 403/);
      // 403 is permanent: the summary, the report and the cleanup note were each tried once, never retried.
      const slackPosts = revoked.requests.filter((r) => r.channel === 'slack');
      assert.equal(slackPosts.length, 3, `Slack posts: ${slackPosts.length}`);
      assert.ok(slackPosts.every((r) => r.status === 403));

      for (const r of summary.ingest) {
        assert.equal(await h.warehouse.countBatch(r.entity, runDate), r.rowsLoaded, `${r.entity} still loaded`);
      }
      const progress = await handle.query<PipelineProgress>('progress');
      assert.ok(
        progress.steps.every((s) => s.state === 'completed'),
        JSON.stringify(progress.steps),
      );
    } finally {
      await h.close();
      await revoked.close();
    }
  });

  test('a load fails on a CSV cell holding a patient name: the alert carries the type and ids, not the name', async () => {
    const runDate = addDays(base, 4);
    const NAME = 'Zulmira Quintanilha-Bettencourt';
    const store = ObjectStore.fromConfig(testConfig().s3);
    // Its own database: the other entities of the day load, and a half-loaded day would fail later dbt builds.
    const ownDatabase = await freshDatabase('hs_wf_alert_values_test');
    const h = await pipelineHarness(ownDatabase, receiver, undefined, (activities) => ({
      ...activities,
      // The real shard, then its first patient row replaced by one whose birth_date holds a name: the kind of
      // cell a bad export produces. PostgreSQL's COPY error quotes it.
      async generateShard(input: Parameters<Activities['generateShard']>[0]) {
        const object = await activities.generateShard(input);
        if (input.entity !== 'patients' || input.shard !== 0) return object;
        const [header, first, ...rest] = (await store.getText(object.key)).split('\n');
        const patientId = first?.split(',')[0];
        const bad = [patientId, NAME, 'F', NAME, 'Centro', '0', '0', '0', '0', '0', runDate].join(',');
        const stored = await store.put(object.key, [header, bad, ...rest].join('\n'), 'text/csv');
        return { ...object, etag: stored.etag, bytes: stored.size };
      },
    }));
    try {
      const { failure, runId } = await failedRun(h, runDate);
      // The value is in the run's own failure (operators see it in Temporal) ...
      assert.match(failure.message, /failed at step ingest: CsvLoadError: .*Zulmira Quintanilha-Bettencourt/);

      // ... and nowhere in what staff receive: step, type, ids and link only.
      const runName = workflowIds.dailyPipeline(runDate);
      const alerts = messagesMentioning(receiver, `${runName} failed`);
      assert.equal(alerts.slack.length, 1, JSON.stringify(alerts.slack));
      assert.equal(alerts.telegram.length, 1, JSON.stringify(alerts.telegram));
      for (const text of [...alerts.slack, ...alerts.telegram]) {
        assert.ok(!text.includes('Zulmira') && !text.includes('Quintanilha'), `a data value leaked: ${text}`);
        assert.match(text, /failed at step \*?ingest\*?\n• ingest: CsvLoadError in /);
        assert.ok(text.includes(`ingest-patients-${runDate}`), text);
        assert.ok(text.includes(runId), text);
        assert.ok(text.includes(webUiLink(h.config.temporal, runName, runId)), text);
      }
      const everything = receiver.requests.map((r) => r.body.toString('utf8')).join('\n');
      assert.ok(!everything.includes('Quintanilha'), 'no request to Slack or Telegram carried the value');
    } finally {
      store.client.destroy();
      await h.close();
    }
  });

  test('the progress query shows step states while the run goes and after it ends', async () => {
    const runDate = addDays(base, 3);
    const h = await pipelineHarness(databaseUrl, receiver);
    try {
      const handle = await startPipeline(h.client, h.config, { runDate, scale: SCALE });
      let done = false;
      const result = handle.result().finally(() => (done = true));
      const seen: PipelineProgress[] = [];
      while (!done) {
        const p = await handle.query<PipelineProgress>('progress').catch(() => undefined);
        if (p) seen.push(p);
        await new Promise((r) => setTimeout(r, 100));
      }
      await result;

      // While running: some snapshot had a step running and the later ones still pending.
      const order = ['ingest', 'dbt', 'report', 'cleanup', 'predict', 'remind', 'ratings', 'summary'];
      const midRun = seen.find((p) => p.steps.some((s) => s.state === 'running'));
      assert.ok(midRun, `no snapshot with a running step among ${seen.length}`);
      const running = midRun.steps.findIndex((s) => s.state === 'running');
      assert.ok(
        midRun.steps.slice(0, running).every((s) => s.state === 'completed'),
        JSON.stringify(midRun.steps),
      );
      assert.equal(midRun.steps.at(-1)?.state, 'pending');
      // Every step only moves forward: pending → running → completed.
      const rank: Record<StepState, number> = { pending: 0, running: 1, completed: 2, failed: 2, skipped: 2 };
      for (const name of order) {
        const states = seen.map((p) => p.steps.find((s) => s.name === name)?.state ?? 'pending');
        for (let i = 1; i < states.length; i++) {
          assert.ok(rank[states[i] as StepState] >= rank[states[i - 1] as StepState], `${name}: ${states.join(' → ')}`);
        }
      }

      // After: every step completed with timestamps and a detail, and every entity reported its rows.
      const final = await handle.query<PipelineProgress>('progress');
      assert.equal(final.runDate, runDate);
      assert.deepEqual(
        final.steps.map((s) => [s.name, s.state]),
        order.map((n) => [n, 'completed']),
      );
      assert.ok(final.steps.every((s) => s.startedAt && s.endedAt && s.startedAt <= s.endedAt));
      assert.match(final.steps[0]?.detail ?? '', /^\d+ rows loaded$/);
      assert.deepEqual(Object.keys(final.entities).sort(), [...ENTITY_NAMES].sort());
      for (const [entity, e] of Object.entries(final.entities)) {
        assert.equal(e?.state, 'completed', entity);
        assert.equal(e?.loaded, e?.generated, entity);
      }
    } finally {
      await h.close();
    }
  });

  test('the model beats the true probabilities (a leak): the step fails non-retryably and staff are alerted', async () => {
    const runDate = addDays(base, 5);
    const store = ObjectStore.fromConfig(testConfig().s3);
    // The day's evaluation is real code fed a planted one: predictions with an AUC of 1 and true probabilities that
    // know nothing (truth/ as the synthetic source writes it). recordModelPerformance, real, must call it a leak.
    const predictionsKey = `features/no-show/dt=${runDate}/evaluate-planted/`;
    const ids = Array.from({ length: 40 }, (_, i) => `leak-${i}`);
    await store.put(
      `${predictionsKey}part-00000.csv`,
      `appointment_id,probability,model_version,is_no_show\n${ids.map((id, i) => `${id},${i < 10 ? 0.9 : 0.1},v,${i < 10 ? 't' : 'f'}`).join('\n')}\n`,
      'text/csv',
    );
    // A part number the day's own generation never writes (it writes the day's real truth beside it).
    await store.put(
      `truth/appointments/dt=${runDate}/part-99999.csv`,
      `appointment_id,no_show_probability\n${ids.map((id) => `${id},0.2`).join('\n')}\n`,
      'text/csv',
    );
    const h = await pipelineHarness(databaseUrl, receiver, undefined, (activities) => ({
      ...activities,
      async evaluateNoShows() {
        const by_decile: [] = [];
        return {
          evaluatedOn: runDate,
          predictionsKey,
          metrics: {
            n: 40,
            no_show_rate: 0.25,
            roc_auc: 1,
            pr_auc: 1,
            brier: 0.01,
            calibration_error: 0.1,
            top_decile_lift: 4,
            by_decile,
            model_version: 'v',
          },
        };
      },
    }));
    try {
      const { handle, failure, runId } = await failedRun(h, runDate);
      assert.equal(failure.type, 'PipelineStepFailed');
      assert.match(
        failure.message,
        /failed: predict: ModelLeakSuspected: .*AUC 1\.0000 is above the Bayes AUC 0\.5000/,
      );
      const runName = workflowIds.dailyPipeline(runDate);
      const alerts = messagesMentioning(receiver, `${runName} failed`);
      assert.equal(alerts.slack.length, 1);
      assert.equal(alerts.telegram.length, 1);
      for (const text of [...alerts.slack, ...alerts.telegram]) {
        assert.match(text, /failed at step \*?predict\*?\n/);
        assert.match(text, /predict: ModelLeakSuspected in predict-no-shows-\d{4}-\d\d-\d\d › recordModelPerformance/);
        assert.ok(text.includes(webUiLink(h.config.temporal, runName, runId)), text);
      }
      const progress = await handle.query<PipelineProgress>('progress');
      assert.equal(stepStates(progress).predict, 'failed');
      const recorded = await h.warehouse.query<{ auc: number; bayes: number }>(
        'select roc_auc as auc, bayes_auc as bayes from marts.model_performance where evaluated_on = $1',
        [runDate],
      );
      assert.deepEqual(recorded, [{ auc: 1, bayes: 0.5 }], 'the day is recorded before the step fails');
    } finally {
      await store.deletePrefix(`truth/appointments/dt=${runDate}/`);
      await h.close();
    }
  });
});
