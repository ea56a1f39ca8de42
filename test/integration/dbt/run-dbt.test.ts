/**
 * How the runDbt activity fails, against the real local PostgreSQL and the real dbt binary: failing dbt tests, a
 * cancel (of a dbt process or of the worker's dbt daemon), a missing dbt. Runs on a copy of the built fixture (test/support/dbt-built.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { createDbtActivities } from '../../../src/activities/dbt.js';
import { DBT_DAEMONS } from '../../../src/activities/dbt-daemon.js';
import { RAW_SCHEMA } from '../../../src/domain/entities.js';
import { useBuiltFixture } from '../../support/dbt-built.js';
import { B2, appt, insertRows } from '../../support/dbt-fixture.js';

describe('runDbt failures', { timeout: 600_000 }, () => {
  const fixture = useBuiltFixture('hs_dbt_run');

  test('a broken relationship fails runDbt with DbtTestFailure naming the tests', async () => {
    const { db, config } = fixture();
    const { runDbt } = createDbtActivities({ config });
    // In a published day (an unpublished one is invisible to staging and raw tests alike).
    const orphan = appt('A-ORPHAN', 'P-MISSING', 'D1', '2026-03-01 10:00:00', B2, false, false, B2);
    await insertRows(db, 'appointments', [orphan]);
    try {
      await assert.rejects(runDbt({ runDate: '2026-03-03' }), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
        assert.equal(err.type, 'DbtTestFailure');
        assert.equal(err.nonRetryable, true);
        console.log(err.message);
        assert.match(err.message, /^dbt tests failed: /);
        assert.match(err.message, /relationships_stg_appointments_patient_id__patient_id__ref_stg_patients_/);
        assert.match(err.message, /source_relationships_raw_appointments_patient_id__patient_id__source_raw_patients_/);
        const summary = err.details?.[0] as { testsFailed: number; success: boolean; failingTests: string[] };
        assert.equal(summary.success, false);
        assert.equal(summary.testsFailed, summary.failingTests.length);
        assert.ok(summary.testsFailed >= 2);
        return true;
      });
    } finally {
      await db.query(`delete from ${RAW_SCHEMA}.appointments where appointment_id = 'A-ORPHAN'`);
    }
  });

  test('cancelling runDbt kills the dbt process', async () => {
    const { runDbt } = createDbtActivities({ config: fixture().config, heartbeatIntervalMs: 200 });
    const activityEnv = new MockActivityEnvironment({ activityId: `dbt-cancel-${randomUUID()}` });
    const building = activityEnv.run(runDbt, { runDate: B2 });
    // Wait until dbt itself is running: a dbt process (it has our per-run target path on its command line), or
    // the worker's dbt daemon busy with this build.
    const dbtProcesses = async (): Promise<string[]> => {
      const daemons = new Set(
        DBT_DAEMONS.live()
          .filter((d) => d.busy)
          .map((d) => d.child.pid),
      );
      const ps = await execa('ps', ['-eo', 'pid=,args=']);
      return ps.stdout
        .split('\n')
        .filter(
          (line) =>
            (line.includes(path.join(fixture().dataDir, 'dbt')) && line.includes(' build ')) ||
            daemons.has(Number(line.trim().split(/\s+/)[0])),
        );
    };
    for (let i = 0; i < 100 && (await dbtProcesses()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const running = await dbtProcesses();
    assert.ok(running.length > 0, 'dbt should be running before the cancel');
    const cancelledAt = Date.now();
    activityEnv.cancel();
    await assert.rejects(building, (err: unknown) => err instanceof CancelledFailure);
    const seconds = (Date.now() - cancelledAt) / 1000;
    assert.ok(seconds < 12, `dbt took ${seconds} s to stop`);
    const ps = await execa('ps', ['-eo', 'pid=']);
    const alive = new Set(ps.stdout.split('\n').map((pid) => Number(pid.trim())));
    const left = running.filter((line) => alive.has(Number(line.trim().split(/\s+/)[0])));
    assert.deepEqual(left, [], 'no dbt process may outlive the cancelled activity');
  });

  test('runDbt reports a missing dbt binary as DbtNotInstalled', async () => {
    const { config, dataDir } = fixture();
    const missing = { ...config, dbt: { ...config.dbt, bin: path.join(dataDir, 'no-such-dbt', 'bin', 'dbt') } };
    await assert.rejects(createDbtActivities({ config: missing }).runDbt({ runDate: B2 }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DbtNotInstalled');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /npm run setup/);
      return true;
    });
    // Without DBT_BIN and with no build in the cache folder: the same, naming setup's location.
    const noBin = { ...config, dbt: { threads: config.dbt.threads, daemon: config.dbt.daemon } };
    const env = { PATH: process.env.PATH, XDG_CACHE_HOME: path.join(dataDir, 'empty-cache') };
    await assert.rejects(createDbtActivities({ config: noBin, env }).runDbt({ runDate: B2 }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DbtNotInstalled');
      assert.match(err.message, new RegExp(`${path.join(dataDir, 'empty-cache', 'healthsynth')}.*npm run setup`));
      return true;
    });
  });
});
