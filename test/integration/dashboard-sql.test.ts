/**
 * The Grafana dashboard's SQL panels run against the real warehouse (PostgreSQL, a private database): every query on
 * the `warehouse` datasource, with Grafana's `$__timeFilter` macro expanded as Grafana's PostgreSQL datasource does,
 * returns one row per evaluated day in the range, a `time` column first and the series after it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';

interface Panel {
  title: string;
  datasource?: { uid: string };
  targets?: { rawSql?: string }[];
}

/** `$__timeFilter(col)` as Grafana expands it: `col BETWEEN '<from>' AND '<to>'` (RFC 3339 timestamps). */
const expandMacros = (sql: string, from: string, to: string): string =>
  sql.replace(/\$__timeFilter\((\w+)\)/g, (_m, col: string) => `${col} BETWEEN '${from}' AND '${to}'`);

let h: TestHarness;
before(async () => {
  h = await harness(testConfig({ DATABASE_URL: await freshDatabase(`hs_dashsql_${uniq()}`) }), { worker: false });
  await h.warehouse.ensureModelTables();
  await h.warehouse.query(
    `insert into marts.model_performance values
       ('2026-11-18', 'no-show-2026-11-17', 3000, 0.2, 0.71, 0.4, 0.15, 0.01, 2.1, 0.74),
       ('2026-11-19', 'no-show-2026-11-18', 3000, 0.2, 0.72, 0.4, 0.15, 0.01, 2.2, null),
       ('2026-10-01', 'no-show-2026-09-30', 3000, 0.2, 0.70, 0.4, 0.15, 0.01, 2.0, 0.73)`,
  );
});
after(async () => {
  await h?.close();
});

test('the AUC vs Bayes AUC panel reads one point per evaluated day in the range', async () => {
  const file = path.resolve(import.meta.dirname, '../../monitoring/grafana/dashboards/healthsynth.json');
  const dashboard = JSON.parse(await readFile(file, 'utf8')) as { panels: Panel[] };
  const panels = dashboard.panels.filter((p) => p.datasource?.uid === 'warehouse');
  assert.equal(panels.length, 1);
  const sql = panels[0]?.targets?.[0]?.rawSql ?? '';
  const rows = await h.warehouse.query<Record<string, unknown>>(
    expandMacros(sql, '2026-11-01T00:00:00Z', '2026-11-30T23:59:59Z'),
  );
  assert.deepEqual(
    rows.map((r) => Object.keys(r)),
    [
      ['time', 'AUC', 'Bayes AUC'],
      ['time', 'AUC', 'Bayes AUC'],
    ],
  );
  assert.deepEqual(
    rows.map((r) => [String(r.time).slice(0, 10), r.AUC, r['Bayes AUC']]),
    [
      ['2026-11-18', 0.71, 0.74],
      ['2026-11-19', 0.72, null],
    ],
  );
});
