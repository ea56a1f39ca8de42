/**
 * doctorRatingReport: query the doctor_rating mart, render the chart, store it, then send it to staff
 * (Slack and the staff Telegram chat). Rendering and sending are separate activities so a delivery retry
 * never re-renders, and a failed delivery never fails the report (its result says so). The chart is sent
 * at most once per date: its delivery records are keyed by `doctor-rating-report-<date>`.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import { doctorRatingMessage } from '../domain/messages.js';
import type { ReportResult } from '../domain/types.js';
import { workflowIds } from '../workflow-ids.js';
import { sendToStaff } from './deliver.js';
import { checkDateInput, parseInput, runDateInput } from './input.js';
import { PATCHES } from './patches.js';

/** It heartbeats on a timer, so a worker that dies mid-report is noticed within 20 s, not at the 10-minute timeout. */
const { buildDoctorRatingReport } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput', 'NoRatingData', 'ConfigError'] },
});

/** The posting activity of runs started before PATCHES.perMessageDelivery (kept for their replay). */
const { postDoctorRatingReport } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

export async function doctorRatingReport(rawInput: { runDate: string }): Promise<ReportResult> {
  const { runDate } = parseInput('doctorRatingReport', runDateInput, rawInput);
  if (patched(PATCHES.dateChecks)) await checkDateInput('doctorRatingReport', 'runDate', runDate);
  const built = await buildDoctorRatingReport({ runDate });
  const notifications = patched(PATCHES.perMessageDelivery)
    ? await sendToStaff(doctorRatingMessage(workflowIds.report(runDate), built))
    : await postDoctorRatingReport(built);
  return { ...built, notifications };
}
