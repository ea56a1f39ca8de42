/**
 * All activities, built from their dependencies (the activities-dependency-injection pattern):
 * the worker passes real clients, tests may pass other ones. Metrics are recorded here, from each
 * activity's result, so the activities themselves stay free of metrics plumbing.
 */
import type { Config } from '../config.js';
import type { Metrics, PipelineOutcome } from '../metrics.js';
import { createCleanupActivities } from './cleanup.js';
import { createDbtActivities } from './dbt.js';
import { createDeliveryActivities } from './delivery.js';
import { createGenerateActivities } from './generate.js';
import { createLoadActivities } from './load.js';
import { createNoticeActivities } from './notice.js';
import type { Notifier } from './notifier.js';
import { createPatientSenderActivities } from './patient-sender.js';
import { createPipelineRunActivities } from './pipeline-runs.js';
import { createPredictActivities } from './predict.js';
import { createReminderActivities } from './reminders.js';
import { createRatingRequestActivities } from './rating-requests.js';
import { createNotifyActivities } from './notify.js';
import { createReportActivities } from './report.js';
import { createSettingsActivities } from './settings.js';
import { createTruthActivities } from './truth.js';
import type { ObjectStore } from './storage.js';
import type { Warehouse } from './warehouse/index.js';
import type { NotificationResult, OutgoingMessage, StaffMessage } from '../domain/types.js';
import { ApplicationFailure } from '@temporalio/common';

export interface ActivityDeps {
  config: Config;
  store: ObjectStore;
  warehouse: Warehouse;
  notifier: Notifier;
  metrics?: Metrics;
}

export function createActivities(deps: ActivityDeps) {
  const { metrics } = deps;
  const generate = createGenerateActivities(deps);
  const load = createLoadActivities(deps);
  const dbt = createDbtActivities(deps);
  const report = createReportActivities({ ...deps, query: (sql, params) => deps.warehouse.query(sql, params) });
  const notify = createNotifyActivities(deps);
  const notice = createNoticeActivities(deps);
  const delivery = createDeliveryActivities(deps);
  const countNotifications = (results: NotificationResult[]): NotificationResult[] => {
    for (const r of results) metrics?.notification(r.channel, r.status);
    return results;
  };

  /** Counts a delivery's outcome; a refusal (non-retryable) counts as failed, a retryable attempt not yet. */
  const counted = async (channel: 'slack' | 'telegram', run: () => Promise<NotificationResult>) => {
    try {
      return countNotifications([await run()])[0] as NotificationResult;
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) metrics?.notification(channel, 'failed');
      throw err;
    }
  };

  return {
    ...createSettingsActivities(deps),
    ...createPipelineRunActivities(),
    weekendNoticeMessage: notice.weekendNoticeMessage,
    async deliverSlack(message: StaffMessage) {
      return counted('slack', () => delivery.deliverSlack(message));
    },
    async deliverTelegram(message: OutgoingMessage) {
      return counted('telegram', () => delivery.deliverTelegram(message));
    },
    ...createCleanupActivities(deps),
    ...createPredictActivities(deps),
    ...createTruthActivities(deps),
    ...createPatientSenderActivities(deps),
    ...createReminderActivities(deps),
    ...createRatingRequestActivities(deps),
    ...report,
    ...notify,
    async sendWeekendNotice(input: { date: string }) {
      const sent = await notice.sendWeekendNotice(input);
      countNotifications(sent.notifications);
      return sent;
    },
    async generateShard(input: Parameters<typeof generate.generateShard>[0]) {
      const object = await generate.generateShard(input);
      metrics?.rowsGenerated(input.entity, object.rows);
      return object;
    },
    async loadBatch(input: Parameters<typeof load.loadBatch>[0]) {
      const result = await load.loadBatch(input);
      if (result.status === 'loaded') metrics?.loadFinished(input.entity, result.rows, result.durationMs / 1000);
      return result;
    },
    publishDay: load.publishDay,
    async runDbt(input: Parameters<typeof dbt.runDbt>[0]) {
      const started = Date.now();
      try {
        const summary = await dbt.runDbt(input);
        metrics?.dbtFinished((Date.now() - started) / 1000, summary.testsFailed);
        return summary;
      } catch (err) {
        const failed = (err as { details?: Array<{ testsFailed?: number }> }).details?.[0]?.testsFailed;
        metrics?.dbtFinished((Date.now() - started) / 1000, failed ?? 0);
        throw err;
      }
    },
    async postDoctorRatingReport(input: Parameters<typeof report.postDoctorRatingReport>[0]) {
      return countNotifications(await report.postDoctorRatingReport(input));
    },
    async notify(input: Parameters<typeof notify.notify>[0]) {
      return countNotifications(await notify.notify(input));
    },
    /** Counts a finished pipeline run by outcome; idempotent enough for a counter (a retry may count twice). */
    async recordPipelineRun({ outcome }: { outcome: PipelineOutcome }): Promise<void> {
      metrics?.pipelineRun(outcome);
    },
  };
}

/** The activity interface workflows proxy (imported as a type only). */
export type ActivityTypes = ReturnType<typeof createActivities>;
