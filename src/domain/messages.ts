/**
 * Every message Health Synth sends, built in one place as plain data with its audience fixed by its type:
 * {@link StaffMessage} goes to Slack and the staff Telegram chat, {@link PatientMessage} to the patients' chat
 * only. Pure functions, so workflows build messages themselves (deterministically) and pass them to the
 * delivery activities. Alerts carry failure types and ids, never error text, which can quote data values.
 */
import type {
  CleanupResult,
  NotificationResult,
  PatientMessage,
  PipelineSummary,
  ReminderEffectPeriod,
  ReportResult,
  StaffMessage,
} from './types.js';

/** Names of delivery records and outbox files are path segments: letters, digits, `.`, `_`, `+` and `-`. */
export const MESSAGE_NAME = /^[A-Za-z0-9][\w.+-]{0,199}$/;

/** Slack mrkdwn to plain text for Telegram: `<url|label>` → `label: url`, bold markers and emoji codes dropped. */
export function plainText(mrkdwn: string): string {
  return mrkdwn
    .replace(/<([^|>]+)\|([^>]+)>/g, '$2: $1')
    .replace(/<([^>]+)>/g, '$1')
    .replace(/\*([^*\n]+)\*/g, '$1')
    .replace(/:[a-z_]+: /g, '');
}

/** A staff message whose Telegram text is the plain-text form of its Slack text. */
function staffText(scope: string, name: string, text: string): StaffMessage {
  return { audience: 'staff', scope, name, slack: { text }, telegram: { text: plainText(text) } };
}

/** What a report message needs: a built report without its delivery results. */
export type ReportFacts = Omit<ReportResult, 'notifications'>;

/**
 * The doctor-rating chart for staff: a Block Kit message with the chart as an image block (the Slack sender drops
 * it when Slack could not fetch the URL) and the PNG itself, by object key, on Telegram.
 */
export function doctorRatingMessage(scope: string, report: ReportFacts): StaffMessage {
  const title = `Doctor rating — ${report.runDate}`;
  const top = report.topDoctor
    ? `*Top doctor:* ${report.topDoctor.name} (score ${report.topDoctor.score.toFixed(1)})`
    : '*Top doctor:* none yet (no rated doctors)';
  const summary = `${top}\n*Doctors ranked:* ${report.doctorsRanked}${bySourceLine(report, '\n*Ratings:* ')}${reminderLines(report, true)}\n<${report.reportUrl}|Open the chart>`;
  return {
    audience: 'staff',
    scope,
    name: 'doctor-rating',
    slack: {
      text: `${title}: ${report.topDoctor ? `top doctor ${report.topDoctor.name}` : 'no rated doctors'}`,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: title, emoji: true } },
        { type: 'section', text: { type: 'mrkdwn', text: summary } },
        { type: 'image', image_url: report.reportUrl, alt_text: `Top doctors by score, ${report.runDate}` },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: `Health Synth daily pipeline · run ${report.runDate} · \`${report.reportKey}\`` },
          ],
        },
      ],
    },
    telegram: { photoKey: report.reportKey, caption: doctorRatingCaption(report) },
  };
}

/** What the no-show chart message needs (aggregates only: no appointment, patient or doctor). */
export interface RiskReportFacts {
  runDate: string;
  appointmentDay: string;
  reportKey: string;
  reportUrl: string;
  clinics: number;
  appointments: number;
  expectedNoShows: number;
  highRisk: number;
}

/**
 * The staff report's second chart: tomorrow's expected no-shows and high-risk appointments by clinic, as a Block Kit
 * message with the chart on Slack and the PNG by object key on Telegram. Only totals and the chart; no patient data.
 */
