/**
 * The doctor-rating report: `buildDoctorRatingReport` queries the mart, renders the chart and stores the PNG;
 * the workflow then sends it to staff through the delivery activities (`delivery.ts`), so a Slack or Telegram
 * hiccup retries only that channel's delivery, never the query and render. Only the object key and URL cross
 * history, never the image. `postDoctorRatingReport` remains for runs started before per-message delivery.
 */
import { ApplicationFailure } from '@temporalio/common';
import { doctorRatingMessage, type RiskReportFacts } from '../domain/messages.js';
import { dayOfWeek } from '../domain/dates.js';
import type {
  NotificationResult,
  RatingsBySource,
  ReminderEffectFacts,
  ReminderEffectPeriod,
} from '../domain/types.js';
import { workflowIds } from '../workflow-ids.js';
import { renderDoctorRatingPngInChild, renderSpecPngInChild } from './chart-process.js';
import { TOP_N, type DoctorRatingRow } from './charts.js';
import { createDeliverer, settleLegacy } from './delivery.js';
import { CLINIC_RISK_SQL, clinicRiskSpec, type ClinicRiskRow } from './risk-chart.js';
import { withHeartbeat } from './heartbeat.js';
import type { Notifier } from './notifier.js';
import { keys, type ObjectStore } from './storage.js';

/** The warehouse's small-result query (PostgreSQL or Redshift Data API): rows as plain objects. */
export type QueryFn = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** What the report activities need: the warehouse query, the object store and (for the legacy post) the notifier. */
export interface ReportDeps {
  store: ObjectStore;
  notifier: Notifier;
  query: QueryFn;
}

/** Input of `buildDoctorRatingReport`: the pipeline's run date (YYYY-MM-DD), which names the object key. */
export interface BuildReportInput {
  runDate: string;
}

/** What `buildDoctorRatingReport` returns: small enough for history (a key and a URL, never the image). */
export interface BuiltReport {
  runDate: string;
  reportKey: string;
  /** A link people can open: REPORT_PUBLIC_BASE_URL/<key> or a presigned URL valid for 7 days. */
  reportUrl: string;
  /** Doctors in the mart (the chart shows the top {@link TOP_N}). */
  doctorsRanked: number;
  topDoctor?: { name: string; score: number };
  /** Ratings in the whole ranking by source (survey, Telegram), not only the charted doctors'. */
  ratingsBySource?: RatingsBySource;
  /** Mondays: what the reminders did last week and to date (marts.reminder_effect), when anything was compared. */
  reminderEffect?: ReminderEffectFacts;
}

/** `postDoctorRatingReport` takes the build result as is. */
export type PostReportInput = BuiltReport;

/**
 * The query behind the chart: the run date's top doctors by score plus that date's total count in one round trip.
 * `$1` is the run date: the mart keeps one ranking per `as_of_on`, and a pipeline must read its own date's even
 * while another date's dbt build runs. Plain SQL that PostgreSQL and Redshift both run.
 */
export const DOCTOR_RATING_SQL = `select doctor_id, full_name, specialty, clinic_name, rating_count, avg_rating, patients,
       billing_per_patient_amount, score, score_rank, survey_rating_count, telegram_rating_count,
       count(*) over () as doctors_ranked, sum(survey_rating_count) over () as survey_ratings,
       sum(telegram_rating_count) over () as telegram_ratings
from marts.doctor_rating
where as_of_on = cast($1 as date)
order by score_rank, doctor_id
limit ${TOP_N}`;

/**
 * The weekly reminder section: the whole-history row of marts.reminder_effect and the week that ended in the seven
 * days before the run date (`$1`, `$2` = run date - 7). Plain SQL that PostgreSQL and Redshift both run.
 */
export const REMINDER_EFFECT_SQL = `select period, period_start, period_end, reminded, holdout, cancelled, relative_risk,
       relative_risk_low, relative_risk_high, prevented_no_shows, prevented_low, prevented_high
from marts.reminder_effect
where period = 'all'
   or (period = 'week' and period_end < cast($1 as date) and period_end >= cast($2 as date))
order by period, period_end desc`;

interface ReminderEffectRow {
  period: 'week' | 'all';
  period_start: string | Date;
  period_end: string | Date;
  reminded: number | string;
  holdout: number | string;
  cancelled: number | string;
  relative_risk: number | string | null;
  relative_risk_low: number | string | null;
  relative_risk_high: number | string | null;
  prevented_no_shows: number | string | null;
  prevented_low: number | string | null;
  prevented_high: number | string | null;
}

/** A date column as YYYY-MM-DD whichever way the driver returns it. */
function isoDay(value: string | Date): string {
  return value instanceof Date ? value.toISOString().slice(0, 10) : String(value).slice(0, 10);
}

function effectPeriod(row: ReminderEffectRow): ReminderEffectPeriod {
  const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
  return {
    from: isoDay(row.period_start),
    to: isoDay(row.period_end),
    reminded: Number(row.reminded),
    holdout: Number(row.holdout),
    cancelled: Number(row.cancelled),
    relativeRisk: num(row.relative_risk),
    low: num(row.relative_risk_low),
    high: num(row.relative_risk_high),
    prevented: num(row.prevented_no_shows),
    preventedLow: num(row.prevented_low),
    preventedHigh: num(row.prevented_high),
  };
}

/** Failure type of `buildDoctorRatingReport` when the mart has no ranking for the run date (non-retryable). */
export const NO_RATING_DATA = 'NoRatingData';

type RatingQueryRow = DoctorRatingRow & {
  doctors_ranked: number | string;
  survey_ratings: number | string | null;
  telegram_ratings: number | string | null;
};

