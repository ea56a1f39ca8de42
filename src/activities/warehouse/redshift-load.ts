/**
 * Loading a batch into Redshift and publishing a day: COPY from an S3 manifest into a temp table, a guard on the
 * staged count, then delete + insert and the ledger, all in one BatchExecuteStatement (one transaction: a failing
 * statement rolls back all of them). Checks that must stop the transaction are guard queries that divide by zero
 * when the check fails, so a wrong count aborts the batch inside Redshift instead of after commit.
 */
import { createHash } from 'node:crypto';
import type { DescribeStatementResponse } from '@aws-sdk/client-redshift-data';
import { ApplicationFailure } from '@temporalio/common';
import { ENTITY_NAMES, isEntityName, type EntityName } from '../../domain/entities.js';
import type { LoadBatchInput, LoadResult, PublishDayInput, PublishedDay } from '../../domain/types.js';
import { keys } from '../storage.js';
import { checkCsvHeader } from './csv-header.js';
import {
  canonicalObjects,
  columnList,
  dateLiteral,
  LOAD_LEDGER,
  PUBLISHED_BATCHES,
  publishedRow,
  rawTable,
  stringLiteral,
} from './ddl.js';
import type { LoadOptions, LoadProgress } from './index.js';
import { validPublishInput } from './publish.js';
import { RedshiftStatementError, type RedshiftSession, type StatementWatch } from './redshift-data.js';

/** Ranged GETs of part files' first lines in flight at once (a batch has up to a few hundred objects). */
const HEADER_CHECKS_AT_ONCE = 16;

/** Where the COPY manifest for a batch lives: outside the data prefix, named by the content it lists. */
export function manifestKey(entity: EntityName, batchDate: string, ledgerObjects: string): string {
  const digest = createHash('sha256').update(ledgerObjects).digest('hex').slice(0, 16);
  return `manifests/raw/${entity}/dt=${batchDate}/load-${digest}.json`;
}

