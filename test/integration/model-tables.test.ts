/**
 * The model tables on the real local PostgreSQL and S3: replaceRows leaves the planner statistics of the day it
 * loaded, so the query that reads that day next (selectReminders, seconds later) is planned on its real size.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ObjectStore } from '../../src/activities/storage.js';
import { MODEL_TABLES } from '../../src/activities/warehouse/model-tables.js';
import type { PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import { postgresFixture } from '../support/warehouse-db.js';

/** `n` scores made on `scoredOn` for the next day, as predictNoShows writes them. */
function scoresCsv(scoredOn: string, firstId: number, n: number): string {
  const header = MODEL_TABLES.no_show_risk.map(([name]) => name).join(',');
  const lines = [header];
  for (let i = 0; i < n; i++) {
    const p = ((i * 37) % 1000) / 1000;
    lines.push(`${firstId + i},2031-01-02,${100 + (i % 50)},${i % 9},${p},${1 + Math.floor(p * 10)},m1,${scoredOn}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('model tables', () => {
  let store: ObjectStore;
  let warehouse: PostgresWarehouse;
  const prefix = `test-model-tables-${randomUUID().slice(0, 8)}`;

  before(async () => {
    ({ store, warehouse } = await postgresFixture('hs_wh_model_tables'));
    await warehouse.ensureModelTables();
    // Autovacuum must not analyze behind the test's back: the statistics seen are the ones replaceRows left.
    await warehouse.query('alter table marts.no_show_risk set (autovacuum_enabled = false)');
  });

  after(async () => {
    try {
      await store.delete((await store.list(`${prefix}/`)).map((o) => o.key));
    } finally {
      await warehouse.close();
    }
  });

  const load = async (scoredOn: string, firstId: number, n: number) => {
    const key = `${prefix}/scores-${scoredOn}.csv`;
    await store.put(key, scoresCsv(scoredOn, firstId, n), 'text/csv');
    return warehouse.replaceRows({ table: 'no_show_risk', column: 'scored_on', value: scoredOn, key });
  };

  /** The planner's row estimate for one scored day. */
  const estimate = async (scoredOn: string): Promise<number> => {
    const [plan] = await warehouse.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
      `explain (format json) select * from marts.no_show_risk where scored_on = date '${scoredOn}'`,
    );
    return plan!['QUERY PLAN'][0].Plan['Plan Rows'];
  };

  test("after a day's scores are replaced, the planner expects that day's rows, not the statistics of before", async () => {
    assert.equal(await load('2031-01-01', 1, 500), 500);
    // The next day, ten times as many scores (a young warehouse's schedule grows).
    assert.equal(await load('2031-01-02', 10_000, 5_000), 5_000);
    const rows = await estimate('2031-01-02');
    // Without statistics of the new day PostgreSQL planned 3 rows here, and would join accordingly.
    assert.ok(rows >= 2_500 && rows <= 10_000, `planned ${rows} rows of 2031-01-02 for 5,000`);
    // Replacing a day again keeps it true (a rerun of the same date with other scores).
    assert.equal(await load('2031-01-02', 20_000, 8_000), 8_000);
    const again = await estimate('2031-01-02');
    assert.ok(again >= 4_000 && again <= 16_000, `planned ${again} rows of 2031-01-02 for 8,000`);
  });
});
