/**
 * Retention cleanup: rows older than the retention window are exported to the object store, the export
 * is re-read and counted, and only then are exactly those rows deleted; then the raw objects of the expired
 * days and the backups past BACKUP_RETENTION_DAYS go.
 */
import { parse } from 'csv-parse';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import { isoDate, localDate, retentionCutoff } from '../domain/dates.js';
import { ENTITY_NAMES } from '../domain/entities.js';
import { reminderKeys } from '../domain/reminders.js';
import type { CleanupTableResult } from '../domain/types.js';
import { withHeartbeat } from './heartbeat.js';
import { heartbeatIfActivity } from './load.js';
import { folderDate, keys, type ObjectStore } from './storage.js';
import {
  isRetentionTable,
  RETENTION_TABLES,
  type BackupObjects,
  type RetentionTable,
  type VerifiedBackup,
  type Warehouse,
} from './warehouse/index.js';

/**
 * One table's retention run: rows dated before `cutoff` are backed up under `runDate` and deleted. Workflows
 * compute `cutoff` (RETENTION_DAYS before the earlier of runDate and today, from workflow time); runs started
 * before that existed pass `retentionDays` instead, and the activity computes the same from its own clock.
 */
export type CleanupTableInput = {
  runDate: string;
  table: RetentionTable;
  /** Let this run delete more than RETENTION_MAX_DELETE_SHARE of the table. */
  allowLargeCleanup?: boolean;
} & ({ cutoff: string; retentionDays?: undefined } | { retentionDays: number; cutoff?: undefined });

/** What the raw-object sweep removed: day folders (one entity's `dt=<date>/`) and the objects in them. */
export interface RawCleanupResult {
  prefixesDeleted: number;
  objectsDeleted: number;
}

/** What the backup sweep removed, and the window it applied. */
export interface BackupCleanupResult {
  objectsDeleted: number;
  retentionDays: number;
}

const DAY_MS = 86_400_000;

/** The current activity attempt (1 outside an activity, e.g. in tests that call the function directly). */
function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * Counts the CSV records of every backup object (header skipped, quoted newlines handled by csv-parse)
 * and sums their key column, streaming, so memory stays flat for large backups.
 */
export async function verifyBackup(
  store: ObjectStore,
  table: RetentionTable,
  backup: BackupObjects,
): Promise<VerifiedBackup> {
  const keyColumn = RETENTION_TABLES[table].key;
  let rows = 0;
  let keySum = 0n;
  for (const key of backup.dataKeys) {
    const parser = (await store.get(key)).pipe(parse({ columns: true, skip_empty_lines: true }));
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      const value = record[keyColumn];
      if (value === undefined || !/^-?\d+$/.test(value)) {
        throw ApplicationFailure.nonRetryable(
          `backup ${key} record ${rows + 1} has no whole-number ${keyColumn}: ${JSON.stringify(value)}`,
          'BackupVerificationFailed',
        );
      }
      keySum += BigInt(value);
      rows++;
      if (rows % 100_000 === 0) heartbeatIfActivity({ verifiedRows: rows });
    }
  }
  return { rows, keySum: keySum.toString() };
}

/**
 * Builds the cleanup activities. `config` supplies nothing secret: the delete-share limit, the backup window
 * and the timezone. `now` is the clock backup retention ages by (tests pass another).
 */
