/**
 * dailyPipeline: the whole day for one run date.
 *
 *   ingest (one child per entity, Promise.all) → dbt build → report ‖ cleanup → summary
 *
 * Any failing step sends staff an alert (Slack + the staff Telegram chat) naming the run, the step, the
 * error's type and the Web UI link (never the error text, which can quote data), then fails the run. The
 * report and the cleanup run side by side and one failing does not cancel the other; both outcomes are in
 * the summary. The summary and the alerts are sent at most once (see ./deliver.ts).
 */
import {
  ApplicationFailure,
  executeChild,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
  ParentClosePolicy,
} from '@temporalio/workflow';
import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
} from '@temporalio/common';
import type { ActivityTypes } from '../activities/index.js';
import { ENTITY_NAMES, OUTCOME_ENTITIES, type EntityName } from '../domain/entities.js';
import { localDate } from '../domain/dates.js';
import {
  pipelineAlertMessage,
  pipelineSummaryMessage,
  staffSummaryText,
  type StepFailure,
} from '../domain/messages.js';
import { shardPlanProblem } from '../domain/shards.js';
import type { DbtSummary, IngestResult, PipelineProgress, PipelineSummary, StepState } from '../domain/types.js';
import { webUiLink, workflowIds } from '../workflow-ids.js';
import { ingestEntity } from './ingest-entity.js';
import {
  checkRunDate,
  parseInput,
  pipelineInput,
  scheduledPipelineInput,
  type PipelineInput,
  type ScheduledPipelineInput,
} from './input.js';
import { PATCHES } from './patches.js';
import { retentionCleanup } from './retention-cleanup.js';
import { doctorRatingReport } from './doctor-rating-report.js';
import { predictNoShows } from './predict-no-shows.js';
import { appointmentReminders } from './appointment-reminders.js';
import { ratingRequests } from './rating-requests.js';
import { entityProgressSignal, progressQuery } from './signals.js';
import { describeError, failureOf } from './format.js';
import { sendToStaff } from './deliver.js';
import { quickActivities } from './quick-activities.js';

/** Settings, and another run's state for scheduledDailyPipeline (workflow code cannot describe other workflows). */
const { pipelineSettings, describePipelineRun, remindedSetFor } = quickActivities;

/** Waits for running loads of the date (it takes their locks), so it heartbeats; a mismatch fails for good. */
const { publishDay } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    maximumAttempts: 10,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['DayIncomplete', 'InvalidInput'],
  },
});

const { runDbt } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['DbtTestFailure', 'DbtNotInstalled', 'ConfigError'] },
});

/** `notify` is the notification activity of runs started before PATCHES.perMessageDelivery (kept for their replay). */
const { notify, recordPipelineRun } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '3 minutes',
  retry: { maximumAttempts: 3 },
});

const STEPS = ['ingest', 'dbt', 'report', 'cleanup', 'predict', 'remind', 'ratings', 'summary'] as const;
type Step = (typeof STEPS)[number];