/** Report activities, built with their clients (the worker passes real ones, tests may pass a local query). */
export function createReportActivities({ store, notifier, query }: ReportDeps) {
  const deliver = createDeliverer({ store, notifier });
  return {
    /**
     * Queries the run date's ranking in `marts.doctor_rating`, renders the top doctors as a PNG and stores it at
     * `reports/dt=<runDate>/doctor-rating.png`. Idempotent: the same mart gives the same bytes at the same key,
     * so a retry overwrites the object with identical content. Query and store errors are thrown and retried.
     * No row for the run date means dbt has not built that date's ranking (the report would otherwise show an
     * empty or another date's chart): `ApplicationFailure.nonRetryable(…, 'NoRatingData')`, since retrying the
     * query cannot build it; run dbt for the date, then the report. Heartbeats on a timer (query, render and
     * upload report no progress of their own), so a worker that dies mid-report is noticed within the workflow's
     * heartbeatTimeout instead of its 10-minute start-to-close timeout.
     */
    async buildDoctorRatingReport({ runDate }: BuildReportInput): Promise<BuiltReport> {
      return withHeartbeat(
        () => ({ runDate }),
        () => buildReport(runDate),
      );
    },

    /**
     * The staff report's second chart: the scores made on `runDate` (marts.no_show_risk) summed by clinic, rendered
     * and stored at `reports/dt=<runDate>/no-show-risk.png` beside the doctor-rating chart. Returns the key, URL and
     * totals, or `undefined` when nothing was scored that day (no model yet): there is nothing to chart. Idempotent:
     * the same scores give the same bytes at the same key. Heartbeats on a timer like the doctor-rating report.
     */
    async buildNoShowRiskReport({ runDate }: BuildReportInput): Promise<RiskReportFacts | undefined> {
      return withHeartbeat(
        () => ({ runDate }),
        () => buildRiskReport(runDate),
      );
    },

    /**
     * For runs started before per-message delivery: sends the stored report to staff (Slack and the staff
     * Telegram chat) through the delivery records, one request per channel, and resolves with each channel's
     * outcome (never throws for a delivery failure). Idempotent: a retry finds the records and sends nothing again.
     */
    async postDoctorRatingReport(input: PostReportInput): Promise<NotificationResult[]> {
      const message = doctorRatingMessage(workflowIds.report(input.runDate), input);
      return Promise.all([settleLegacy('slack', message, deliver), settleLegacy('telegram', message, deliver)]);
    },
  };

  /** Query, render and store: the body of buildNoShowRiskReport. */
  async function buildRiskReport(runDate: string): Promise<RiskReportFacts | undefined> {
    const rows = await query<ClinicRiskRow>(CLINIC_RISK_SQL, [runDate]);
    if (rows.length === 0) return undefined;
    const appointmentDay = String(rows[0]?.appointment_day ?? '').slice(0, 10);
    const png = await renderSpecPngInChild(clinicRiskSpec(rows, appointmentDay));
    const reportKey = keys.riskReport(runDate);
    await store.put(reportKey, png, 'image/png');
    const sum = (f: (r: ClinicRiskRow) => number | string) => rows.reduce((n, r) => n + Number(f(r)), 0);
    return {
      runDate,
      appointmentDay,
      reportKey,
      reportUrl: await store.url(reportKey),
      clinics: rows.length,
      appointments: sum((r) => r.appointments),
      expectedNoShows: Math.round(sum((r) => r.expected_no_shows) * 10) / 10,
      highRisk: sum((r) => r.high_risk),
    };
  }

  /** Query, render and store: the body of buildDoctorRatingReport. */
  async function buildReport(runDate: string): Promise<BuiltReport> {
    const rows = await query<RatingQueryRow>(DOCTOR_RATING_SQL, [runDate]);
    if (rows.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `marts.doctor_rating has no ranking as of ${runDate}: dbt has not built the ranking for that date (run dbt for ${runDate}, then the report)`,
        NO_RATING_DATA,
      );
    }
    const doctorsRanked = Number(rows[0]?.doctors_ranked);
    const png = await renderDoctorRatingPngInChild(rows, runDate, { totalDoctors: doctorsRanked });
    const reportKey = keys.report(runDate);
    await store.put(reportKey, png, 'image/png');
    const reportUrl = await store.url(reportKey);
    const first = rows[0];
    const reminderEffect = await weeklyReminderEffect(runDate);
    return {
      runDate,
      reportKey,
      reportUrl,
      doctorsRanked,
      ...(first ? { topDoctor: { name: first.full_name, score: Number(first.score) } } : {}),
      ratingsBySource: { survey: Number(first?.survey_ratings ?? 0), telegram: Number(first?.telegram_ratings ?? 0) },
      ...(reminderEffect ? { reminderEffect } : {}),
    };
  }

  /** Mondays only (the weekly report): last week's and the whole history's rows of marts.reminder_effect. */
  async function weeklyReminderEffect(runDate: string): Promise<ReminderEffectFacts | undefined> {
    if (dayOfWeek(runDate) !== 'Monday') return undefined;
    const weekBefore = new Date(Date.parse(`${runDate}T00:00:00Z`) - 7 * 86_400_000).toISOString().slice(0, 10);
    const rows = await query<ReminderEffectRow>(REMINDER_EFFECT_SQL, [runDate, weekBefore]);
    const all = rows.find((r) => r.period === 'all');
    if (!all) return undefined;
    const week = rows.find((r) => r.period === 'week');
    return { ...(week ? { week: effectPeriod(week) } : {}), toDate: effectPeriod(all) };
  }
}
