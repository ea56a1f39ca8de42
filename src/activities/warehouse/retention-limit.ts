/**
 * The retention delete-share limit, shared by both warehouse adapters: one cleanup run may delete at most
 * RETENTION_MAX_DELETE_SHARE of a table, so a mistyped date or retention setting cannot empty the warehouse.
 * Also the result both adapters give for a table whose expired rows went.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { CleanupTableResult } from '../../domain/types.js';
import type { RetentionTable } from './ddl.js';

/**
 * The failure of a cleanup that would delete more than the allowed share of a table: non-retryable (the same
 * rows would be due on every retry), with the numbers an operator needs and how to let it through.
 */
export function retentionLimitExceeded(
  table: RetentionTable,
  rowsDue: number,
  tableRows: number,
  maxShare: number,
): ApplicationFailure {
  const share = tableRows > 0 ? rowsDue / tableRows : 1;
  return ApplicationFailure.create({
    message:
      `retention cleanup of raw.${table} refused: it would delete ${rowsDue} of ${tableRows} rows ` +
      `(${(share * 100).toFixed(1)}%), more than RETENTION_MAX_DELETE_SHARE ${maxShare} allows; nothing was deleted. ` +
      'Check RETENTION_DAYS and the run date; if this is intended, run again with --allow-large-cleanup ' +
      '(healthsynth run or backfill) or "allowLargeCleanup": true in the dailyPipeline or retentionCleanup input.',
    type: 'RetentionLimitExceeded',
    nonRetryable: true,
    details: [{ table, rowsDue, tableRows, share, maxShare }],
  });
}

/** True when deleting `rowsDue` of `tableRows` rows stays within `maxShare` (undefined: no limit). */
export function withinDeleteShare(rowsDue: number, tableRows: number, maxShare: number | undefined): boolean {
  return maxShare === undefined || rowsDue <= maxShare * tableRows;
}

/**
 * A table whose expired rows were backed up and deleted by this attempt (`cleaned`) or by an earlier one
 * (`already-done`): the verified backup holds exactly the rows deleted, so both counts are `rows`.
 */
export function tableCleaned(
  status: 'cleaned' | 'already-done',
  done: { table: string; cutoff: string; backupKey: string; rows: number; ledgerRowsDeleted?: number },
): CleanupTableResult {
  const { table, cutoff, backupKey, rows, ledgerRowsDeleted } = done;
  return {
    table,
    cutoff,
    backupKey,
    rowsBackedUp: rows,
    rowsDeleted: rows,
    ...(ledgerRowsDeleted === undefined ? {} : { ledgerRowsDeleted }),
    status,
  };
}
