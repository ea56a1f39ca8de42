/**
 * The dbt project and a full `dbt build` through the runDbt activity, against the real local PostgreSQL and the real
 * dbt binary, on the hand-made fixture (test/support/dbt-fixture.ts) in a database of this file's own.
 *
 * After a successful build the database becomes this run's template of the built fixture (test/support/dbt-built.ts),
 * so the mart tests in marts/ copy it instead of building again. This file sorts before marts/ for that reason.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { DBT_PROJECT_DIR, createDbtActivities, dbtProfileEnv, resolveDbtBin } from '../../../src/activities/dbt.js';
import type { DbtSummary } from '../../../src/domain/types.js';
import { keepAsBuiltTemplate, openFixture, type DbtTestDatabase } from '../../support/dbt-built.js';
import { B2 } from '../../support/dbt-fixture.js';

describe('dbt project on PostgreSQL: build', { timeout: 600_000 }, () => {
  let fixture: DbtTestDatabase;
  let built = false;

  before(async () => {
    fixture = await openFixture('hs_dbt_test');
  });

  after(async () => {
    if (built) await keepAsBuiltTemplate(fixture);
    await fixture?.close();
  });

  test('dbt debug connects and dbt parse succeeds for both targets', async () => {
    const { config, dataDir } = fixture;
    const bin = resolveDbtBin(config);
    const env = { ...process.env, ...dbtProfileEnv(config) };
    const common = ['--project-dir', DBT_PROJECT_DIR, '--profiles-dir', DBT_PROJECT_DIR, '--no-use-colors'];
    const debugArgs = ['debug', '--log-path', path.join(dataDir, 'debug-logs'), ...common];
    const debug = await execa(bin, debugArgs, { env, reject: false, all: true });
    assert.equal(debug.exitCode, 0, debug.all);
    assert.match(debug.all ?? '', /Connection test: \[OK connection ok\]/);
    assert.match(debug.all ?? '', new RegExp(`database: ${fixture.name}\\b`));

    for (const target of ['local', 'redshift']) {
      const targetPath = path.join(dataDir, `parse-${target}`);
      const parse = await execa(
        bin,
        ['parse', '--target', target, '--target-path', targetPath, '--log-path', targetPath, ...common],
        {
          env,
          reject: false,
          all: true,
        },
      );
      assert.equal(parse.exitCode, 0, parse.all);
      assert.doesNotMatch(parse.all ?? '', /deprecat/i, 'the project uses no deprecated dbt syntax');
    }
  });

  test('runDbt builds every model and runs every test, heartbeating dbt progress', async () => {
    // Through Temporal's activity test environment, so the heartbeats dbt's progress feeds are observed too.
    const { runDbt } = createDbtActivities({ config: fixture.config, heartbeatIntervalMs: 500 });
    const activityEnv = new MockActivityEnvironment({ activityId: `dbt-${randomUUID()}` });
    const heartbeats: { done: number; total: number; last: string }[] = [];
    activityEnv.on('heartbeat', (d: { done: number; total: number; last: string }) => heartbeats.push(d));
    const started = Date.now();
    const summary = (await activityEnv.run(runDbt, { runDate: B2 })) as DbtSummary;
    console.log(
      `dbt build: ${summary.elapsedSeconds} s in dbt, ${(Date.now() - started) / 1000} s wall`,
      JSON.stringify({ ...summary, slowest: summary.slowest.map((n) => `${n.uniqueId} ${n.seconds}s`) }),
    );

    assert.equal(summary.success, true);
    assert.equal(summary.modelsBuilt, 20);
    assert.equal(summary.testsFailed, 0);
    assert.equal(summary.unitTestsPassed, 7);
    assert.ok(summary.testsPassed > 100, `expected the full test suite to run, got ${summary.testsPassed}`);
    assert.deepEqual(summary.failingTests, []);
    assert.equal(summary.slowest.length, 5);
    assert.match(summary.command, /^dbt build --target local --vars \{"run_date":"2026-03-02"\}$/);
    assert.ok(heartbeats.length >= 2, `expected heartbeats while dbt ran, got ${heartbeats.length}`);
    assert.ok(
      heartbeats.some((h) => h.total > 0 && h.done > 0 && /^\d+ of \d+ (OK|PASS)/.test(h.last)),
      `heartbeats should carry dbt's progress: ${JSON.stringify(heartbeats.at(-1))}`,
    );

    // Staging keeps the latest snapshot per key: C2's new name, D3 kept but no longer current.
    const staging = await fixture.db.query(
      `select (select clinic_name from staging.stg_clinics where clinic_id = 'C2') as c2,
              (select is_current from staging.stg_doctors where doctor_id = 'D3') as d3_current,
              (select count(*) from staging.stg_patients) as patients,
              (select count(*) from staging.stg_feedback where comment is null) as empty_comments`,
    );
    assert.deepEqual(
      { ...staging.rows[0] },
      { c2: 'South Clinic', d3_current: false, patients: '4', empty_comments: '2' },
    );
    built = true;
  });
});
