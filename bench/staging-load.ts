/**
 * The staging load, kept for the benchmark only: COPY into a temp table LIKE the raw table, then delete the batch
 * and INSERT … SELECT it over, in one transaction. Rows are written twice; the worker's loadBatch (direct: delete,
 * then COPY straight into the raw table) writes them once. bench/load.ts times both so the choice stays measured.
 * Without loadBatch's lock and ledger statements (each well under a millisecond), so it flatters staging slightly.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ObjectStore } from '../src/activities/storage.js';
import { columnList, rawTable } from '../src/activities/warehouse/ddl.js';
import type { EntityName } from '../src/domain/entities.js';

/** Loads one stored CSV object as batch `batchDate` of `entity` through a staging table; returns the rows loaded. */
export async function stagingLoad(
  pool: pg.Pool,
  store: ObjectStore,
  input: { entity: EntityName; batchDate: string; key: string; rows: number },
): Promise<number> {
  const { entity, batchDate, key, rows } = input;
  const table = rawTable(entity);
  const stage = `stage_${entity}`;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`CREATE TEMP TABLE ${stage} (LIKE ${table}) ON COMMIT DROP`);
    const copy = client.query(copyFrom(`COPY ${stage} (${columnList(entity)}) FROM STDIN (FORMAT csv, HEADER MATCH)`));
    await pipeline(await store.get(key), copy);
    const staged = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${stage} WHERE batch_date = $1`, [
      batchDate,
    ]);
    if (Number(staged.rows[0]?.n) !== rows)
      throw new Error(`${key}: staged ${staged.rows[0]?.n} rows, expected ${rows}`);
    await client.query(`DELETE FROM ${table} WHERE batch_date = $1`, [batchDate]);
    await client.query(`INSERT INTO ${table} SELECT * FROM ${stage}`);
    await client.query('COMMIT');
    return rows;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
