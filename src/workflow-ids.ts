/**
 * Workflow type names and business ids. Pure, so both workflow code and clients import it.
 */

/** Workflow type names, as users type them in `temporal workflow start --type`. */
export const WORKFLOW_TYPES = {
  dailyPipeline: 'dailyPipeline',
  scheduledDailyPipeline: 'scheduledDailyPipeline',
  ingestEntity: 'ingestEntity',
  doctorRatingReport: 'doctorRatingReport',
  retentionCleanup: 'retentionCleanup',
  predictNoShows: 'predictNoShows',
  weekendNotice: 'weekendNotice',
  scheduledWeekendNotice: 'scheduledWeekendNotice',
  dbtFullRefresh: 'dbtFullRefresh',
  scheduledDbtFullRefresh: 'scheduledDbtFullRefresh',
} as const;

/** Workflow ids carry business meaning, so a date can be run, found and deduplicated by id alone. */
export const workflowIds = {
  dailyPipeline: (runDate: string) => `daily-pipeline-${runDate}`,
  ingest: (entity: string, runDate: string) => `ingest-${entity}-${runDate}`,
  report: (runDate: string) => `doctor-rating-report-${runDate}`,
  cleanup: (runDate: string) => `retention-cleanup-${runDate}`,
  predict: (runDate: string) => `predict-no-shows-${runDate}`,
  weekendNotice: (date: string) => `weekend-notice-${date}`,
};

/**
 * The Web UI page of one workflow run (the run's history when runId is known). Clients pass `config.temporal`;
 * workflow code passes the UI URL from its settings activity and the namespace from `workflowInfo()`.
 */
export function webUiLink(temporal: { uiUrl: string; namespace: string }, workflowId: string, runId?: string): string {
  const { uiUrl, namespace } = temporal;
  const base = `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
