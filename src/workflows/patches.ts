/**
 * Ids of the versioned changes to workflow code, for `patched()` (see README, "Deploying a workflow change").
 *
 * A change that adds, removes or reorders a command (activity, child, signal, timer) runs under
 * `patched(id)` with the old code kept in the else branch: runs that passed that point before the deploy, and
 * the recorded histories in test/workflow/histories, replay the old branch; everything else takes the new one.
 * Once no open run (and no kept history) predates the change, `patched` becomes `deprecatePatched(id)` and the
 * old branch goes; once no run recorded before that remains, the call goes too. Ids are never reused.
 */
export const PATCHES = {
  /** Every workflow that takes a date refuses one after today or before the generator's first day. */
  dateChecks: 'date-checks',
  /** One delivery activity per channel and message, with a delivery record, instead of one notify per message set. */
  perMessageDelivery: 'per-message-delivery',
  /** scheduledDailyPipeline skips a completed date, attaches to a running one and reruns a failed one. */
  scheduledAttachOrSkip: 'scheduled-attach-or-skip',
  /** retentionCleanup: cutoff from min(runDate, today), the delete-share guard, patients, raw objects, backups. */
  retentionPersonalData: 'retention-personal-data',
  /** dailyPipeline runs publishDay after the six ingest children, so a half-loaded day stays invisible to dbt. */
  publishDay: 'publish-day',
  /** ingestEntity signals its parent at most once per tenth of its shards, not once per shard. */
  batchedProgress: 'batched-progress',
  /**
   * dailyPipeline ingests a seventh entity, tomorrow's schedule, and publishes the day only with it; retentionCleanup
   * also cleans raw.schedule.
   */
  tomorrowSchedule: 'tomorrow-schedule',
  /** dailyPipeline runs predictNoShows beside the report and the cleanup. */
  predictNoShows: 'predict-no-shows',
  /** predictNoShows sends staff the expected no-shows by clinic after scoring. */
  noShowChart: 'no-show-chart',
  /**
   * dailyPipeline looks up the run date's reminded set (reminders/dt=<date>/reminded.csv) before ingesting, when the
   * input names none, and runs appointmentReminders after predictNoShows scored tomorrow's schedule.
   */
  appointmentReminders: 'appointment-reminders',
  /** dailyPipeline runs ratingRequests (patients rate their visits on Telegram) beside the report and the cleanup. */
  ratingRequests: 'rating-requests',
  /**
   * retentionCleanup also backs up and deletes the patient loop's expired rows, raw.rating_requests and
   * raw.reminder_events, before the tables they reference.
   */
  patientLoopRetention: 'patient-loop-retention',
  /**
   * appointmentReminder records its events (sent, and the outcome) with a local activity: one insert needs no
   * round trip through the task queue, so each reminder costs one workflow task and one activity fewer.
   */
  reminderLocalEvents: 'reminder-local-events',
  /**
   * ratingRequest, once rated (and recorded), invites a comment (ForceReply) and waits up to 24 hours for the
   * patientComment Update, then writes the comment into the rating's row. Decided once, when the request starts.
   */
  ratingComment: 'rating-comment',
  /**
   * ratingRequest completes (rated, the comment dropped) when its comment does not open with the worker's
   * TELEGRAM_LINK_SECRET, instead of failing. Called only on that path, so other histories carry no marker.
   */
  unreadableComment: 'unreadable-comment',
} as const;
