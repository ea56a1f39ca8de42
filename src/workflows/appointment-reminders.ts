/**
 * Tomorrow's appointment reminders (issue 12).
 *
 *   appointmentReminders(runDate)   child of dailyPipeline, after predictNoShows scored tomorrow's schedule
 *     selectReminders → decision (reminded + holdout, with risk) in the object store and raw.reminder_events
 *     for each batch of the reminded arm: start reminder-<appointmentId> (never a second one), then continue-as-new
 *     when the history grows, so 10,000 reminders do not make one history of 40,000 events
 *
 *   appointmentReminder(facts)      reminder-<appointmentId>, one per reminded appointment
 *     sendPatientMessage once (Confirm / Cancel) → wait for the patientAnswer Update until the appointment starts
 *     (a durable timer) → record sent and confirmed / cancelled / no-answer, or undeliverable
 *
 * The reminders are started as abandoned children: they outlive the selection (and the pipeline), each waiting
 * until its appointment. Their id is the business key and the reuse policy rejects any second start, so a rerun
 * of the selection, the pipeline or a backfill sends nothing twice; the sender's delivery record covers the rest.
 */
import {
  condition,
  continueAsNew,
  defineUpdate,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { ActivityTypes } from '../activities/index.js';
import type { PatientMessageResult } from '../activities/patient-sender.js';
import type { ReminderSelection } from '../activities/reminders.js';
import {
  REMINDER_ANSWERS,
  reminderMessage,
  type ReminderAnswer,
  type ReminderEvent,
  type ReminderFacts,
  type ReminderOutcome,
} from '../domain/reminders.js';
import { PATIENT_ANSWER_UPDATE, workflowIds, type PatientAnswer } from '../workflow-ids.js';
import { appointmentRemindersInput, parseInput, reminderInput } from './input.js';
import { PATCHES } from './patches.js';

const { selectReminders, reminderBatch, recordReminderEvent } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 10, maximumInterval: '1 minute', nonRetryableErrorTypes: ['InvalidInput'] },
});

/**
 * The same insert as a local activity (reminderLocalEvents): it runs in the worker that runs the reminder's workflow
 * task, with no round trip through the task queue, and is retried by the worker (a marker in history records it).
 */
const { recordReminderEvent: recordReminderEventLocally } = proxyLocalActivities<ActivityTypes>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, maximumInterval: '30 seconds', nonRetryableErrorTypes: ['InvalidInput'] },
});

/**
 * The sender heartbeats every 5 s while it waits for the throttles and Telegram. A 429 retries after Telegram's
 * retry_after (nextRetryDelay); a refusal or bad configuration does not retry.
 */
const { sendPatientMessage } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    maximumAttempts: 20,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: ['InvalidInput', 'InvalidConfig', 'DeliveryRejected'],
  },
});

/** The Update a button press becomes (see src/bot/bot.ts). */
export const patientAnswerUpdate = defineUpdate<ReminderOutcome, [PatientAnswer]>(PATIENT_ANSWER_UPDATE);

/** Reminders started per batch (one activity reads them from the decision; each start adds 2 events). */
export const REMINDER_START_BATCH = 200;
/** The selection continues as new once its history passes this many events (Temporal's limit is 51,200). */
export const REMINDER_HISTORY_LIMIT = 2_000;

/** What appointmentReminders returns: counts only. */
export interface AppointmentRemindersResult extends ReminderSelection {
  /** Reminder workflows this run started, and those that already existed (a rerun). */
  started: number;
  existing: number;
}

