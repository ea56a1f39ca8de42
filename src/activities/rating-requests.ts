/**
 * The rating requests' warehouse side (issue 12): which attended appointments of a day get a request, the question
 * for one of them, and its outcome in `raw.rating_requests`.
 *
 * Contacts (`raw.patient_contacts`) are kept in the PostgreSQL warehouse only for now (src/bot/contacts.ts), so on
 * Redshift no appointment is picked and nothing is asked.
 */
import { ApplicationFailure } from '@temporalio/common';
import { createContactStore, PATIENT_CONTACTS, type ContactStore } from '../bot/contacts.js';
import { cleanComment, openComment } from '../bot/comment.js';
import { commentInvitation, ratingQuestion, RATING_OPTIONS } from '../bot/texts.js';
import type { Config } from '../config.js';
import { RATING_REQUESTS, RATING_REQUEST_STATUSES, type RatingRequestStatus } from '../domain/rating-requests.js';
import type { Warehouse } from './warehouse/index.js';
import { forgettingOnMissing, setupOnce } from './warehouse/setup-once.js';

/** At most this many appointments per pick: the page a `ratingRequests` run starts children for. */
export const MAX_RATING_PICK = 1000;

export interface PickRatingRequestsInput {
  runDate: string;
  /** Only appointments with a larger id (the previous page's last); 0 for the first page. */
  afterAppointmentId: number;
  limit: number;
}

/** One appointment to ask about: ids only (no chat id, no name). */
export interface RatingCandidate {
  appointmentId: number;
  patientId: number;
}

export interface RatingQuestion {
  text: string;
  options: { action: string; label: string }[];
  /** The invitation to comment after a rating, in the same language (requests started after patch rating-comment). */
  commentInvitation: string;
}

/** The question's input: whose appointment, and (for the comment invitation) the comment window in whole hours. */
export interface RatingQuestionInput extends RatingCandidate {
  commentWindowHours?: number;
  /**
   * The appointment's day (its batch): the lookup then reads that batch through the mart's batch_on index.
   * Without it (requests started before it was passed) it finds the appointment by id alone, which reads the whole
   * mart: about 0.35 s per request with seven medium days, growing with history.
   */
  appointmentDay?: string;
}

export interface RecordRatingCommentInput {
  appointmentId: number;
  patientId: number;
  /** The comment as the bot sealed it (src/bot/comment.ts): opened here, never in the workflow. */
  sealedComment: string;
}

export interface RecordRatingInput {
  appointmentId: number;
  patientId: number;
  appointmentDay: string;
  status: RatingRequestStatus;
  rating?: number;
  /** ISO time of the press (the workflow's clock). */
  answeredAt?: string;
}

