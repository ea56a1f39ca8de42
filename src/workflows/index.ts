/**
 * Every workflow the worker registers. Deterministic code only: the ESLint config bans Node
 * built-ins, clients and activity implementations here.
 */
export { dailyPipeline, scheduledDailyPipeline } from './daily-pipeline.js';
export { ingestEntity } from './ingest-entity.js';
export { doctorRatingReport } from './doctor-rating-report.js';
export { retentionCleanup } from './retention-cleanup.js';
export { predictNoShows } from './predict-no-shows.js';
export { weekendNotice, scheduledWeekendNotice } from './weekend-notice.js';
export { dbtFullRefresh, scheduledDbtFullRefresh } from './dbt-full-refresh.js';
export { appointmentReminders, appointmentReminder } from './appointment-reminders.js';
export { ratingRequests, ratingRequest } from './rating-requests.js';
