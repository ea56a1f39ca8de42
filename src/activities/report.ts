/**
 * The doctor-rating report and generic notification activities.
 *
 * The report is two activities on purpose: `buildDoctorRatingReport` queries the mart, renders the chart and
 * stores the PNG; `postDoctorRatingReport` posts it. A Slack or Telegram hiccup then retries only the posting,
 * never the query and render. Both pass only the object key and URL through history, never the image.
 */
import type { Readable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import type { NotificationResult, SlackMessage } from '../domain/types.js';
import { renderDoctorRatingPng, TOP_N, type DoctorRatingRow } from './charts.js';
import type { Notifier } from './notify.js';
import { keys, type ObjectStore } from './storage.js';

/** The warehouse's small-result query (PostgreSQL or Redshift Data API): rows as plain objects. */
export type QueryFn = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** What the report activities need: the Slack setting (to decide on the image block) and the clients. */
export interface ReportDeps {
  config: Pick<Config, 'slack'>;
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
}

/** `postDoctorRatingReport` takes the build result as is. */
export type PostReportInput = BuiltReport;

/**
 * The query behind the chart: the run date's top doctors by score plus that date's total count in one round trip.
 * `$1` is the run date: the mart keeps one ranking per `as_of_on`, and a pipeline must read its own date's even
 * while another date's dbt build runs. Plain SQL that PostgreSQL and Redshift both run.
 */
export const DOCTOR_RATING_SQL = `select doctor_id, full_name, specialty, clinic_name, rating_count, avg_rating, patients,
       billing_per_patient_amount, score, score_rank, count(*) over () as doctors_ranked
from marts.doctor_rating
where as_of_on = cast($1 as date)
order by score_rank, doctor_id
limit ${TOP_N}`;

/** Failure type of `buildDoctorRatingReport` when the mart has no ranking for the run date (non-retryable). */
export const NO_RATING_DATA = 'NoRatingData';

type RatingQueryRow = DoctorRatingRow & { doctors_ranked: number | string };

/** Whether a URL's host can plausibly be fetched from the internet (Slack downloads image_url itself). */
function isPublicUrl(raw: string): boolean {
  let host: string;
  try {
    host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return !(
    host === 'localhost' ||
    host === '::1' ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    host.endsWith('.local') ||
    host.endsWith('.internal')
  );
}

/**
 * The Slack Block Kit message for a built report. The image block is included when Slack can fetch the URL
 * (a public host, or a webhook that is itself local, as in tests); Slack rejects the whole message with
 * `invalid_blocks` when it cannot download an image, so a private URL becomes a plain link instead.
 */
export function doctorRatingSlackMessage(report: BuiltReport, webhookUrl?: string): SlackMessage {
  const title = `Doctor rating — ${report.runDate}`;
  const top = report.topDoctor
    ? `*Top doctor:* ${report.topDoctor.name} (score ${report.topDoctor.score.toFixed(1)})`
    : '*Top doctor:* none yet (no rated doctors)';
  const summary = `${top}\n*Doctors ranked:* ${report.doctorsRanked}\n<${report.reportUrl}|Open the chart>`;
  const imageOk = isPublicUrl(report.reportUrl) || (webhookUrl !== undefined && !isPublicUrl(webhookUrl));
  return {
    name: 'doctor-rating',
    text: `${title}: ${report.topDoctor ? `top doctor ${report.topDoctor.name}` : 'no rated doctors'}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title, emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: summary } },
      ...(imageOk
        ? [
            {
              type: 'image' as const,
              image_url: report.reportUrl,
              alt_text: `Top ${TOP_N} doctors by score, ${report.runDate}`,
            },
          ]
        : []),
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `Health Synth daily pipeline · run ${report.runDate} · \`${report.reportKey}\`` },
        ],
      },
    ],
  };
}

/** The Telegram caption for a built report (plain text; Telegram allows 1024 characters). */
export function doctorRatingCaption(report: BuiltReport): string {
  const top = report.topDoctor
    ? `Top doctor: ${report.topDoctor.name} (score ${report.topDoctor.score.toFixed(1)})`
    : 'No rated doctors yet';
  return `Doctor rating — ${report.runDate}\n${top}\nDoctors ranked: ${report.doctorsRanked}`;
}