export function noShowRiskMessage(scope: string, r: RiskReportFacts): StaffMessage {
  const title = `Expected no-shows — ${r.appointmentDay}`;
  const totals =
    `*Booked:* ${r.appointments} in ${r.clinics} clinics\n*Expected no-shows:* ${r.expectedNoShows.toFixed(1)}` +
    `\n*High-risk (decile 10):* ${r.highRisk}`;
  return {
    audience: 'staff',
    scope,
    name: 'no-show-risk',
    slack: {
      text: `${title}: ${r.expectedNoShows.toFixed(1)} expected of ${r.appointments} booked`,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: title, emoji: true } },
        { type: 'section', text: { type: 'mrkdwn', text: `${totals}\n<${r.reportUrl}|Open the chart>` } },
        { type: 'image', image_url: r.reportUrl, alt_text: `Expected no-shows by clinic, ${r.appointmentDay}` },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: `Health Synth no-show model · run ${r.runDate} · \`${r.reportKey}\`` }],
        },
      ],
    },
    telegram: { photoKey: r.reportKey, caption: plainText(`${title}\n${totals}`) },
  };
}

/** The Telegram caption of the chart (plain text; Telegram allows 1024 characters). */
export function doctorRatingCaption(report: ReportFacts): string {
  const top = report.topDoctor
    ? `Top doctor: ${report.topDoctor.name} (score ${report.topDoctor.score.toFixed(1)})`
    : 'No rated doctors yet';
  return `Doctor rating — ${report.runDate}\n${top}\nDoctors ranked: ${report.doctorsRanked}${bySourceLine(report, '\nRatings: ')}${reminderLines(report, false)}`;
}

/**
 * The weekly reminder section of the Monday report: per span, the relative risk of a no-show with its 95% interval
 * and the no-shows prevented, e.g. "Reminders 2026-03-02–2026-03-06: no-show risk ×0.77 (95% CI 0.70–0.85),
 * 120 no-shows prevented (80–160); 800 reminded, 200 held out, 12 cancelled". Nothing on other days.
 */
function reminderLines(report: ReportFacts, bold: boolean): string {
  const effect = report.reminderEffect;
  if (!effect) return '';
  const b = (s: string) => (bold ? `*${s}*` : s);
  const n = (v: number) => v.toLocaleString('en-US');
  const line = (label: string, p: ReminderEffectPeriod): string => {
    const counts = `${n(p.reminded)} reminded, ${n(p.holdout)} held out, ${n(p.cancelled)} cancelled`;
    const rr =
      p.relativeRisk === null
        ? 'no relative risk yet (no no-shows in an arm)'
        : `no-show risk ×${p.relativeRisk.toFixed(2)} (95% CI ${p.low?.toFixed(2)}–${p.high?.toFixed(2)}), ` +
          `${Math.round(p.prevented ?? 0)} no-shows prevented (${Math.round(p.preventedLow ?? 0)}–${Math.round(p.preventedHigh ?? 0)})`;
    return `\n${b(`${label} ${p.from}–${p.to}:`)} ${rr}; ${counts}`;
  };
  return `${effect.week ? line('Reminders last week', effect.week) : ''}${line('Reminders to date', effect.toDate)}`;
}

/** "<prefix>1,234 survey · 56 Telegram", or nothing for a report built before ratings had sources. */
function bySourceLine(report: ReportFacts, prefix: string): string {
  const r = report.ratingsBySource;
  return r
    ? `${prefix}${r.survey.toLocaleString('en-US')} survey · ${r.telegram.toLocaleString('en-US')} Telegram`
    : '';
}

/** The weekend notice for patients: the configured text, the emergency number and the date. */
export function weekendNoticeMessage(
  scope: string,
  date: string,
  text: string,
  emergencyPhone: string,
): PatientMessage {
  return {
    audience: 'patients',
    scope,
    name: 'weekend-notice',
    telegram: { text: `${text} ${emergencyPhone}. (${date})` },
  };
}

/** The staff note after retention cleanup: per table, rows deleted and backed up, and where the backup is. */
export function cleanupMessage(scope: string, result: Omit<CleanupResult, 'notifications'>): StaffMessage {
  const lines = result.tables.map(
    (t) =>
      `• ${t.table}: ${t.status}, ${t.rowsDeleted} rows deleted, ${t.rowsBackedUp} backed up` +
      (t.backupKey ? ` to ${t.backupKey}` : '') +
      ` (older than ${t.cutoff})`,
  );
  const { objects } = result;
  if (objects) {
    lines.push(
      `• raw objects: ${objects.rawObjectsDeleted} deleted (${objects.rawDaysDeleted} entity-days before ${result.cutoff})`,
      `• backups: ${objects.backupObjectsDeleted} objects older than ${objects.backupRetentionDays} days deleted`,
    );
  }
  const text = `*Retention cleanup ${result.runDate}* (${result.retentionDays} days)\n${lines.join('\n')}`;
  return staffText(scope, 'retention-cleanup', text);
}

