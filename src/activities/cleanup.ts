/**
 * Retention cleanup: rows older than the retention window are exported to the object store, the export
 * is re-read and counted, and only then are exactly those rows deleted.
 */
import { parse } from 'csv-parse';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import type { CleanupTableResult } from '../domain/types.js';
import { heartbeatIfActivity } from './load.js';
import type { ObjectStore } from './storage.js';
import {
  isRetentionTable,
  minusDays,
  RETENTION_TABLES,
  type BackupObjects,
  type RetentionTable,
  type VerifiedBackup,
  type Warehouse,
} from './warehouse/index.js';

/** One table's retention run: rows older than `runDate - retentionDays` are backed up and deleted. */
export interface CleanupTableInput {
  runDate: string;
  table: RetentionTable;
  retentionDays: number;
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

/** Builds the cleanup activities; `config` supplies nothing secret, only defaults such as retentionDays. */
export function createCleanupActivities({
  warehouse,
  store,
}: {
  warehouse: Warehouse;
  store: ObjectStore;
  config?: Config;
}) {
  return {
    /**
     * Backs up `table`'s rows older than `runDate - retentionDays` to `backups/<table>/dt=<runDate>/`,
     * verifies the backup by re-reading it (row count and key sum), then deletes exactly those rows in one
     * transaction and records the run in `raw._cleanup_ledger`. Never deletes without a verified backup.
     * Idempotent: a rerun for the same runDate and table returns `already-done` with the recorded numbers
     * and neither backs up nor deletes again; a retry after a failure starts over (the failed attempt's
     * delete rolled back, its backup object is overwritten). Heartbeats every 10 s; declare a heartbeatTimeout.
     */
    async cleanupTable(input: CleanupTableInput): Promise<CleanupTableResult> {
      const { runDate, table, retentionDays } = input;
      if (!isRetentionTable(table)) {
        throw ApplicationFailure.nonRetryable(`cleanup does not handle table ${String(table)}`, 'InvalidInput');
      }
      if (!Number.isInteger(retentionDays) || retentionDays < 1) {
        throw ApplicationFailure.nonRetryable(
          `retentionDays must be a whole number >= 1, got ${retentionDays}`,
          'InvalidInput',
        );
      }
      const cutoff = minusDays(runDate, retentionDays);
      heartbeatIfActivity({ table, phase: 'start' });
      const timer = setInterval(() => heartbeatIfActivity({ table }), 10_000);
      try {
        return await warehouse.cleanupExpired({ table, runDate, cutoff }, (backup) =>
          verifyBackup(store, table, backup),
        );
      } finally {
        clearInterval(timer);
      }
    },
  };
}
