/**
 * retentionCleanup: back up, verify and delete rows older than the retention window, table by table
 * (children before the rows they reference: the patient loop's ratings and reminder events first), then the raw
 * objects of the expired days (with the reminders' day folders) and the backups past
 * BACKUP_RETENTION_DAYS, then send staff a note (Slack and the staff Telegram chat, at most once per date) with
 * counts and the backup locations. Each table step is idempotent through the cleanup ledger, so a rerun neither
 * backs up twice nor deletes more.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { ActivityTypes } from '../activities/index.js';
import { retentionCutoff } from '../domain/dates.js';
import type { CleanupResult, CleanupTableResult } from '../domain/types.js';
import { z } from 'zod';
import { cleanupMessage } from '../domain/messages.js';
import { workflowIds } from '../workflow-ids.js';
import { sendToStaff } from './deliver.js';
import { checkDateInput, isoDate, parseInput } from './input.js';
import { PATCHES } from './patches.js';

/** The tables before personal-data retention (runs started before it replay with these). */
export const CLEANUP_TABLES = ['feedback', 'records', 'appointments'] as const;

/**
 * Feedback and records reference appointments, so they go first; appointments reference the patients rows
 * of their batch, so patients go last (and the adapter keeps a patients batch while appointments of that
 * batch remain).
 */
export const RETENTION_ORDER = ['feedback', 'records', 'appointments', 'patients'] as const;

/** With tomorrow's schedule (PATCHES.tomorrowSchedule): it references nothing of its batch, so it can go last. */
export const RETENTION_ORDER_WITH_SCHEDULE = [...RETENTION_ORDER, 'schedule'] as const;

/**
 * With the patient loop's tables (PATCHES.patientLoopRetention): the Telegram ratings and the reminders' events
 * reference appointments (and the events, the schedule they were chosen from), so they go first. A run that stops
 * between tables then never leaves a rating whose appointment is gone (dbt's relationships test of
 * stg_telegram_ratings).
 */
export const RETENTION_ORDER_WITH_PATIENT_LOOP = [
  'rating_requests',
  'reminder_events',
  ...RETENTION_ORDER_WITH_SCHEDULE,
] as const;

/** They heartbeat on a 5 s timer, so a worker that dies mid-cleanup is noticed (and the step retried) within 30 s. */
const { cleanupTable, cleanupRawObjects, cleanupBackups } = proxyActivities<ActivityTypes>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
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

/** The notification activity of runs started before PATCHES.perMessageDelivery (kept for their replay). */
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
  const tables: CleanupTableResult[] = [];
  let cutoff: string | undefined;
  let objects: CleanupResult['objects'];
  if (patched(PATCHES.retentionPersonalData)) {
    const today = await checkDateInput('retentionCleanup', 'runDate', runDate);
    cutoff = retentionCutoff(runDate, today, retentionDays);
    // Nested: a run from before tomorrow's schedule predates the patient loop too, and replays without either marker.
    const order = patched(PATCHES.tomorrowSchedule)
      ? patched(PATCHES.patientLoopRetention)
        ? RETENTION_ORDER_WITH_PATIENT_LOOP
        : RETENTION_ORDER_WITH_SCHEDULE
      : RETENTION_ORDER;
    for (const table of order) {
      tables.push(await cleanupTable({ runDate, table, cutoff, ...(allowLargeCleanup ? { allowLargeCleanup } : {}) }));
    }
    // Only after every table's rows are backed up and deleted: the backup, not the raw object, is the copy kept.
    const raw = await cleanupRawObjects({ cutoff });
    const backups = await cleanupBackups({});
    objects = {
      rawDaysDeleted: raw.prefixesDeleted,
      rawObjectsDeleted: raw.objectsDeleted,
      backupObjectsDeleted: backups.objectsDeleted,
      backupRetentionDays: backups.retentionDays,
    };
  } else {
    for (const table of CLEANUP_TABLES) {
      tables.push(await cleanupTable({ runDate, table, retentionDays }));
    }
  }
  const result = { runDate, retentionDays, ...(cutoff ? { cutoff } : {}), tables, ...(objects ? { objects } : {}) };
  if (patched(PATCHES.perMessageDelivery)) {
    return { ...result, notifications: await sendToStaff(cleanupMessage(workflowIds.cleanup(runDate), result)) };
  }
  const lines = tables.map(
    (t) =>
      `• ${t.table}: ${t.status}, ${t.rowsDeleted} rows deleted, ${t.rowsBackedUp} backed up` +
      (t.backupKey ? ` to ${t.backupKey}` : '') +
      ` (older than ${t.cutoff})`,
  );
  if (objects) {
    lines.push(
      `• raw objects: ${objects.rawObjectsDeleted} deleted (${objects.rawDaysDeleted} entity-days before ${cutoff})`,
      `• backups: ${objects.backupObjectsDeleted} objects older than ${objects.backupRetentionDays} days deleted`,
    );
  }
  const notifications = await notify({
    slack: {
      name: 'retention-cleanup',
      text: `*Retention cleanup ${runDate}* (${retentionDays} days)\n${lines.join('\n')}`,
    },
  });
  return { ...result, notifications };
}