/** Rows of `entity` with this batch_date in its raw table. */
export async function countBatch(s: RedshiftSession, entity: EntityName, batchDate: string): Promise<number> {
  if (!isEntityName(entity)) throw new Error(`unknown entity ${entity}`);
  const rows = await s.api.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${rawTable(entity)} WHERE batch_date = $1`, [
    batchDate,
  ]);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Ledger check, the header check of every object (a ranged GET of its first line), then one batch: temp
 * staging table, COPY from a manifest naming exactly the batch's objects, a guard that aborts unless the staged
 * rows (with this batch_date) equal the declared rows, delete + insert, ledger delete + insert. Two concurrent
 * loads of a batch conflict under Redshift's serializable isolation; the loser fails retryably and its retry
 * finds the ledger entry.
 *
 * The batch runs in Redshift whatever happens to the worker. Its statement id and manifest go to
 * `opts.onProgress` as soon as it is submitted and again at every poll (the activity heartbeats them); a retry
 * whose `opts.resumeFrom` names a load of the same manifest picks that statement up ({@link RedshiftDataApi.resume})
 * instead of submitting the load a second time while the first may still be running.
 */
export async function loadBatch(
  s: RedshiftSession,
  input: LoadBatchInput,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const { entity, batchDate, objects } = input;
  if (!isEntityName(entity)) throw ApplicationFailure.nonRetryable(`unknown entity ${entity}`, 'InvalidInput');
  const day = dateLiteral(batchDate);
  const started = Date.now();
  opts.onProgress?.({ phase: 'connect', rows: 0 });
  await s.ensureRawTables();
  const ledgerObjects = canonicalObjects(objects);
  const expected = objects.reduce((sum, o) => sum + o.rows, 0);
  const manifest = manifestKey(entity, batchDate, ledgerObjects);
  const watch: StatementWatch = {
    ...(opts.signal ? { signal: opts.signal } : {}),
    onSubmitted: (statementId) => opts.onProgress?.({ phase: 'statement', rows: 0, statementId, manifest }),
    onPoll: (statementId) => opts.onProgress?.({ phase: 'statement', rows: 0, statementId, manifest }),
  };
  const loaded = async (result: DescribeStatementResponse): Promise<LoadResult> => {
    // Read back the count the guard checked, from the batch's own result set.
    const countId = result.SubStatements?.[2]?.Id;
    if (countId) {
      const staged = Number((await s.api.results(countId))[0]?.staged ?? NaN);
      if (staged !== expected) {
        throw new Error(`Redshift reported ${staged} staged rows after a guarded load of ${expected}; check the batch`);
      }
    }
    opts.onProgress?.({ phase: 'commit', rows: expected });
    return { entity, batchDate, rows: expected, status: 'loaded', durationMs: Date.now() - started };
  };

  const previous = resumableLoad(opts.resumeFrom, manifest);
  if (previous) {
    let resumed: DescribeStatementResponse | undefined;
    try {
      resumed = await s.api.resume(previous, watch);
    } catch (err) {
      throw await toLoadError(s, err, entity, batchDate, expected);
    }
    if (resumed) return loaded(resumed);
    // The earlier statement failed or was aborted (its transaction changed nothing): start over.
  }

  const prior = await s.api.query<{ objects: string; rows: number }>(
    `SELECT objects, rows FROM ${LOAD_LEDGER} WHERE entity = $1 AND batch_date = $2`,
    [entity, batchDate],
  );
  // The ledger alone is not proof: rows deleted behind its back (a retention run, a manual fix) must come back.
  if (prior[0]?.objects === ledgerObjects && (await countBatch(s, entity, batchDate)) === Number(prior[0].rows)) {
    return { entity, batchDate, rows: Number(prior[0].rows), status: 'unchanged', durationMs: Date.now() - started };
  }

  // IGNOREHEADER only skips the first line; check it is the entity's header before COPY maps fields by position.
  for (let i = 0; i < objects.length; i += HEADER_CHECKS_AT_ONCE) {
    await Promise.all(
      objects.slice(i, i + HEADER_CHECKS_AT_ONCE).map((o) => checkCsvHeader(s.store, entity, o, opts.signal)),
    );
  }
  await s.store.put(
    manifest,
    JSON.stringify({ entries: objects.map((o) => ({ url: s.store.s3Uri(o.key), mandatory: true })) }),
    'application/json',
  );
  let result: DescribeStatementResponse;
  try {
    result = await s.api.batch(loadSql(s, entity, day, manifest, ledgerObjects, expected), watch);
  } catch (err) {
    throw await toLoadError(s, err, entity, batchDate, expected);
  }
  return loaded(result);
}

/** The exact statements of a load batch; `day` is the batch date as a SQL literal. */
function loadSql(
  s: Pick<RedshiftSession, 'store' | 'iamRole' | 'region'>,
  entity: EntityName,
  day: string,
  manifest: string,
  ledgerObjects: string,
  expected: number,
): string[] {
  const stage = `stage_${entity}`;
  const table = rawTable(entity);
  return [
    `CREATE TEMP TABLE ${stage} (LIKE ${table})`,
    `COPY ${stage} (${columnList(entity)}) FROM ${stringLiteral(s.store.s3Uri(manifest), 'redshift')} ` +
      `IAM_ROLE ${stringLiteral(s.iamRole, 'redshift')} MANIFEST FORMAT AS CSV IGNOREHEADER 1 ` +
      `DATEFORMAT 'YYYY-MM-DD' TIMEFORMAT 'YYYY-MM-DD HH:MI:SS' REGION ${stringLiteral(s.region, 'redshift')}`,
    `SELECT COUNT(*) AS staged, 1 / (CASE WHEN COUNT(*) = ${expected} THEN 1 ELSE 0 END) AS guard ` +
      `FROM ${stage} WHERE batch_date = ${day}`,
    `DELETE FROM ${table} WHERE batch_date = ${day}`,
    `INSERT INTO ${table} SELECT * FROM ${stage}`,
    `DELETE FROM ${LOAD_LEDGER} WHERE entity = '${entity}' AND batch_date = ${day}`,
    `INSERT INTO ${LOAD_LEDGER} (entity, batch_date, objects, rows, loaded_at) ` +
      `VALUES ('${entity}', ${day}, ${stringLiteral(ledgerObjects, 'redshift')}, ${expected}, GETDATE())`,
    // The date stops being visible to dbt with this change, until publishDay verifies all seven batches again.
    `DELETE FROM ${PUBLISHED_BATCHES} WHERE batch_date = ${day}`,
  ];
}

/**
 * One batch, so the checks and the write see the same snapshot (serializable isolation; a load of the date
 * committing in between makes one of the two fail retryably): a guard that the ledger holds the seven loads with
 * the rows this run loaded, a guard per entity that its table holds them, then the published row replaced.
 */
export async function publishDay(
  s: RedshiftSession,
  input: PublishDayInput,
  opts: Pick<LoadOptions, 'signal'> = {},
): Promise<PublishedDay> {
  const { batchDate, rows } = validPublishInput(input);
  await s.ensureRawTables();
  try {
    await s.api.batch(publishSql(batchDate, rows), opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if (err instanceof RedshiftStatementError && err.status === 'FAILED' && err.failedIndex !== undefined) {
      const entity = err.failedIndex >= 1 ? ENTITY_NAMES[err.failedIndex - 1] : undefined;
      if (err.failedIndex === 0 || entity) {
        throw ApplicationFailure.nonRetryable(
          `day ${batchDate} not published: ` +
            (entity
              ? `raw.${entity} does not hold the ${rows[entity]} rows of ${batchDate} this run loaded`
              : `the load ledger does not hold all seven loads of ${batchDate} with the rows this run loaded ` +
                `(${ENTITY_NAMES.map((e) => `${e} ${rows[e]}`).join(', ')})`) +
            `. Its rows stay invisible to dbt until a run of ${batchDate} loads all seven entities`,
          'DayIncomplete',
        );
      }
    }
    throw err;
  }
  return { batchDate, rows, status: 'published' };
}

/** The statements of publishDay. */
function publishSql(batchDate: string, rows: Record<EntityName, number>): string[] {
  const day = dateLiteral(batchDate);
  const guard = (ok: string) => `1 / (CASE WHEN ${ok} THEN 1 ELSE 0 END) AS guard`;
  const loads = ENTITY_NAMES.map((e) => `(entity = '${e}' AND rows = ${rows[e]})`).join(' OR ');
  const row = publishedRow(day, 'GETDATE()', rows);
  return [
    `SELECT ${guard(`COUNT(*) = ${ENTITY_NAMES.length}`)} FROM ${LOAD_LEDGER} WHERE batch_date = ${day} AND (${loads})`,
    ...ENTITY_NAMES.map(
      (e) => `SELECT ${guard(`COUNT(*) = ${rows[e]}`)} FROM ${rawTable(e)} WHERE batch_date = ${day}`,
    ),
    `DELETE FROM ${PUBLISHED_BATCHES} WHERE batch_date = ${day}`,
    `INSERT INTO ${PUBLISHED_BATCHES} (${row.columns}) VALUES (${row.values})`,
  ];
}

/** The statement id of a load the previous attempt submitted for the same manifest (its heartbeat), if any. */
function resumableLoad(resumeFrom: unknown, manifest: string): string | undefined {
  const p = resumeFrom as Partial<LoadProgress> | undefined;
  if (p?.phase !== 'statement' || p.manifest !== manifest) return undefined;
  return typeof p.statementId === 'string' && p.statementId !== '' ? p.statementId : undefined;
}

/**
 * A failed COPY (statement 2) is bad data only when Redshift logged a load error for it: then it is a
 * non-retryable CsvLoadError naming the object, line, column and reason. A COPY that failed without a logged load
 * error (S3 access denied or throttled, a lost connection, a cluster restart) stays retryable, as does a failed
 * lookup. A failed guard (statement 3) is RowCountMismatch. Everything else (ABORTED, serialization conflicts,
 * network) stays retryable.
 */
async function toLoadError(
  s: RedshiftSession,
  err: unknown,
  entity: EntityName,
  batchDate: string,
  expected: number,
): Promise<unknown> {
  if (!(err instanceof RedshiftStatementError) || err.status !== 'FAILED') return err;
  if (err.failedIndex === 2) {
    return ApplicationFailure.nonRetryable(
      `${entity} ${batchDate}: staged rows with batch_date ${batchDate} differ from the declared ${expected}`,
      'RowCountMismatch',
    );
  }
  if (err.failedIndex !== 1) return err;
  const logged = await loadErrorOf(s, err, entity, batchDate).catch(() => undefined);
  if (!logged) return err;
  return ApplicationFailure.create({
    message:
      `${logged.file.replace(s.store.s3Uri(''), '')} line ${logged.line} (column ${logged.col}): ` + logged.reason,
    type: 'CsvLoadError',
    nonRetryable: true,
    cause: err,
  });
}

/**
 * The load error Redshift logged for a failed COPY of this batch, from SYS_LOAD_ERROR_DETAIL (the view Redshift
 * documents for provisioned clusters and Serverless alike). Its query_id is not the Data API's RedshiftQueryId
 * (that one is STL_QUERY's id, and Redshift says the two are different identifiers), so the row is found by what
 * identifies this COPY: the session that ran the batch, a start after the batch was submitted, and a file under
 * the batch's own prefix.
 */
async function loadErrorOf(
  s: RedshiftSession,
  err: RedshiftStatementError,
  entity: EntityName,
  batchDate: string,
): Promise<{ file: string; line: number; col: string; reason: string } | undefined> {
  const conditions = ['start_time >= $1', 'TRIM(file_name) LIKE $2'];
  // A minute of slack for the Data API's clock against the cluster's.
  const since = new Date((err.createdAt ?? new Date(Date.now() - 86_400_000)).getTime() - 60_000);
  const params: unknown[] = [
    since.toISOString().replace('T', ' ').replace(/Z$/, ''),
    `${s.store.s3Uri(keys.rawPrefix(entity, batchDate))}%`,
  ];
  if (err.redshiftPid !== undefined) {
    params.push(err.redshiftPid);
    conditions.push(`session_id = $${params.length}`);
  }
  const rows = await s.api.query<{ file: string; line: number; col: string; reason: string }>(
    'SELECT TRIM(file_name) AS file, line_number AS line, TRIM(column_name) AS col, TRIM(error_message) AS reason ' +
      `FROM sys_load_error_detail WHERE ${conditions.join(' AND ')} ORDER BY start_time LIMIT 1`,
    params,
  );
  return rows[0];
}
