/**
 * weekendNotice: tells patients, in their Telegram chat only, that clinics are closed, with the emergency
 * number. At most once per date, twice over: the workflow id `weekend-notice-<date>` makes a schedule
 * catch-up or a second trigger find the existing run, and the delivery record of the date
 * (`deliveries/weekend-notice-<date>/…`) makes even a run started by hand with another id send nothing again.
 */
import { executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
} from '@temporalio/common';
import type { ActivityTypes } from '../activities/index.js';
import type { NotificationResult } from '../domain/types.js';
import { workflowIds } from '../workflow-ids.js';
import { sendToPatients } from './deliver.js';
import { localDate, weekendProblem } from '../domain/dates.js';
import { checkDateInput, invalidDate, parseInput, scheduledWeekendNoticeInput, weekendNoticeInput } from './input.js';
import { PATCHES } from './patches.js';
import { quickActivities } from './quick-activities.js';

const { weekendNoticeMessage } = quickActivities;

/** The sending activity of runs started before PATCHES.perMessageDelivery (kept for their replay). */
const { sendWeekendNotice } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '3 minutes',
  retry: { maximumAttempts: 3 },
});

export interface WeekendNoticeResult {
  date: string;
  notifications: NotificationResult[];
  /** True when an earlier run already sent the notice for this date. */
  alreadySent?: boolean;
}

export async function weekendNotice(rawInput: { date: string }): Promise<WeekendNoticeResult> {
  const { date } = parseInput('weekendNotice', weekendNoticeInput, rawInput);
  if (patched(PATCHES.dateChecks)) await checkDateInput('weekendNotice', 'date', date, { weekend: true });
  if (patched(PATCHES.perMessageDelivery)) {
    const notifications = await sendToPatients(await weekendNoticeMessage({ date }));
    if (notifications.every((n) => n.alreadyDelivered)) return { date, notifications: [], alreadySent: true };
    return { date, notifications };
  }
  const { notifications, alreadySent } = await sendWeekendNotice({ date });
  return { date, notifications, ...(alreadySent ? { alreadySent } : {}) };
}

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** What the `weekend-notice` schedule starts: runs weekendNotice once for the scheduled date. */
export async function scheduledWeekendNotice(rawInput: { timezone?: string }): Promise<WeekendNoticeResult> {
  const { timezone } = parseInput('scheduledWeekendNotice', scheduledWeekendNoticeInput, rawInput);
  const scheduled = workflowInfo().typedSearchAttributes.get(SCHEDULED_START) ?? new Date(workflowInfo().startTime);
  const date = localDate(scheduled, timezone);
  // A hand trigger on a weekday fails here, before a weekend-notice-<weekday> child could exist: an older one
  // (from before the weekday check) would otherwise be taken for an earlier send of this notice.
  const weekday = weekendProblem(date);
  if (weekday && patched(PATCHES.dateChecks)) throw invalidDate('scheduledWeekendNotice', 'scheduled date', weekday);
  try {
    return await executeChild(weekendNotice, {
      workflowId: workflowIds.weekendNotice(date),
      args: [{ date }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { date, notifications: [], alreadySent: true };
    throw err;
  }
}
