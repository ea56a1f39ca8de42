/**
 * doctorRatingReport: query the doctor_rating mart, render the chart, store it, then post it to
 * Slack and Telegram. Rendering and posting are separate activities so a notification retry never
 * re-renders, and a failed notification never fails the report (its result says so).
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import type { ReportResult } from '../domain/types.js';
import { checkDateInput, DATE_CHECKS_PATCH, parseInput, runDateInput } from './input.js';

const { buildDoctorRatingReport } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput', 'NoRatingData', 'ConfigError'] },
});

const { postDoctorRatingReport } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

export async function doctorRatingReport(rawInput: { runDate: string }): Promise<ReportResult> {
  const { runDate } = parseInput('doctorRatingReport', runDateInput, rawInput);
  if (patched(DATE_CHECKS_PATCH)) await checkDateInput('doctorRatingReport', 'runDate', runDate);
  const built = await buildDoctorRatingReport({ runDate });
  const notifications = await postDoctorRatingReport(built);
  return { ...built, notifications };
}
