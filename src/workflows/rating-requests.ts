/**
 * Patients rate their visits on Telegram (issue 12).
 *
 *   dailyPipeline(D), after dbt ─ ratingRequests(D): D's attended appointments of linked, not opted-out patients,
 *       a page of {@link RATING_PAGE} at a time (continue-as-new between pages, so thousands keep each run's history
 *       small) → one abandoned child `ratingRequest-<appointmentId>` each, started with REJECT_DUPLICATE: an
 *       appointment is asked about once, ever, however often the date is rerun.
 *   ratingRequest(appointment): "How was your visit with Dr …?" with 1–5 star buttons (sendPatientMessage: at most
 *       once, throttled) → waits for the patientAnswer Update on a durable timer (72 hours) → writes the rating, or
 *       "no-response", or "undeliverable" (not linked, opted out, blocked) to raw.rating_requests, once.
 *
 * The optional comment is not collected yet. A rating request's history is about 25 events.
 */
import {
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { z } from 'zod';
import type { ActivityTypes } from '../activities/index.js';
import type { RatingRequestStatus } from '../domain/rating-requests.js';
import { workflowIds } from '../workflow-ids.js';
import { checkDateInput, isoDate, parseInput } from './input.js';
import { quickActivities } from './quick-activities.js';
import { patientAnswerUpdate } from './signals.js';

/** How long a patient has to answer. */
export const RATING_ANSWER_WINDOW_MS = 72 * 60 * 60 * 1000;

/** Children started per ratingRequests run (then it continues as new): ~2 events each keeps a run under 1,000. */
export const RATING_PAGE = 250;

const { pickRatingRequests, ratingRequestQuestion } = quickActivities;

/** Sending waits for the bot's and the chat's throttle and honours 429 retry_after through Temporal's retries. */
const { sendPatientMessage } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    maximumAttempts: 20,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['InvalidInput', 'InvalidConfig'],
  },
});

const { recordRatingOutcome } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 20, maximumInterval: '1 minute', nonRetryableErrorTypes: ['InvalidInput'] },
});

const answerWindow = z
  .number()
  .int()
  .positive()
  .max(RATING_ANSWER_WINDOW_MS)
  .optional()
  .describe('ms to wait for the answer (tests); default 72 hours');

const ratingRequestsInput = z.strictObject({
  runDate: isoDate,
  afterAppointmentId: z.number().int().nonnegative().optional(),
  requested: z.number().int().nonnegative().optional(),
  alreadyRequested: z.number().int().nonnegative().optional(),
  answerWindowMs: answerWindow,
});
export type RatingRequestsInput = z.input<typeof ratingRequestsInput>;

/** How many requests a date started, and how many it found already started (a rerun). */
export interface RatingRequestsResult {
  runDate: string;
  requested: number;
  alreadyRequested: number;
}

/** Starts one ratingRequest per attended appointment of a linked patient on `runDate`; see the module comment. */
export async function ratingRequests(rawInput: RatingRequestsInput): Promise<RatingRequestsResult> {
  const input = parseInput('ratingRequests', ratingRequestsInput, rawInput);
  const { runDate } = input;
  if (input.afterAppointmentId === undefined) await checkDateInput('ratingRequests', 'runDate', runDate);
  const result: RatingRequestsResult = {
    runDate,
    requested: input.requested ?? 0,
    alreadyRequested: input.alreadyRequested ?? 0,
  };
  const page = await pickRatingRequests({
    runDate,
    afterAppointmentId: input.afterAppointmentId ?? 0,
    limit: RATING_PAGE,
  });
  const started = await Promise.all(
    page.map(({ appointmentId, patientId }) =>
      startChild(ratingRequest, {
        workflowId: workflowIds.ratingRequest(appointmentId),
        args: [
          {
            appointmentId,
            patientId,
            appointmentDay: runDate,
            ...(input.answerWindowMs !== undefined ? { answerWindowMs: input.answerWindowMs } : {}),
          },
        ],
        // Never twice: a closed request of any outcome refuses a new start, a running one too.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        // The request outlives this run (it waits up to 72 hours; this run continues as new or completes).
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }).then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
          throw err;
        },
      ),
    ),
  );
  result.requested += started.filter(Boolean).length;
  result.alreadyRequested += started.filter((s) => !s).length;
  const last = page.at(-1);
  if (page.length === RATING_PAGE && last) {
    await continueAsNew<typeof ratingRequests>({
      ...input,
      afterAppointmentId: last.appointmentId,
      requested: result.requested,
      alreadyRequested: result.alreadyRequested,
    });
  }
  return result;
}

const ratingRequestInput = z.strictObject({
  appointmentId: z.number().int().positive(),
  patientId: z.number().int().positive(),
  appointmentDay: isoDate,
  answerWindowMs: answerWindow,
});
export type RatingRequestInput = z.input<typeof ratingRequestInput>;

/** How one request ended, as recorded in raw.rating_requests. */
export interface RatingRequestResult {
  appointmentId: number;
  status: RatingRequestStatus;
  rating?: number;
  /** The sender's outcome: delivered, unknown (may have arrived: the answer is awaited), not-linked, opted-out, blocked. */
  delivery: string;
}

/** One appointment's rating request; see the module comment. */
export async function ratingRequest(rawInput: RatingRequestInput): Promise<RatingRequestResult> {
  const input = parseInput('ratingRequest', ratingRequestInput, rawInput);
  const { appointmentId, patientId } = input;
  let waiting = false;
  let answer: { rating: number; answeredAt: string } | undefined;
  setHandler(
    patientAnswerUpdate,
    ({ action }) => {
      answer = { rating: Number(action), answeredAt: new Date().toISOString() };
      return `recorded ${action}`;
    },
    {
      // Refused without a trace in history: the bot tells the patient the request has expired.
      validator: (a) => {
        if (a.patientId !== patientId) throw new Error('not this patient’s appointment');
        if (!waiting) throw new Error('not waiting for an answer');
        if (answer) throw new Error('already answered');
        if (!/^[1-5]$/.test(a.action)) throw new Error('not a rating');
      },
    },
  );

  const question = await ratingRequestQuestion({ appointmentId, patientId });
  const sent = await sendPatientMessage({
    scope: workflowInfo().workflowId,
    name: 'rating-request',
    patientId,
    text: question.text,
    buttons: { kind: 'q', appointmentId, options: question.options },
  });
  let status: RatingRequestStatus = 'undeliverable';
  if (sent.status === 'delivered' || sent.status === 'unknown') {
    waiting = true;
    await condition(() => answer !== undefined, input.answerWindowMs ?? RATING_ANSWER_WINDOW_MS);
    waiting = false;
    status = answer ? 'rated' : 'no-response';
  }
  await recordRatingOutcome({
    appointmentId,
    patientId,
    appointmentDay: input.appointmentDay,
    status,
    ...(answer ? { rating: answer.rating, answeredAt: answer.answeredAt } : {}),
  });
  return { appointmentId, status, ...(answer ? { rating: answer.rating } : {}), delivery: sent.status };
}
