/**
 * retentionCleanup: back up, verify and delete rows older than the retention window, table by table
 * (children before the appointments they reference), then send staff a note (Slack and the staff
 * Telegram chat, at most once per date) with counts and the backup locations. Each table step is idempotent through the cleanup ledger, so a rerun neither
 * backs up twice nor deletes more.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import type { CleanupResult, CleanupTableResult } from '../domain/types.js';
import { z } from 'zod';
import { cleanupMessage } from '../domain/messages.js';
import { workflowIds } from '../workflow-ids.js';
import { PER_MESSAGE_DELIVERY, sendToStaff } from './deliver.js';
import { isoDate, parseInput } from './input.js';

/** Feedback and records reference appointments, so they go first. */
export const CLEANUP_TABLES = ['feedback', 'records', 'appointments'] as const;

const { cleanupTable } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['BackupVerificationFailed', 'InvalidInput', 'ConfigError'] },
});

/** The notification activity of runs started before PER_MESSAGE_DELIVERY (kept for their replay). */
const { notify } = proxyActivities<ActivityTypes>({ startToCloseTimeout: '3 minutes', retry: { maximumAttempts: 3 } });

const cleanupInput = z.strictObject({ runDate: isoDate, retentionDays: z.number().int().min(1).max(36_500) });

export async function retentionCleanup(rawInput: { runDate: string; retentionDays: number }): Promise<CleanupResult> {
  const { runDate, retentionDays } = parseInput('retentionCleanup', cleanupInput, rawInput);
  const tables: CleanupTableResult[] = [];
  for (const table of CLEANUP_TABLES) {
    tables.push(await cleanupTable({ runDate, table, retentionDays }));
  }
  if (patched(PER_MESSAGE_DELIVERY)) {
    const note = cleanupMessage(workflowIds.cleanup(runDate), { runDate, retentionDays, tables });
    return { runDate, retentionDays, tables, notifications: await sendToStaff(note) };
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
