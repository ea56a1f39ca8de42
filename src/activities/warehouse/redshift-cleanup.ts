/**
 * Retention cleanup on Redshift: UNLOAD the expired rows to S3, have the caller verify the backup, then delete
 * exactly the verified rows in one guarded transaction (BatchExecuteStatement) together with the ledgers.
 */
import { randomBytes } from 'node:crypto';
import type { DescribeStatementResponse } from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import type { CleanupTableResult } from '../../domain/types.js';
import { keys } from '../storage.js';
import {
  CLEANUP_LEDGER,
  dateLiteral,
  deleteLedgerOfExpiredSql,
  expiredPredicate,
  hasLoadLedger,
  isRetentionTable,
  RETENTION_TABLES,
  retentionColumnList,
  retentionTableName,
  stringLiteral,
  type RetentionTable,
} from './ddl.js';
import type { BackupVerifier, CleanupPlan } from './index.js';
import { RedshiftStatementError, type RedshiftSession } from './redshift-data.js';
import { retentionLimitExceeded, tableCleaned, withinDeleteShare } from './retention-limit.js';

/**
 * UNLOAD the expired rows (one file stream, PARALLEL OFF, with a manifest) to a prefix of this attempt's own,
 * let `verify` re-read every file the manifest lists, then one batch: guards that abort unless the rows
 * matching the predicate still have the verified count and key sum and stay within the delete-share limit,
 * the load-ledger rows of their batches, the delete, and the cleanup-ledger row. Serializable isolation makes
 * the guards and the deletes see the same rows. The share is also checked before the UNLOAD, so a refused
 * cleanup writes no backup at all.
 */