/** Chooses tomorrow's reminders and starts one reminder workflow per reminded appointment; see the module comment. */
export async function appointmentReminders(rawInput: {
  runDate: string;
  resume?: unknown;
}): Promise<AppointmentRemindersResult> {
  const input = parseInput('appointmentReminders', appointmentRemindersInput, rawInput);
  const { runDate } = input;
  const selection: ReminderSelection = input.resume
    ? {
        decidedOn: runDate,
        appointmentOn: input.resume.appointmentOn,
        decisionKey: input.resume.decisionKey,
        reminded: input.resume.reminded,
        holdout: input.resume.holdout,
      }
    : await selectReminders({ runDate });
  let offset = input.resume?.offset ?? 0;
  let started = input.resume?.started ?? 0;
  let existing = input.resume?.existing ?? 0;
  const { decisionKey, appointmentOn } = selection;
  while (decisionKey && appointmentOn && offset < selection.reminded) {
    const batch = await reminderBatch({ decisionKey, offset, limit: REMINDER_START_BATCH });
    if (batch.length === 0) break;
    const outcomes = await Promise.all(
      batch.map((facts) =>
        startChild(appointmentReminder, {
          workflowId: workflowIds.reminder(facts.appointmentId),
          args: [facts],
          // Never a second reminder for an appointment, whatever the first one's end.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          parentClosePolicy: ParentClosePolicy.ABANDON,
        }).then(
          () => 'started' as const,
          (err: unknown) => {
            if (err instanceof WorkflowExecutionAlreadyStartedError) return 'existing' as const;
            throw err;
          },
        ),
      ),
    );
    started += outcomes.filter((o) => o === 'started').length;
    existing += outcomes.filter((o) => o === 'existing').length;
    offset += batch.length;
    if (offset < selection.reminded && workflowInfo().historyLength > REMINDER_HISTORY_LIMIT) {
      await continueAsNew<typeof appointmentReminders>({
        runDate,
        resume: {
          decisionKey,
          appointmentOn,
          reminded: selection.reminded,
          holdout: selection.holdout,
          offset,
          started,
          existing,
        },
      });
    }
  }
  return { ...selection, started, existing };
}

/** What one reminder ended with. */
export interface ReminderResult {
  appointmentId: number;
  outcome: ReminderOutcome;
  delivery: PatientMessageResult['status'];
}

/**
 * One appointment's reminder: sends it once, waits for Confirm or Cancel until the appointment starts, and records
 * what happened. The Update's validator refuses (without touching history) an answer from another patient, a
 * second answer, an answer after the appointment started, and unknown buttons; the bot then tells the patient the
 * request has expired. An answer may come before the workflow learns that its send succeeded: a worker that dies
 * after the message left loses the send's result until the activity runs again, and a patient who presses at once
 * can land in the same workflow task as that result, whose Updates run first. Its buttons are signed for this
 * chat, so the message reached it: the answer is kept. About 20 history events.
 */
export async function appointmentReminder(rawFacts: ReminderFacts): Promise<ReminderResult> {
  const facts = parseInput('appointmentReminder', reminderInput, rawFacts);
  const startsAt = Date.parse(facts.startsAt);
  let over = false;
  let answer: ReminderAnswer | undefined;
  setHandler(
    patientAnswerUpdate,
    (a) => {
      answer = a.action as ReminderAnswer;
      return REMINDER_ANSWERS[answer];
    },
    {
      validator: (a) => {
        if (a.patientId !== facts.patientId) throw new Error('not this patient’s appointment');
        if (!Object.hasOwn(REMINDER_ANSWERS, a.action)) throw new Error('unknown answer');
        if (answer !== undefined) throw new Error('already answered');
        if (over || Date.now() >= startsAt) throw new Error('the appointment has started');
      },
    },
  );
  // Decided once, at the start: a run that began before the patch replays its activities for both events.
  const recordEvent = patched(PATCHES.reminderLocalEvents) ? recordReminderEventLocally : recordReminderEvent;
  const record = (event: ReminderEvent) => recordEvent({ facts, event });

  // In the patient's language (a decision stored before languages has none: Portuguese, the network's).
  const message = reminderMessage(facts, facts.language ?? 'pt');
  const delivery = await sendPatientMessage({
    scope: workflowIds.reminder(facts.appointmentId),
    name: 'reminder',
    patientId: facts.patientId,
    text: message.text,
    buttons: {
      kind: 'r',
      appointmentId: facts.appointmentId,
      options: [
        { action: 'confirm', label: message.confirm },
        { action: 'cancel', label: message.cancel },
      ],
    },
  });
  let outcome: ReminderOutcome = 'undeliverable';
  // `unknown`: an attempt was cut off while sending, so it may have arrived; it is treated as sent (never resent).
  // An answer already taken proves it arrived whatever the sender concluded.
  if (delivery.status === 'delivered' || delivery.status === 'unknown' || answer !== undefined) {
    await record('sent');
    const left = startsAt - Date.now();
    if (left > 0 && answer === undefined) await condition(() => answer !== undefined, left);
    outcome = answer === undefined ? 'no-answer' : REMINDER_ANSWERS[answer];
  }
  // Closed before the outcome is recorded, on every path: an answer taken now would be told "received" and lost.
  over = true;
  await record(outcome);
  return { appointmentId: facts.appointmentId, outcome, delivery: delivery.status };
}
