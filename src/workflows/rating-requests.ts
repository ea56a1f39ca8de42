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
 *   Then (patch rating-comment), once rated and recorded: an invitation to comment (ForceReply, a second message
 *       `comment-invite`) → waits for the patientComment Update on a durable timer (24 hours) → writes the comment
 *       into the same raw.rating_requests row. The comment arrives sealed by the bot (src/bot/comment.ts) and is
 *       opened only by recordRatingComment, so histories never hold it in the clear, with or without the codec.
 *
 * Behind the same patch the rating and the comment are written by local activities. A rating request's history is
 * about 30 events when rated without a comment, about 45 with one (under 50).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { z } from 'zod';
import type { ActivityTypes } from '../activities/index.js';
import {
  RATING_COMMENT_WINDOW_MS,
  SEALED_COMMENT_MAX_CHARS,
  type RatingRequestStatus,
} from '../domain/rating-requests.js';
import { workflowIds } from '../workflow-ids.js';
import { checkDateInput, isoDate, parseInput } from './input.js';
import { quickActivities } from './quick-activities.js';
import { PATCHES } from './patches.js';
import { patientAnswerUpdate, patientCommentUpdate } from './signals.js';

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

/**
 * Requests started after patch rating-comment write the rating and the comment with local activities (one insert or
 * update each): a marker and no task-queue round trip, which keeps a rated and commented request under 50 events.
 */
const { recordRatingOutcome: recordRatingOutcomeLocally, recordRatingComment: recordRatingCommentLocally } =
  proxyLocalActivities<ActivityTypes>({
    startToCloseTimeout: '1 minute',
    retry: {
      maximumAttempts: 10,
      maximumInterval: '30 seconds',
      nonRetryableErrorTypes: ['InvalidInput', 'InvalidConfig'],
    },
  });

const answerWindow = z
  .number()
  .int()
  .positive()
  .max(RATING_ANSWER_WINDOW_MS)
  .optional()
  .describe('ms to wait for the answer (tests); default 72 hours');

const commentWindow = z
  .number()
  .int()
  .positive()
  .max(RATING_COMMENT_WINDOW_MS)
  .optional()
  .describe('ms to wait for a comment after the rating (tests); default 24 hours');

const ratingRequestsInput = z.strictObject({
  runDate: isoDate,
  afterAppointmentId: z.number().int().nonnegative().optional(),
  requested: z.number().int().nonnegative().optional(),
  alreadyRequested: z.number().int().nonnegative().optional(),
  answerWindowMs: answerWindow,
  commentWindowMs: commentWindow,
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
            ...(input.commentWindowMs !== undefined ? { commentWindowMs: input.commentWindowMs } : {}),
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
  commentWindowMs: commentWindow,
});
export type RatingRequestInput = z.input<typeof ratingRequestInput>;

/** How one request ended, as recorded in raw.rating_requests. */
export interface RatingRequestResult {
  appointmentId: number;
  status: RatingRequestStatus;
  rating?: number;
  /** The sender's outcome: delivered, unknown (may have arrived: the answer is awaited), not-linked, opted-out, blocked. */
  delivery: string;
  /** Rated requests started after patch rating-comment: whether a comment was written to the row. */
  commented?: boolean;
  /** Set when a comment came but was not kept: it did not open with the worker's TELEGRAM_LINK_SECRET. */
  commentDropped?: 'unreadable';
}

