/**
 * A stand-in for the reminder and rating workflows (issue 12, built later) for the bot's tests: it waits for the
 * patientAnswer Update as they will, accepts one answer from its own patient, and rejects everything else in the
 * validator (so the Update is refused without touching history).
 */
import { condition, defineQuery, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ActivityTypes } from '../../src/activities/index.js';
import type { PatientMessageInput, PatientMessageResult } from '../../src/activities/patient-sender.js';
import { PATIENT_ANSWER_UPDATE, type PatientAnswer } from '../../src/workflow-ids.js';

export const patientAnswer = defineUpdate<string, [PatientAnswer]>(PATIENT_ANSWER_UPDATE);
export const answersQuery = defineQuery<PatientAnswer[]>('answers');
export const finishSignal = defineSignal('finish');

/** Holds until `finish`; accepts the first answer of `patientId` only. */
export async function answerProbe(patientId: number): Promise<PatientAnswer[]> {
  const answers: PatientAnswer[] = [];
  let finished = false;
  setHandler(
    patientAnswer,
    (answer) => {
      answers.push(answer);
      return `recorded ${answer.action}`;
    },
    {
      validator: (answer) => {
        if (answer.patientId !== patientId) throw new Error('not this patient’s appointment');
        if (answers.length > 0) throw new Error('already answered');
      },
    },
  );
  setHandler(answersQuery, () => answers);
  setHandler(finishSignal, () => void (finished = true));
  await condition(() => finished);
  return answers;
}

const { sendPatientMessage } = proxyActivities<Pick<ActivityTypes, 'sendPatientMessage'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '100 ms', maximumAttempts: 5 },
});

/** One patient message through the real activity and Temporal's retry policy (429 waits retry_after). */
export async function sendOnePatientMessage(input: PatientMessageInput): Promise<PatientMessageResult> {
  return sendPatientMessage(input);
}