export async function cleanupExpired(
  s: RedshiftSession,
  plan: CleanupPlan,
  verify: BackupVerifier,
): Promise<CleanupTableResult> {
  const { table, runDate, cutoff, maxDeleteShare } = plan;
  if (!isRetentionTable(table))
    throw ApplicationFailure.nonRetryable(`not a retention table: ${table}`, 'InvalidInput');
  const run = dateLiteral(runDate);
  const where = expiredPredicate(table, cutoff);
  const key = RETENTION_TABLES[table].key;
  await s.ensureRawTables();

  const prior = await s.api.query<{ cutoff: string; backup_key: string; rows: number }>(
    `SELECT cutoff, backup_key, rows FROM ${CLEANUP_LEDGER} WHERE run_date = $1 AND table_name = $2`,
    [runDate, table],
  );
  if (prior[0]) {
    return tableCleaned('already-done', {
      table,
      cutoff: String(prior[0].cutoff),
      backupKey: prior[0].backup_key,
      rows: Number(prior[0].rows),
    });
  }
  const keySumSql = `COALESCE(SUM(${key}::decimal(38,0)), 0)`;
  // Rows due and the whole table, in one statement (a cross join of two plain aggregates).
  const dueAndTotal = (select: string) =>
    `SELECT ${select} FROM (SELECT COUNT(*) AS n, ${keySumSql} AS key_sum FROM ${retentionTableName(table)} WHERE ${where}) due ` +
    `CROSS JOIN (SELECT COUNT(*) AS total FROM ${retentionTableName(table)}) whole`;
  const counted = await s.api.query<{ n: number; total: number; key_sum: string }>(
    dueAndTotal('due.n, whole.total, due.key_sum::varchar AS key_sum'),
  );
  const n = Number(counted[0]?.n ?? 0);
  const total = Number(counted[0]?.total ?? 0);
  if (n === 0) return { table, cutoff, rowsBackedUp: 0, rowsDeleted: 0, status: 'nothing-to-clean' };
  if (!withinDeleteShare(n, total, maxDeleteShare)) throw retentionLimitExceeded(table, n, total, maxDeleteShare ?? 1);

  // Each attempt unloads to its own prefix (UNLOAD without ALLOWOVERWRITE fails rather than overwrite), so a
  // retry never mixes its files with those of an attempt that died half-way; the ledger records the key verified.
  const prefix = `${keys.backupPrefix(table, runDate)}attempt-${plan.attempt ?? 1}-${randomBytes(4).toString('hex')}/`;
  await s.api.execute(unloadSql(s, table, where, prefix));
  const manifest = JSON.parse(await s.store.getText(`${prefix}part-manifest`)) as {
    entries: { url: string }[];
  };
  const bucketUri = s.store.s3Uri('');
  const dataKeys = manifest.entries.map((e) => e.url.replace(bucketUri, ''));
  const backupKey = dataKeys.length === 1 && dataKeys[0] ? dataKeys[0] : prefix;
  const verified = await verify({ backupKey, dataKeys });
  if (verified.rows !== n || verified.keySum !== String(counted[0]?.key_sum ?? '0')) {
    throw ApplicationFailure.nonRetryable(
      `backup ${backupKey} holds ${verified.rows} rows (key sum ${verified.keySum}) but ${n} rows ` +
        `(key sum ${counted[0]?.key_sum}) are due for deletion; nothing deleted`,
      'BackupVerificationFailed',
    );
  }
  // The batch, statement by statement; failures and result counts are found by name, not by position.
  const statements: [name: string, sql: string][] = [
    ...(maxDeleteShare === undefined
      ? []
      : [
          [
            'share-guard',
            dueAndTotal(`1 / (CASE WHEN due.n <= ${maxDeleteShare} * whole.total THEN 1 ELSE 0 END) AS share_guard`),
          ] as [string, string],
        ]),
    [
      'count-guard',
      `SELECT 1 / (CASE WHEN COUNT(*) = ${verified.rows} AND ${keySumSql} = ${BigInt(verified.keySum).toString()} ` +
        `THEN 1 ELSE 0 END) AS guard FROM ${retentionTableName(table)} WHERE ${where}`,
    ],
    // Tables loaded in batches lose the ledger rows of the batches touched; the patient loop's tables have none.
    ...(hasLoadLedger(table) ? [['unledger', deleteLedgerOfExpiredSql(table, where)] as [string, string]] : []),
    ['delete', `DELETE FROM ${retentionTableName(table)} WHERE ${where}`],
    ['ledger-clear', `DELETE FROM ${CLEANUP_LEDGER} WHERE run_date = ${run} AND table_name = '${table}'`],
    [
      'ledger-insert',
      `INSERT INTO ${CLEANUP_LEDGER} (run_date, table_name, cutoff, backup_key, rows, cleaned_at) VALUES ` +
        `(${run}, '${table}', ${dateLiteral(cutoff)}, ${stringLiteral(backupKey, 'redshift')}, ${verified.rows}, GETDATE())`,
    ],
  ];
  const at = (name: string) => statements.findIndex(([n]) => n === name);
  const sqls = statements.map(([, sql]) => sql);
  let done: DescribeStatementResponse;
  try {
    done = await s.api.batch(sqls);
  } catch (err) {
    if (err instanceof RedshiftStatementError && err.failedIndex === at('share-guard')) {
      // Rows were added or removed since the count: recount for the message; nothing was deleted.
      const now = await s.api.query<{ n: number; total: number }>(dueAndTotal('due.n, whole.total'));
      throw retentionLimitExceeded(table, Number(now[0]?.n ?? n), Number(now[0]?.total ?? total), maxDeleteShare ?? 1);
    }
    if (err instanceof RedshiftStatementError && err.failedIndex === at('count-guard')) {
      throw ApplicationFailure.nonRetryable(
        `${retentionTableName(table)} changed between backup and delete (no longer ${verified.rows} rows with the verified key sum); nothing deleted`,
        'DeleteCountMismatch',
      );
    }
    throw err;
  }
  const deleted = done.SubStatements?.[at('delete')]?.ResultRows;
  if (deleted !== undefined && deleted !== verified.rows) {
    // The guard makes this unreachable; if it ever happens the backup still holds every deleted row.
    throw ApplicationFailure.nonRetryable(
      `DELETE removed ${deleted} rows, verified backup ${backupKey} holds ${verified.rows}`,
      'DeleteCountMismatch',
    );
  }
  return tableCleaned('cleaned', {
    table,
    cutoff,
    backupKey,
    rows: verified.rows,
    ...(hasLoadLedger(table) ? { ledgerRowsDeleted: done.SubStatements?.[at('unledger')]?.ResultRows ?? 0 } : {}),
  });
}

/**
 * The UNLOAD of a table's expired rows to `prefix`. No ALLOWOVERWRITE: the prefix is the attempt's own, and a
 * clash must fail rather than replace files.
 */
function unloadSql(s: RedshiftSession, table: RetentionTable, where: string, prefix: string): string {
  const select = `SELECT ${retentionColumnList(table)} FROM ${retentionTableName(table)} WHERE ${where}`;
  return (
    `UNLOAD (${stringLiteral(select, 'redshift')}) TO ${stringLiteral(s.store.s3Uri(`${prefix}part-`), 'redshift')} ` +
    `IAM_ROLE ${stringLiteral(s.iamRole, 'redshift')} FORMAT AS CSV HEADER PARALLEL OFF ` +
    `MANIFEST EXTENSION 'csv' REGION ${stringLiteral(s.region, 'redshift')}`
  );
}
