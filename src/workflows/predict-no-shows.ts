/**
 * predictNoShows: the day's no-show model, after dbt, beside the report and the cleanup.
 *
 *   train on the outcomes up to runDate (or reuse the week's model, RETRAIN_EVERY_DAYS)
 *     → score the schedule booked for the next weekday → marts.no_show_risk
 *   (then) expected no-shows by clinic → reports/dt=<date>/no-show-risk.png → staff (Slack, Telegram), once per date
 *   evaluate the scores made for runDate's appointments → Bayes AUC from truth/ → marts.model_performance
 *
 * The model file crosses from training to scoring by version and sha256 only; scoring refuses any other file.
 * Every step is idempotent (a rerun reuses the date's model and scores), so the workflow id
 * `predict-no-shows-<date>` can be run again. An AUC above the Bayes AUC + 0.005 fails for good
 * (`ModelLeakSuspected`), and the pipeline alerts staff as for any failed step.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import type { Evaluation, NotTrained, ScoreResult, TrainedModel } from '../activities/predict.js';
import type { PerformanceRow } from '../activities/truth.js';
import { noShowRiskMessage, type RiskReportFacts } from '../domain/messages.js';
import type { NotificationResult } from '../domain/types.js';
import { workflowIds } from '../workflow-ids.js';
import { sendToStaff } from './deliver.js';
import { checkDateInput, parseInput, runDateInput } from './input.js';
import { PATCHES } from './patches.js';

/** Failures no retry can fix: bad input, an untrusted model file, the script refusing its input, a leak. */
const NON_RETRYABLE = [
  'InvalidInput',
  'ModelArtifactRejected',
  'ModelScriptFailed',
  'ModelToolchainMissing',
  'ModelLeakSuspected',
];

/** Training and scoring heartbeat on a timer while Python runs, so a dead worker is noticed within a minute. */
const { trainNoShowModel, scoreNoShows, evaluateNoShows, recordModelPerformance } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
});

/** The chart is rendered in a child process that heartbeats on a timer, as the doctor-rating report's is. */
const { buildNoShowRiskReport } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput', 'ConfigError'] },
});

/** What predictNoShows returns: small (versions, counts, metrics), never scores. */
export interface PredictResult {
  runDate: string;
  model: TrainedModel | NotTrained;
  scores?: ScoreResult;
  evaluation?: PerformanceRow;
  /** The staff chart of expected no-shows by clinic (aggregates only) and its deliveries, once per date. */
  riskReport?: RiskReportFacts & { notifications: NotificationResult[] };
}

export async function predictNoShows(rawInput: { runDate: string }): Promise<PredictResult> {
  const { runDate } = parseInput('predictNoShows', runDateInput, rawInput);
  await checkDateInput('predictNoShows', 'runDate', runDate);
  const result: PredictResult = { runDate, model: await trainNoShowModel({ runDate }) };
  if ('version' in result.model) {
    const { version, sha256 } = result.model;
    result.scores = await scoreNoShows({ runDate, version, sha256 });
    if (patched(PATCHES.noShowChart)) {
      const built = await buildNoShowRiskReport({ runDate });
      if (built) {
        const notifications = await sendToStaff(noShowRiskMessage(workflowIds.predict(runDate), built));
        result.riskReport = { ...built, notifications };
      }
    }
  }
  const evaluated: Evaluation = await evaluateNoShows({ runDate });
  if (evaluated.metrics && evaluated.predictionsKey) {
    result.evaluation = await recordModelPerformance({
      evaluatedOn: runDate,
      metrics: evaluated.metrics,
      predictionsKey: evaluated.predictionsKey,
    });
  }
  return result;
}