export interface RatingRequestDeps {
  config: Pick<Config, 'warehouse'> & Partial<Pick<Config, 'bot'>>;
  warehouse: Pick<Warehouse, 'kind' | 'query'>;
  /** Default: the warehouse's raw.patient_contacts, opened on first use. */
  contacts?: ContactStore;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The rating-request activities; see the module comment. */
export function createRatingRequestActivities(deps: RatingRequestDeps) {
  let contacts = deps.contacts;
  /** The contacts table may not exist yet (no patient ever linked): make it, so the pick's join finds none. */
  const contactsTable = setupOnce(() => (contacts ??= createContactStore(deps.config)).ensureTable());
  const contactsReady = contactsTable.ready;

  return forgettingOnMissing(contactsTable, {
    /**
     * The next page of `runDate`'s attended appointments (marts.appointments, not a no-show) whose patient is
     * linked and not opted out, by appointment id. Read-only, so a retry returns the same page (unless a patient
     * linked or opted out in between, which is the point of reading it now).
     */
    async pickRatingRequests(input: PickRatingRequestsInput): Promise<RatingCandidate[]> {
      if (!DATE.test(input.runDate))
        throw ApplicationFailure.nonRetryable('runDate must be YYYY-MM-DD', 'InvalidInput');
      const limit = Math.min(Math.max(1, Math.floor(input.limit)), MAX_RATING_PICK);
      if (deps.warehouse.kind !== 'postgres') return [];
      await contactsReady();
      const rows = await deps.warehouse.query<{ appointment_id: number; patient_id: number }>(
        `select cast(a.appointment_id as bigint) as appointment_id, c.patient_id
         from marts.appointments a
         join ${PATIENT_CONTACTS} c on c.patient_id = cast(a.patient_id as bigint)
         where a.batch_on = cast($1 as date) and a.appointment_on = cast($1 as date)
           and not a.is_no_show and c.opted_out_at is null
           and cast(a.appointment_id as bigint) > $2
         order by 1
         limit $3`,
        [input.runDate, input.afterAppointmentId, limit],
      );
      return rows.map((r) => ({ appointmentId: Number(r.appointment_id), patientId: Number(r.patient_id) }));
    },

    /**
     * The question for one appointment, in its patient's language, naming the doctor: only this patient's own
     * appointment (the doctor is read through the appointment and the patient id must match). Read-only.
     */
    async ratingRequestQuestion(input: RatingQuestionInput): Promise<RatingQuestion> {
      const day = input.appointmentDay;
      if (day !== undefined && !DATE.test(day))
        throw ApplicationFailure.nonRetryable('appointmentDay must be YYYY-MM-DD', 'InvalidInput');
      await contactsReady();
      const [row] = await deps.warehouse.query<{ full_name: string; language: string | null }>(
        `select d.full_name, c.language
         from marts.appointments a
         join staging.stg_doctors d on d.doctor_id = a.doctor_id
         left join ${PATIENT_CONTACTS} c on c.patient_id = cast(a.patient_id as bigint)
         where cast(a.appointment_id as bigint) = $1 and cast(a.patient_id as bigint) = $2
           ${day === undefined ? '' : 'and a.batch_on = cast($3 as date) and a.appointment_on = cast($3 as date)'}`,
        day === undefined ? [input.appointmentId, input.patientId] : [input.appointmentId, input.patientId, day],
      );
      if (!row) {
        throw ApplicationFailure.nonRetryable(
          `appointment ${input.appointmentId} of patient ${input.patientId} is not in marts.appointments`,
          'InvalidInput',
        );
      }
      const language = row.language === 'en' ? 'en' : 'pt';
      return {
        text: ratingQuestion(language, row.full_name),
        options: [...RATING_OPTIONS],
        commentInvitation: commentInvitation(language, input.commentWindowHours ?? 24),
      };
    },

    /**
     * Writes the request's outcome to raw.rating_requests once: a row that is already there (a retry, or a second
     * workflow for the appointment) is left as it is. Returns whether this call wrote it.
     */
    async recordRatingOutcome(input: RecordRatingInput): Promise<{ recorded: boolean }> {
      if (!RATING_REQUEST_STATUSES.includes(input.status) || !DATE.test(input.appointmentDay)) {
        throw ApplicationFailure.nonRetryable('bad rating outcome', 'InvalidInput');
      }
      const rated = input.status === 'rated';
      if (rated && !(Number.isInteger(input.rating) && input.rating! >= 1 && input.rating! <= 5 && input.answeredAt)) {
        throw ApplicationFailure.nonRetryable('a rated outcome needs a rating 1–5 and answeredAt', 'InvalidInput');
      }
      // Redshift cannot bind null, so the absent values are written as literals.
      const params: unknown[] = [input.appointmentId, input.patientId, input.appointmentDay, input.status];
      const rating = rated ? `$${params.push(input.rating)}` : 'null';
      const answeredAt = rated ? `cast($${params.push(input.answeredAt)} as timestamp)` : 'null';
      const rows = await deps.warehouse.query<{ appointment_id: number }>(
        `insert into ${RATING_REQUESTS}
           (appointment_id, patient_id, appointment_day, status, rating, comment, answered_at, recorded_at)
         select $1, $2, cast($3 as date), $4, ${rating}, null, ${answeredAt}, current_timestamp
         where not exists (select 1 from ${RATING_REQUESTS} where appointment_id = $1)
         ${deps.warehouse.kind === 'postgres' ? 'on conflict (appointment_id) do nothing returning appointment_id' : ''}`,
        params,
      );
      return { recorded: deps.warehouse.kind === 'postgres' ? rows.length > 0 : true };
    },

    /**
     * Writes a rated request's comment into its raw.rating_requests row: opens the sealed text (TELEGRAM_LINK_SECRET),
     * cleans and caps it again, and sets `comment` only while it is null, so a retry (or a second comment) changes
     * nothing and returns recorded: false. Failures never quote the comment.
     */
    async recordRatingComment(input: RecordRatingCommentInput): Promise<{ recorded: boolean }> {
      const secret = deps.config.bot?.linkSecret;
      if (!secret) throw ApplicationFailure.nonRetryable('TELEGRAM_LINK_SECRET is not set', 'InvalidConfig');
      const opened = openComment(input.sealedComment, input.appointmentId, secret);
      if (opened === undefined) {
        throw ApplicationFailure.nonRetryable('the sealed comment does not open for this appointment', 'InvalidInput');
      }
      const { text } = cleanComment(opened);
      if (!text) return { recorded: false };
      const rows = await deps.warehouse.query<{ appointment_id: number }>(
        `update ${RATING_REQUESTS} set comment = $3
         where appointment_id = $1 and patient_id = $2 and status = 'rated' and comment is null
         ${deps.warehouse.kind === 'postgres' ? 'returning appointment_id' : ''}`,
        [input.appointmentId, input.patientId, text],
      );
      return { recorded: deps.warehouse.kind === 'postgres' ? rows.length > 0 : true };
    },
  });
}
