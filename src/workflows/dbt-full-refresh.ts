/**
 * dbtFullRefresh: the weekly `dbt build --full-refresh` with every test, unit tests included. The daily pipeline
 * builds the marts incrementally and tests only its batch (runDbt scope `day`); this run rebuilds every mart from
 * raw (picking up what a day's build does not, such as a renamed clinic in past months) and tests all history.
 * Started by the `dbt-full-refresh` schedule (src/schedules.ts) through scheduledDbtFullRefresh, or by hand.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ActivityTypes } from '../activities/index.js';
import type { DbtSummary } from '../domain/types.js';
import { localDate } from '../domain/dates.js';
import { parseInput, runDateInput, timezone } from './input.js';
import { z } from 'zod';

const { runDbt } = proxyActivities<ActivityTypes>({
  // A full rebuild of a year of history takes far longer than a day's build.
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['DbtTestFailure', 'DbtNotInstalled', 'ConfigError'] },
});

const scheduledInput = z.strictObject({ timezone: timezone.default('UTC') });

/** Rebuilds every model from raw as of `runDate` and runs every test; fails with dbt's failure when a test fails. */
export async function dbtFullRefresh(rawInput: { runDate: string }): Promise<DbtSummary> {
  const { runDate } = parseInput('dbtFullRefresh', runDateInput, rawInput);
  return await runDbt({ runDate, scope: 'full', fullRefresh: true });
}

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** What the `dbt-full-refresh` schedule starts: the full refresh as of the scheduled local date. */
export async function scheduledDbtFullRefresh(rawInput: { timezone?: string }): Promise<DbtSummary> {
  const { timezone } = parseInput('scheduledDbtFullRefresh', scheduledInput, rawInput);
  const scheduled = workflowInfo().typedSearchAttributes.get(SCHEDULED_START) ?? new Date(workflowInfo().startTime);
  return await dbtFullRefresh({ runDate: localDate(scheduled, timezone) });
}