async function toBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * Report activities, built with their clients (the worker passes real ones, tests may pass a local query).
 * Give `postDoctorRatingReport` (and `notify`) a startToCloseTimeout of at least 5 minutes: the notifier itself
 * retries transient failures (worst case about 4.5 minutes per channel, channels in parallel) before `failed`.
 */
export function createReportActivities({ config, store, notifier, query }: ReportDeps) {
  return {
    /**
     * Queries the run date's ranking in `marts.doctor_rating`, renders the top doctors as a PNG and stores it at
     * `reports/dt=<runDate>/doctor-rating.png`. Idempotent: the same mart gives the same bytes at the same key,
     * so a retry overwrites the object with identical content. Query and store errors are thrown and retried.
     * No row for the run date means dbt has not built that date's ranking (the report would otherwise show an
     * empty or another date's chart): `ApplicationFailure.nonRetryable(…, 'NoRatingData')`, since retrying the
     * query cannot build it; run dbt for the date, then the report.
     */
    async buildDoctorRatingReport({ runDate }: BuildReportInput): Promise<BuiltReport> {
      const rows = await query<RatingQueryRow>(DOCTOR_RATING_SQL, [runDate]);
      if (rows.length === 0) {
        throw ApplicationFailure.nonRetryable(
          `marts.doctor_rating has no ranking as of ${runDate}: dbt has not built the ranking for that date (run dbt for ${runDate}, then the report)`,
          NO_RATING_DATA,
        );
      }
      const doctorsRanked = Number(rows[0]?.doctors_ranked);
      const png = await renderDoctorRatingPng(rows, runDate, { totalDoctors: doctorsRanked });
      const reportKey = keys.report(runDate);
      await store.put(reportKey, png, 'image/png');
      const reportUrl = await store.url(reportKey);
      const first = rows[0];
      return {
        runDate,
        reportKey,
        reportUrl,
        doctorsRanked,
        ...(first ? { topDoctor: { name: first.full_name, score: Number(first.score) } } : {}),
      };
    },

    /**
     * Posts the stored report: a Block Kit message to Slack (with the chart as an image block) and the PNG itself
     * to Telegram. Never throws for a notification failure: each channel's outcome is in the result, so a
     * delivered Slack message is not posted twice when only Telegram failed. Throws (and retries) only when the
     * PNG cannot be read from the object store.
     */
    async postDoctorRatingReport(input: PostReportInput): Promise<NotificationResult[]> {
      const png = await toBuffer(await store.get(input.reportKey));
      return Promise.all([
        notifier.slack(doctorRatingSlackMessage(input, config.slack.webhookUrl)),
        notifier.telegramPhoto(png, doctorRatingCaption(input), 'doctor-rating'),
      ]);
    },
  };
}

/** Input of the generic `notify` activity: any combination of channels; the photo travels as an object key. */
export interface NotifyInput {
  slack?: SlackMessage;
  telegramText?: string;
  /** A PNG already in the object store, sent to Telegram with a caption. */
  telegramPhoto?: { key: string; caption: string };
  /** Label for Telegram logs and outbox files. Default: the Slack message's name, else "message". */
  name?: string;
}

/**
 * Generic notification activities for alerts, run summaries and the weekend notice.
 */
export function createNotifyActivities({ notifier, store }: { notifier: Notifier; store: ObjectStore }) {
  return {
    /**
     * Sends whichever of Slack message, Telegram text and Telegram photo the input names, in parallel, and returns
     * one result per channel call. Never throws for a delivery failure (see each result's status), so Temporal does
     * not resend what was delivered. The photo is read from the store before anything is sent: a store error
     * throws, and the retry starts clean.
     */
    async notify(input: NotifyInput): Promise<NotificationResult[]> {
      const name = input.name ?? input.slack?.name ?? 'message';
      const photo = input.telegramPhoto ? await toBuffer(await store.get(input.telegramPhoto.key)) : undefined;
      const sends: Promise<NotificationResult>[] = [];
      if (input.slack) sends.push(notifier.slack(input.slack));
      if (input.telegramText !== undefined) sends.push(notifier.telegramText(input.telegramText, name));
      if (photo && input.telegramPhoto) sends.push(notifier.telegramPhoto(photo, input.telegramPhoto.caption, name));
      return Promise.all(sends);
    },
  };
}