/** One appointment's rating request; see the module comment. */
export async function ratingRequest(rawInput: RatingRequestInput): Promise<RatingRequestResult> {
  const input = parseInput('ratingRequest', ratingRequestInput, rawInput);
  const { appointmentId, patientId } = input;
  // Decided once, before the first command: a request that was already running at the deploy keeps the old path.
  const withComment = patched(PATCHES.ratingComment);
  const commentWindowMs = input.commentWindowMs ?? RATING_COMMENT_WINDOW_MS;
  /** The answer window has ended (or the question could not be delivered): a star pressed now is refused. */
  let closed = false;
  let answer: { rating: number; answeredAt: string } | undefined;
  let waitingForComment = false;
  let sealedComment: string | undefined;
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
        // Taken even before the send's result is known (see appointmentReminder: a crash, or a press landing in
        // the same workflow task as the send's result, whose Updates run first).
        if (closed) throw new Error('not waiting for an answer');
        if (answer) throw new Error('already answered');
        if (!/^[1-5]$/.test(a.action)) throw new Error('not a rating');
      },
    },
  );
  setHandler(
    patientCommentUpdate,
    (c) => {
      sealedComment = c.sealedComment;
      return 'comment received';
    },
    {
      // Refused without a trace in history (the payload of a refused Update is not kept): the bot says "expired".
      validator: (c) => {
        if (c.patientId !== patientId) throw new Error('not this patient’s appointment');
        if (!answer) throw new Error('not rated yet');
        if (sealedComment !== undefined) throw new Error('already commented');
        if (!waitingForComment) throw new Error('not waiting for a comment');
        if (
          typeof c.sealedComment !== 'string' ||
          !c.sealedComment ||
          c.sealedComment.length > SEALED_COMMENT_MAX_CHARS
        )
          throw new Error('not a sealed comment');
      },
    },
  );

  // The appointment's day bounds the lookup to its batch. Replay compares an activity's type, not its input, so
  // adding it needs no patch.
  const appointmentDay = input.appointmentDay;
  const question = await ratingRequestQuestion(
    withComment
      ? {
          appointmentId,
          patientId,
          appointmentDay,
          commentWindowHours: Math.max(1, Math.round(commentWindowMs / 3_600_000)),
        }
      : { appointmentId, patientId, appointmentDay },
  );
  const sent = await sendPatientMessage({
    scope: workflowInfo().workflowId,
    name: 'rating-request',
    patientId,
    text: question.text,
    buttons: { kind: 'q', appointmentId, options: question.options },
  });
  let status: RatingRequestStatus = 'undeliverable';
  // An answer already taken proves the question arrived whatever the sender concluded.
  if (sent.status === 'delivered' || sent.status === 'unknown' || answer !== undefined) {
    await condition(() => answer !== undefined, input.answerWindowMs ?? RATING_ANSWER_WINDOW_MS);
    status = answer ? 'rated' : 'no-response';
  }
  closed = true;
  await (withComment ? recordRatingOutcomeLocally : recordRatingOutcome)({
    appointmentId,
    patientId,
    appointmentDay: input.appointmentDay,
    status,
    ...(answer ? { rating: answer.rating, answeredAt: answer.answeredAt } : {}),
  });
  const result: RatingRequestResult = {
    appointmentId,
    status,
    ...(answer ? { rating: answer.rating } : {}),
    delivery: sent.status,
  };
  if (!withComment || !answer) return result;

  // The rating is recorded; now the optional comment, which never delays it. A comment is taken from the moment the
  // invitation may have left: its reference is signed for the patient's chat, so a reply proves it arrived, and the
  // reply can come before the send's result does (a worker that died in between, a slow workflow task).
  waitingForComment = true;
  const invited = await sendPatientMessage({
    scope: workflowInfo().workflowId,
    name: 'comment-invite',
    patientId,
    text: question.commentInvitation,
    replyTo: { appointmentId },
  });
  if (invited.status === 'delivered' || invited.status === 'unknown') {
    await condition(() => sealedComment !== undefined, commentWindowMs);
  }
  waitingForComment = false;
  result.commented = sealedComment !== undefined;
  if (sealedComment !== undefined) {
    try {
      await recordRatingCommentLocally({ appointmentId, patientId, sealedComment });
    } catch (err) {
      // A comment that does not open (sealed under another TELEGRAM_LINK_SECRET than this worker's, as during a
      // rotation, or not by the bot at all) can never be read: the rating stands and the request completes without
      // it. Failing would leave a red workflow that no retry or rerun mends. Runs that failed here before the patch
      // replay their failure.
      if (!isUnreadableComment(err) || !patched(PATCHES.unreadableComment)) throw err;
      log.warn('ratingRequest: the comment does not open with the worker’s TELEGRAM_LINK_SECRET and is dropped');
      result.commented = false;
      result.commentDropped = 'unreadable';
    }
  }
  return result;
}

/**
 * recordRatingComment's refusal of a sealed comment that does not open for its appointment. A local activity's
 * failure reaches the workflow as the activity's own ApplicationFailure (a scheduled one's would be wrapped in an
 * ActivityFailure; both are accepted).
 */
function isUnreadableComment(err: unknown): boolean {
  const failure = err instanceof ActivityFailure ? err.cause : err;
  return failure instanceof ApplicationFailure && failure.type === 'InvalidInput';
}