export async function dailyPipeline(rawInput: PipelineInput): Promise<PipelineSummary> {
  const input = parseInput('dailyPipeline', pipelineInput, rawInput);
  const { runDate } = input;
  const info = workflowInfo();

  const progress: PipelineProgress = {
    runDate,
    steps: STEPS.map((name) => ({ name, state: 'pending' as StepState })),
    entities: {},
  };
  setHandler(progressQuery, () => progress);
  setHandler(entityProgressSignal, ({ entity, generated, loaded, state }) => {
    progress.entities[entity] = { generated, loaded, state };
  });
  const mark = (step: Step, state: StepState, detail?: string): void => {
    const s = progress.steps.find((x) => x.name === step);
    if (!s) return;
    s.state = state;
    if (detail !== undefined) s.detail = detail;
    const now = new Date().toISOString();
    if (state === 'running') s.startedAt = now;
    else if (state !== 'pending') s.endedAt = now;
  };

  const settings = await pipelineSettings();
  if (patched(PATCHES.dateChecks)) checkRunDate('dailyPipeline', 'runDate', runDate, settings.timezone);
  const scale = input.scale ?? settings.defaultScale;
  const tooMany = shardPlanProblem(scale, settings.shardRows);
  if (tooMany) throw ApplicationFailure.nonRetryable(`dailyPipeline: scale: ${tooMany}`, 'InvalidInput');
  const link = webUiLink({ uiUrl: settings.uiUrl, namespace: info.namespace }, info.workflowId, info.runId);
  const summary: PipelineSummary = { runDate, scale, ingest: [], notifications: [], webUiUrl: link };

  /** Runs one step; on failure alerts, records it and fails the workflow with the step named. */
  const step = async <T>(name: Step, run: () => Promise<T>, describe: (r: T) => string): Promise<T> => {
    mark(name, 'running');
    try {
      const result = await run();
      mark(name, 'completed', describe(result));
      return result;
    } catch (err) {
      const message = describeError(err);
      mark(name, 'failed', message);
      await alert([{ step: name, ...failureOf(err) }], name, message);
      throw ApplicationFailure.nonRetryable(
        `dailyPipeline ${runDate} failed at step ${name}: ${message}`,
        'PipelineStepFailed',
      );
    }
  };
  /** Alerts staff once per run and failed step set; `name` and `message` only feed the pre-patch branch. */
  const alert = async (failures: StepFailure[], name: string, message: string): Promise<void> => {
    if (patched(PATCHES.perMessageDelivery)) {
      const scope = workflowIds.dailyPipeline(runDate);
      const alertMessage = pipelineAlertMessage({
        scope,
        workflowId: info.workflowId,
        runId: info.runId,
        link,
        failures,
      });
      summary.notifications.push(...(await sendToStaff(alertMessage)));
    } else {
      const text = `:rotating_light: Health Synth run ${info.workflowId} failed at step *${name}*: ${message}\n${link}`;
      summary.notifications.push(
        ...(await notify({
          name: 'pipeline-failed',
          slack: { name: 'pipeline-failed', text },
          telegramText: `Health Synth run ${info.workflowId} failed at step ${name}: ${message}\n${link}`,
        })),
      );
    }
    await recordPipelineRun({ outcome: 'failed' });
  };

  // Versioned (see PATCHES): runs that started their six children before the schedule existed keep six.
  const entities = patched(PATCHES.tomorrowSchedule) ? ENTITY_NAMES : ENTITY_NAMES.filter((e) => e !== 'schedule');
  // The reminded set changes the outcomes, so the entities that carry them read it; only set fields are passed.
  // Without one in the input, the set yesterday's reminders left for this date is used (versioned: PATCHES).
  const remindedKey =
    input.remindedKey ??
    (patched(PATCHES.appointmentReminders) ? (await remindedSetFor({ runDate })).remindedKey : undefined);
  const reminders = remindedKey
    ? {
        remindedKey,
        ...(settings.reminderRelativeRisk !== undefined ? { reminderRelativeRisk: settings.reminderRelativeRisk } : {}),
      }
    : {};
  summary.ingest = await step(
    'ingest',
    () =>
      Promise.all(
        entities.map((entity) =>
          executeChild(ingestEntity, {
            workflowId: workflowIds.ingest(entity, runDate),
            args: [
              {
                entity,
                runDate,
                scale,
                seed: settings.seed,
                shardRows: settings.shardRows,
                parentWorkflowId: info.workflowId,
                ...(OUTCOME_ENTITIES.includes(entity) ? reminders : {}),
              },
            ],
            parentClosePolicy: ParentClosePolicy.TERMINATE,
          }),
        ),
      ).then(async (results) => {
        // The day becomes visible to dbt only now that all entities are loaded (versioned: see PATCHES).
        if (patched(PATCHES.publishDay)) {
          await publishDay({
            batchDate: runDate,
            rows: Object.fromEntries(results.map((r) => [r.entity, r.rowsLoaded])) as Record<EntityName, number>,
          });
        }
        return results;
      }),
    (results: IngestResult[]) => `${results.reduce((n, r) => n + r.rowsLoaded, 0)} rows loaded`,
  );

  summary.dbt = await step(
    'dbt',
    // The day's build: incremental on the run date's batch, tests scoped to it (the weekly dbt-full-refresh runs all).
    () => runDbt({ runDate, scope: 'day' }),
    (d: DbtSummary) => `${d.modelsBuilt} models, ${d.testsPassed} tests passed`,
  );

  mark('report', 'running');
  mark('cleanup', 'running');
  // The no-show model reads the marts dbt just built; it runs beside the report and the cleanup (versioned: PATCHES).
  const predicting = patched(PATCHES.predictNoShows)
    ? executeChild(predictNoShows, { workflowId: workflowIds.predict(runDate), args: [{ runDate }] })
    : undefined;
  if (predicting) mark('predict', 'running');
  // Tomorrow's reminders follow the scores (versioned: PATCHES); a day without scores reminds nobody.
  const reminding = predicting?.then((p) => {
    if (!p.scores || !patched(PATCHES.appointmentReminders)) return undefined;
    mark('remind', 'running');
    return executeChild(appointmentReminders, { workflowId: workflowIds.reminders(runDate), args: [{ runDate }] });
  });
  // Patients of the day's attended visits are asked to rate them (versioned: PATCHES); the requests outlive the run.
  const rating = patched(PATCHES.ratingRequests)
    ? executeChild(ratingRequests, { workflowId: workflowIds.ratingRequests(runDate), args: [{ runDate }] })
    : undefined;
  if (rating) mark('ratings', 'running');
  const [report, cleanup, predicted, reminded, rated] = await Promise.allSettled([
    executeChild(doctorRatingReport, { workflowId: workflowIds.report(runDate), args: [{ runDate }] }),
    executeChild(retentionCleanup, {
      workflowId: workflowIds.cleanup(runDate),
      args: [
        {
          runDate,
          retentionDays: settings.retentionDays,
          ...(input.allowLargeCleanup ? { allowLargeCleanup: true } : {}),
        },
      ],
    }),
    predicting,
    reminding,
    rating,
  ]);
  const failures: string[] = [];
  const stepFailures: StepFailure[] = [];
  if (report.status === 'fulfilled') {
    summary.report = report.value;
    mark('report', 'completed', `${report.value.doctorsRanked} doctors ranked`);
  } else {
    summary.report = { error: describeError(report.reason) };
    mark('report', 'failed', summary.report.error);
    failures.push(`report: ${summary.report.error}`);
    stepFailures.push({ step: 'report', ...failureOf(report.reason) });
  }
  if (cleanup.status === 'fulfilled') {
    summary.cleanup = cleanup.value;
    const deleted = cleanup.value.tables.reduce((n, t) => n + t.rowsDeleted, 0);
    mark('cleanup', 'completed', `${deleted} rows deleted after backup`);
  } else {
    summary.cleanup = { error: describeError(cleanup.reason) };
    mark('cleanup', 'failed', summary.cleanup.error);
    failures.push(`cleanup: ${summary.cleanup.error}`);
    stepFailures.push({ step: 'cleanup', ...failureOf(cleanup.reason) });
  }

  if (predicted.status === 'fulfilled' && predicted.value) {
    const { model, scores, evaluation, riskReport } = predicted.value;
    // The no-show chart's deliveries, so a failed one shows in the summary like the other messages'.
    if (riskReport) summary.notifications.push(...riskReport.notifications);
    summary.predict = {
      ...('version' in model
        ? { modelVersion: model.version, trainRows: model.trainRows }
        : { skipped: model.skipped }),
      ...(scores ? { scored: scores.rows } : {}),
      ...(evaluation ? { rocAuc: evaluation.rocAuc, bayesAuc: evaluation.bayesAuc } : {}),
    };
    mark('predict', 'completed', 'version' in model ? `${scores?.rows ?? 0} appointments scored` : model.skipped);
  } else if (predicted.status === 'rejected') {
    summary.predict = { error: describeError(predicted.reason) };
    mark('predict', 'failed', summary.predict.error);
    failures.push(`predict: ${summary.predict.error}`);
    stepFailures.push({ step: 'predict', ...failureOf(predicted.reason) });
  }

  if (reminded.status === 'fulfilled' && reminded.value) {
    const { reminded: n, holdout, started, existing, skipped } = reminded.value;
    summary.remind = { reminded: n, holdout, started, existing, ...(skipped ? { skipped } : {}) };
    mark('remind', 'completed', skipped ?? `${n} reminded, ${holdout} held out, ${started} started`);
  } else if (reminded.status === 'rejected' && predicted.status === 'fulfilled') {
    // (A failed prediction already failed this step's promise: it is reported once, as predict's.)
    summary.remind = { error: describeError(reminded.reason) };
    mark('remind', 'failed', summary.remind.error);
    failures.push(`remind: ${summary.remind.error}`);
    stepFailures.push({ step: 'remind', ...failureOf(reminded.reason) });
  } else if (predicted.status === 'rejected') {
    mark('remind', 'skipped', 'the no-show model failed');
  } else {
    // As predict's own step on a day without a model: done, with nothing to do.
    mark('remind', 'running');
    mark('remind', 'completed', 'no scores for tomorrow: nobody to remind');
  }

  if (rated.status === 'fulfilled' && rated.value) {
    const { requested, alreadyRequested } = rated.value;
    summary.ratings = { requested, alreadyRequested };
    mark('ratings', 'completed', `${requested} rating requests sent`);
  } else if (rated.status === 'rejected') {
    summary.ratings = { error: describeError(rated.reason) };
    mark('ratings', 'failed', summary.ratings.error);
    failures.push(`ratings: ${summary.ratings.error}`);
    stepFailures.push({ step: 'ratings', ...failureOf(rated.reason) });
  }

  if (failures.length > 0) {
    await alert(stepFailures, failures.map((f) => f.split(':')[0]).join(' and '), failures.join('; '));
    throw ApplicationFailure.nonRetryable(
      `dailyPipeline ${runDate} failed: ${failures.join('; ')}`,
      'PipelineStepFailed',
      summary,
    );
  }

  mark('summary', 'running');
  if (patched(PATCHES.perMessageDelivery)) {
    // Once per date: the summary's delivery record is keyed by the date's business id, not the run.
    summary.notifications.push(
      ...(await sendToStaff(pipelineSummaryMessage(workflowIds.dailyPipeline(runDate), summary))),
    );
  } else {
    const text = staffSummaryText(summary);
    summary.notifications.push(...(await notify({ slack: { name: 'pipeline-summary', text } })));
  }
  await recordPipelineRun({ outcome: 'completed' });
  mark('summary', 'completed');
  return summary;
}

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** Waits for a running pipeline of the same date; heartbeats, so a dead worker's wait resumes elsewhere. */
const { awaitPipelineRun } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['AttachedRunFailed'] },
});

