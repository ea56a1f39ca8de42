/**
 * `healthsynth risk`: the real command against real PostgreSQL (a private database). Usage errors (a bad --limit or
 * date) exit 2 before the warehouse is touched; a warehouse without the model tables, or without scores for the date,
 * says to run the pipeline for the date first; rows in marts.no_show_risk come out riskiest first, ids only, and
 * `--json` is exactly one JSON document. Rows written by the real predict path are checked in predict.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RiskReport } from '../../src/cli/risk.js';
import { freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';
import { risk } from '../support/risk-cli.js';

describe('healthsynth risk', () => {
  let h: TestHarness;
  before(async () => {
    h = await harness(testConfig({ DATABASE_URL: await freshDatabase(`hs_risk_${uniq()}`) }), { worker: false });
  });
  after(async () => {
    await h?.close();
  });

  test('a bad --limit or date exits 2 with the reason', async () => {
    for (const [args, reason] of [
      [['--date', '2026-11-20', '--limit', '0'], /--limit must be a whole number from 1 to 1000, got "0"/],
      [['--date', '2026-11-20', '--limit', '5; drop table x'], /--limit must be a whole number/],
      [['--date', '2026-11-20', '--limit', '1001'], /--limit must be a whole number/],
      [['--date', '2026-02-30'], /--date/],
      [['--date', '2999-01-01'], /--date 2999-01-01/],
    ] as const) {
      const io = await risk(h.config, [...args]);
      assert.equal(io.exitCode, 2, args.join(' '));
      assert.match(io.stderr.join('\n'), reason);
      assert.equal(io.text(), '');
    }
  });

  test('missing model tables, then a date without scores, say to run the pipeline first', async () => {
    const missing = await risk(h.config, ['--date', '2026-11-20']);
    assert.equal(missing.exitCode, 2);
    assert.match(
      missing.stderr.join('\n'),
      /marts\.no_show_risk does not exist.*run the pipeline for 2026-11-20 first/,
    );
    await h.warehouse.ensureModelTables();
    const none = await risk(h.config, ['--date', '2026-11-20', '--json']);
    assert.equal(none.exitCode, 2);
    assert.match(none.stderr.join('\n'), /no appointments were scored on 2026-11-20: run the pipeline for 2026-11-20/);
    assert.equal(none.text(), '', 'nothing on stdout, not even JSON');
  });

  test('the riskiest appointments of the date, ids only, as a table and as one JSON document', async () => {
    await h.warehouse.ensureModelTables();
    await h.warehouse.query(
      `insert into marts.no_show_risk values
         ('a-1', '2026-11-23', 'd-1', 'c-1', 0.10, 3, 'no-show-2026-11-20', '2026-11-20'),
         ('a-2', '2026-11-23', 'd-2', 'c-1', 0.62, 10, 'no-show-2026-11-20', '2026-11-20'),
         ('a-3', '2026-11-23', 'd-1', 'c-2', 0.41, 9, 'no-show-2026-11-20', '2026-11-20'),
         ('a-9', '2026-11-20', 'd-1', 'c-2', 0.99, 10, 'no-show-2026-11-19', '2026-11-19')`,
    );
    const json = await risk(h.config, ['--date', '2026-11-20', '--limit', '2', '--json']);
    assert.equal(json.exitCode, 0, json.stderr.join('\n'));
    assert.equal(json.stdout.length, 1, 'exactly one JSON document');
    const report = JSON.parse(json.text()) as RiskReport;
    assert.deepEqual(report, {
      scoredOn: '2026-11-20',
      scored: 3,
      appointments: [
        {
          appointmentId: 'a-2',
          appointmentDay: '2026-11-23',
          clinicId: 'c-1',
          doctorId: 'd-2',
          probability: 0.62,
          riskDecile: 10,
          modelVersion: 'no-show-2026-11-20',
        },
        {
          appointmentId: 'a-3',
          appointmentDay: '2026-11-23',
          clinicId: 'c-2',
          doctorId: 'd-1',
          probability: 0.41,
          riskDecile: 9,
          modelVersion: 'no-show-2026-11-20',
        },
      ],
    });
    const text = await risk(h.config, ['--date', '2026-11-20']);
    assert.equal(text.exitCode, 0);
    const lines = text.text().split('\n');
    assert.match(lines[0] ?? '', /^3 riskiest of 3 appointments scored on 2026-11-20 \(model no-show-2026-11-20\):$/);
    assert.match(lines[1] ?? '', /^APPOINTMENT\s+DAY\s+CLINIC\s+DOCTOR\s+PROBABILITY\s+DECILE\s+MODEL$/);
    assert.deepEqual(
      lines.slice(2).map((l) => l.split(/\s+/).slice(0, 6)),
      [
        ['a-2', '2026-11-23', 'c-1', 'd-2', '0.620', '10'],
        ['a-3', '2026-11-23', 'c-2', 'd-1', '0.410', '9'],
        ['a-1', '2026-11-23', 'c-1', 'd-1', '0.100', '3'],
      ],
    );
  });
});