export function createCleanupActivities({
  warehouse,
  store,
  config,
  now = () => Date.now(),
}: {
  warehouse: Warehouse;
  store: ObjectStore;
  config: Config;
  now?: () => number;
}) {
  return {
    /**
     * Backs up `table`'s rows dated before the cutoff to `backups/<table>/dt=<runDate>/`, verifies the backup by
     * re-reading it (row count and key sum), then deletes exactly those rows and the load-ledger rows of their
     * batches in one transaction and records the run in `raw._cleanup_ledger`. Never deletes without a verified
     * backup, and refuses (`RetentionLimitExceeded`, non-retryable, nothing deleted) to delete more than
     * RETENTION_MAX_DELETE_SHARE of the table unless `allowLargeCleanup`. Idempotent: a rerun for the same
     * runDate and table returns `already-done` with the recorded numbers; a retry after a failure starts over
     * (the failed attempt's delete rolled back; its backup is replaced, or on Redshift left in its own prefix).
     * Heartbeats on a timer (every 5 s); declare a heartbeatTimeout.
     */
    async cleanupTable(input: CleanupTableInput): Promise<CleanupTableResult> {
      const { runDate, table, retentionDays, allowLargeCleanup } = input;
      if (!isRetentionTable(table)) {
        throw ApplicationFailure.nonRetryable(`cleanup does not handle table ${String(table)}`, 'InvalidInput');
      }
      if (!isoDate.safeParse(runDate).success) {
        throw ApplicationFailure.nonRetryable(
          'cleanupTable: runDate must be a date written YYYY-MM-DD',
          'InvalidInput',
        );
      }
      let cutoff: string;
      if (input.cutoff !== undefined) {
        if (!isoDate.safeParse(input.cutoff).success) {
          throw ApplicationFailure.nonRetryable(
            'cleanupTable: cutoff must be a date written YYYY-MM-DD',
            'InvalidInput',
          );
        }
        cutoff = input.cutoff;
      } else {
        if (!Number.isInteger(retentionDays) || (retentionDays ?? 0) < 1) {
          throw ApplicationFailure.nonRetryable(
            `retentionDays must be a whole number >= 1, got ${retentionDays}`,
            'InvalidInput',
          );
        }
        cutoff = retentionCutoff(runDate, localDate(new Date(now()), config.timezone), retentionDays as number);
      }
      return withHeartbeat(
        () => ({ table }),
        () =>
          warehouse.cleanupExpired(
            {
              table,
              runDate,
              cutoff,
              ...(allowLargeCleanup ? {} : { maxDeleteShare: config.retentionMaxDeleteShare }),
              attempt: activityAttempt(),
            },
            (backup) => verifyBackup(store, table, backup),
          ),
      );
    },

    /**
     * Deletes the raw CSV objects of every day before `cutoff`: each entity's `raw/<entity>/dt=<date>/` folder, the
     * day's `truth/appointments/dt=<date>/` (the synthetic source's true probabilities of those rows) and the
     * reminders of the appointments on that day, `reminders/dt=<date>/` (decision.json: patient ids and risk scores;
     * reminded.csv: who was reminded and what they answered).
     * The workflow runs it only after every table's expired rows were backed up and deleted (the backup is the
     * copy we keep). Idempotent: a retry finds fewer or no folders and deletes what is left. Heartbeats on a timer.
     */
    async cleanupRawObjects(input: { cutoff: string }): Promise<RawCleanupResult> {
      if (!isoDate.safeParse(input.cutoff).success) {
        throw ApplicationFailure.nonRetryable(
          'cleanupRawObjects: cutoff must be a date written YYYY-MM-DD',
          'InvalidInput',
        );
      }
      const result: RawCleanupResult = { prefixesDeleted: 0, objectsDeleted: 0 };
      return withHeartbeat(
        () => ({ ...result }),
        async () => {
          // The truth of a day goes with its raw objects: it is derived from the same rows. The reminders' folders are
          // dated by the appointments' day, as raw.reminder_events ages by it.
          const roots = [
            ...ENTITY_NAMES.map((e) => keys.rawRoot(e)),
            keys.truthRoot('appointments'),
            reminderKeys.root,
          ];
          for (const root of roots) {
            for (const folder of await store.listFolders(root)) {
              const date = folderDate(folder);
              if (date === undefined || date >= input.cutoff) continue;
              result.objectsDeleted += await store.deletePrefix(folder);
              result.prefixesDeleted++;
            }
          }
          return result;
        },
      );
    },

    /**
     * Deletes every object under `backups/` written more than BACKUP_RETENTION_DAYS ago (by its LastModified,
     * as the equivalent S3 lifecycle rule would). Idempotent: a retry deletes what is still there. Heartbeats on a
     * timer.
     */
    async cleanupBackups(_input: Record<string, never> = {}): Promise<BackupCleanupResult> {
      const days = config.backupRetentionDays;
      const before = now() - days * DAY_MS;
      return withHeartbeat(
        () => ({ backupRetentionDays: days }),
        async () => {
          const expired = (await store.list(keys.backupsRoot)).filter(
            (o) => o.lastModified !== undefined && o.lastModified.getTime() < before,
          );
          await store.delete(expired.map((o) => o.key));
          return { objectsDeleted: expired.length, retentionDays: days };
        },
      );
    },
  };
}
