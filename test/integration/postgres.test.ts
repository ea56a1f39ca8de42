import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig } from '../../src/config.js';

/** Real PostgreSQL from DATABASE_URL (the test database `npm test` creates), in a schema unique to this run. */
describe('PostgreSQL', () => {
  const config = loadConfig();
  assert.equal(config.warehouse.kind, 'postgres', 'these tests need WAREHOUSE=postgres');
  const client = new pg.Client({
    connectionString: config.warehouse.kind === 'postgres' ? config.warehouse.databaseUrl : '',
  });
  const schema = `hs_pg_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const ident = pg.escapeIdentifier(schema);

  before(async () => {
    await client.connect();
    await client.query(`create schema ${ident}`);
  });

  after(async () => {
    try {
      await client.query(`drop schema if exists ${ident} cascade`);
    } finally {
      await client.end();
    }
  });

  test('connects and reports a server version', async () => {
    const res = await client.query<{ server_version_num: string }>('show server_version_num');
    assert.ok(Number(res.rows[0]?.server_version_num) >= 130000, 'PostgreSQL 13 or newer');
  });

  test('creates a table, inserts and selects in its own schema', async () => {
    await client.query(
      `create table ${ident}.clinics (clinic_id text primary key, capacity int not null, opened_on date)`,
    );
    await client.query(`insert into ${ident}.clinics values ($1, $2, $3), ($4, $5, $6)`, [
      'c-1',
      10,
      '2020-01-02',
      'c-2',
      25,
      null,
    ]);
    const res = await client.query<{ clinic_id: string; capacity: number; opened_on: string | null }>(
      `select clinic_id, capacity, to_char(opened_on, 'YYYY-MM-DD') as opened_on from ${ident}.clinics order by clinic_id`,
    );
    assert.deepEqual(res.rows, [
      { clinic_id: 'c-1', capacity: 10, opened_on: '2020-01-02' },
      { clinic_id: 'c-2', capacity: 25, opened_on: null },
    ]);
    await assert.rejects(client.query(`insert into ${ident}.clinics values ('c-1', 1, null)`), /duplicate key/);
  });

  test('COPY FROM STDIN streams CSV rows in', async () => {
    await client.query(
      `create table ${ident}.feedback (feedback_id bigint primary key, rating smallint, comment text)`,
    );
    const rows = 20_000;
    function* csv(): Generator<string> {
      yield 'feedback_id,rating,comment\n';
      for (let i = 1; i <= rows; i++) yield `${i},${(i % 5) + 1},"says ""hi"", row ${i}"\n`;
    }
    const copy = client.query(copyFrom(`copy ${ident}.feedback from stdin with (format csv, header true)`));
    await pipeline(Readable.from(csv()), copy);
    assert.equal(copy.rowCount, rows);

    const res = await client.query<{ n: string; ratings: string; sample: string }>(
      `select count(*) as n, sum(rating) as ratings, (select comment from ${ident}.feedback where feedback_id = 7) as sample from ${ident}.feedback`,
    );
    assert.equal(Number(res.rows[0]?.n), rows);
    assert.equal(Number(res.rows[0]?.ratings), (rows / 5) * (1 + 2 + 3 + 4 + 5));
    assert.equal(res.rows[0]?.sample, 'says "hi", row 7');
  });

  test('a bad COPY row fails and leaves the table unchanged', async () => {
    await client.query(`create table ${ident}.bad (id int primary key, n int not null)`);
    const copy = client.query(copyFrom(`copy ${ident}.bad from stdin with (format csv)`));
    await assert.rejects(pipeline(Readable.from(['1,1\n', '2,not-a-number\n']), copy), /invalid input syntax/);
    const res = await client.query<{ n: string }>(`select count(*) as n from ${ident}.bad`);
    assert.equal(Number(res.rows[0]?.n), 0);
  });
});
