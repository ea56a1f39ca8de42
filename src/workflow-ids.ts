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
  appointmentReminders: 'appointmentReminders',
  appointmentReminder: 'appointmentReminder',
  ratingRequests: 'ratingRequests',
  ratingRequest: 'ratingRequest',
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
  /** Chooses tomorrow's reminders from the run date's scores and starts them. */
  reminders: (runDate: string) => `appointment-reminders-${runDate}`,
  /** The run date's rating requests: starts the ratingRequest-<appointmentId> workflows of its attended visits. */
  ratingRequests: (runDate: string) => `rating-requests-${runDate}`,
  weekendNotice: (date: string) => `weekend-notice-${date}`,
  /** One reminder per appointment; its Confirm / Cancel buttons arrive as Updates (issue 12). */
  reminder: (appointmentId: number | string) => `reminder-${appointmentId}`,
  /** One rating request per attended appointment; its 1–5 stars arrive as an Update (issue 12). */
  ratingRequest: (appointmentId: number | string) => `ratingRequest-${appointmentId}`,
};

/**
 * The Update a patient's button press becomes, on `reminder-<id>` and `ratingRequest-<id>`. The workflow's validator
 * rejects an answer it no longer takes (already answered, appointment started), and the bot tells the patient that
 * the request has expired.
 */
export const PATIENT_ANSWER_UPDATE = 'patientAnswer';

/** The argument of {@link PATIENT_ANSWER_UPDATE}: which button, pressed by which (verified) patient. */
export interface PatientAnswer {
  action: string;
  patientId: number;
}

/** The Update the patients' bot sends to `ratingRequest-<appointmentId>` with a reply to the comment invitation. */
export const PATIENT_COMMENT_UPDATE = 'patientComment';

/**
 * The argument of {@link PATIENT_COMMENT_UPDATE}: the (verified) patient and the comment, sealed by the bot
 * (src/bot/comment.ts), so the text is never in a workflow payload in the clear, with or without the payload codec.
 */
export interface PatientComment {
  patientId: number;
  sealedComment: string;
}

/**
 * The Web UI page of one workflow run (the run's history when runId is known). Clients pass `config.temporal`;
 * workflow code passes the UI URL from its settings activity and the namespace from `workflowInfo()`.
 */
export function webUiLink(temporal: { uiUrl: string; namespace: string }, workflowId: string, runId?: string): string {
  const { uiUrl, namespace } = temporal;
  const base = `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
