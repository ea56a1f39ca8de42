/**
 * retentionCleanup: back up, verify and delete rows older than the retention window, table by table
 * (children before the appointments they reference), then post a Slack note with counts and the
 * backup locations. Each table step is idempotent through the cleanup ledger, so a rerun neither
 * backs up twice nor deletes more.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import type { CleanupResult, CleanupTableResult } from '../domain/types.js';
import { z } from 'zod';
import { checkDateInput, DATE_CHECKS_PATCH, isoDate, parseInput } from './input.js';

/** Feedback and records reference appointments, so they go first. */
export const CLEANUP_TABLES = ['feedback', 'records', 'appointments'] as const;

const { cleanupTable } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: {
    maximumAttempts: 5,
    nonRetryableErrorTypes: [
      'BackupVerificationFailed',
      'DeleteCountMismatch',
      'RetentionLimitExceeded',
      'InvalidInput',
      'ConfigError',
    ],
  },
});

const { notify } = proxyActivities<ActivityTypes>({ startToCloseTimeout: '3 minutes', retry: { maximumAttempts: 3 } });

const cleanupInput = z.strictObject({
  runDate: isoDate,
  retentionDays: z.number().int().min(1).max(36_500),
  /** Lets this run delete more than RETENTION_MAX_DELETE_SHARE of a table (e.g. right after lowering RETENTION_DAYS). */
  allowLargeCleanup: z.boolean({ message: 'must be true or false' }).optional(),
});

/** The input of {@link retentionCleanup}: plain JSON, so the temporal CLI can start it too. */
export type RetentionCleanupInput = z.input<typeof cleanupInput>;

export async function retentionCleanup(rawInput: RetentionCleanupInput): Promise<CleanupResult> {
  const { runDate, retentionDays, allowLargeCleanup } = parseInput('retentionCleanup', cleanupInput, rawInput);
  if (patched(DATE_CHECKS_PATCH)) await checkDateInput('retentionCleanup', 'runDate', runDate);
  const tables: CleanupTableResult[] = [];
  for (const table of CLEANUP_TABLES) {
    tables.push(
      await cleanupTable({ runDate, table, retentionDays, ...(allowLargeCleanup ? { allowLargeCleanup } : {}) }),
    );
  }
  const lines = tables.map(
    (t) =>
      `• ${t.table}: ${t.status}, ${t.rowsDeleted} rows deleted, ${t.rowsBackedUp} backed up` +
      (t.backupKey ? ` to ${t.backupKey}` : '') +
      ` (older than ${t.cutoff})`,
  );
  const notifications = await notify({
    slack: {
      name: 'retention-cleanup',
      text: `*Retention cleanup ${runDate}* (${retentionDays} days)\n${lines.join('\n')}`,
    },
  });
  return { runDate, retentionDays, tables, notifications };
}