const n = (x: number): string => x.toLocaleString('en-US');

/** One line per delivery that did not arrive for sure: channel, message, status and why (HTTP status included). */
export function undelivered(results: readonly NotificationResult[]): string[] {
  return results
    .filter((r) => r.status === 'failed' || r.status === 'unknown')
    .map((r) => `${r.channel} ${r.message ?? 'message'}: ${r.status}${r.detail ? ` (${r.detail})` : ''}`);
}

/**
 * A run's summary for staff, in Slack mrkdwn (the staff Telegram chat gets the same text), including deliveries
 * of the report and cleanup that did not arrive. The terminal's version is `terminalSummary` (src/cli/format.ts).
 */
export function staffSummaryText(s: PipelineSummary): string {
  const lines = [`*Health Synth daily run ${s.runDate}* (scale ${s.scale})`];
  lines.push(`Rows loaded: ${s.ingest.map((r) => `${r.entity} ${n(r.rowsLoaded)}`).join(', ')}`);
  if (s.dbt) {
    lines.push(
      `dbt: ${s.dbt.modelsBuilt} models built, ${s.dbt.testsPassed} tests passed, ${s.dbt.testsFailed} failed, ${s.dbt.testsWarned} warned (${s.dbt.elapsedSeconds.toFixed(1)} s)`,
    );
  }
  if (s.report && 'reportUrl' in s.report) {
    lines.push(`Doctor rating report: ${s.report.doctorsRanked} doctors ranked — <${s.report.reportUrl}|chart>`);
  }
  if (s.cleanup && 'tables' in s.cleanup) {
    const deleted = s.cleanup.tables.reduce((sum, t) => sum + t.rowsDeleted, 0);
    lines.push(`Retention (${s.cleanup.retentionDays} days): ${n(deleted)} rows deleted after a verified backup`);
  }
  const missed = undelivered([
    ...(s.report && 'notifications' in s.report ? s.report.notifications : []),
    ...(s.cleanup && 'notifications' in s.cleanup ? s.cleanup.notifications : []),
    ...s.notifications,
  ]);
  if (missed.length > 0) lines.push(`Not delivered: ${missed.join('; ')}`);
  if (s.webUiUrl) lines.push(`Run: ${s.webUiUrl}`);
  return lines.join('\n');
}

/** The run summary for staff; one per date (its delivery record is keyed by the date's business id). */
export function pipelineSummaryMessage(scope: string, summary: PipelineSummary): StaffMessage {
  return staffText(scope, 'pipeline-summary', staffSummaryText(summary));
}

/** What an alert says about one failed step: its name, the failure's type and where it happened (ids only). */
export interface StepFailure {
  step: string;
  /** The innermost failure's type: `CsvLoadError`, `DbtTestFailure`, `Timeout (START_TO_CLOSE)`, … */
  type: string;
  /** The child workflows and the activity the failure came through, outermost first. */
  where: string[];
}

/**
 * The staff alert for a failed run: run and workflow ids, each failed step with its failure type and where it
 * came from, and the Web UI link. It carries no error message: a database error can quote a CSV cell or a key,
 * so the text stays in Temporal (the Web UI shows it to operators). One per run and step set.
 */
export function pipelineAlertMessage(alert: {
  scope: string;
  workflowId: string;
  runId: string;
  link: string;
  failures: StepFailure[];
}): StaffMessage {
  const steps = alert.failures.map((f) => f.step);
  const lines = [
    `:rotating_light: Health Synth run ${alert.workflowId} failed at step *${steps.join(' and ')}*`,
    ...alert.failures.map((f) => `• ${f.step}: ${f.type}${f.where.length > 0 ? ` in ${f.where.join(' › ')}` : ''}`),
    `Run id: ${alert.runId}`,
    `Error details (kept in Temporal, they can quote data): ${alert.link}`,
  ];
  return staffText(alert.scope, `pipeline-failed-${alert.runId}-${steps.join('+')}`, lines.join('\n'));
}