/** A scheduled run for a date that already completed: nothing was run or sent again. */
export interface AlreadyCompletedRun {
  runDate: string;
  alreadyCompleted: true;
  /** The completed run of `daily-pipeline-<date>`. */
  workflowId: string;
  runId: string;
}

/** What scheduledDailyPipeline returns: a run's summary (its own child's or the one it attached to), or a skip. */
export type ScheduledPipelineResult = (PipelineSummary & { attachedRunId?: string }) | AlreadyCompletedRun;

/**
 * What the `daily-pipeline` schedule starts. It takes the run date from the schedule's scheduled time
 * (not the start time), so a late, caught-up or backfilled run still processes its own date, then runs
 * dailyPipeline as a child with the business id `daily-pipeline-<date>` — unless that date already has a
 * run: a COMPLETED one means nothing to do (no second chart or summary; the result says alreadyCompleted),
 * a RUNNING one is attached to (its result is returned), a failed, terminated or timed-out one is run again.
 * A manual run that starts between the check and the child's start makes the start fail with
 * WorkflowExecutionAlreadyStartedError; the check then runs again.
 */
export async function scheduledDailyPipeline(rawInput: ScheduledPipelineInput): Promise<ScheduledPipelineResult> {
  const input = parseInput('scheduledDailyPipeline', scheduledPipelineInput, rawInput);
  const scheduled = workflowInfo().typedSearchAttributes.get(SCHEDULED_START) ?? new Date(workflowInfo().startTime);
  const runDate = localDate(scheduled, input.timezone);
  const workflowId = workflowIds.dailyPipeline(runDate);
  const args: [PipelineInput] = [{ runDate, ...(input.scale !== undefined ? { scale: input.scale } : {}) }];
  if (!patched(PATCHES.scheduledAttachOrSkip)) return executeChild(dailyPipeline, { workflowId, args });

  for (let check = 1; ; check++) {
    const existing = await describePipelineRun({ workflowId });
    if (existing?.status === 'COMPLETED') {
      return { runDate, alreadyCompleted: true, workflowId, runId: existing.runId };
    }
    if (existing?.status === 'RUNNING') {
      return { ...(await awaitPipelineRun({ workflowId, runId: existing.runId })), attachedRunId: existing.runId };
    }
    try {
      return await executeChild(dailyPipeline, {
        workflowId,
        args,
        // A run that completed after the check is not started again: the start fails and the check repeats.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || check >= 5) throw err;
    }
  }
}
