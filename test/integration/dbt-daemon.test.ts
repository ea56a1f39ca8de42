/**
 * runDbt's long-lived dbt (src/activities/dbt-daemon.ts): builds in one daemon reuse its parsed manifest and still
 * build each its own date, equal to builds in a dbt process each; a daemon killed between builds or in the middle
 * of one costs a build nothing (a new daemon, or a dbt process for that build).
 * Real PostgreSQL (two private databases with the hand-made fixture of test/integration/dbt/), real dbt.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { createDbtActivities, type DbtHeartbeat } from '../../src/activities/dbt.js';
import { DBT_DAEMONS, type DbtDaemon } from '../../src/activities/dbt-daemon.js';
import type { DbtSummary } from '../../src/domain/types.js';
import { B1, B2, MARTS, createFixtureDatabase, type FixtureDatabase } from '../support/dbt-fixture.js';

async function readMarts(url: string): Promise<Record<string, string[]>> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const mart of MARTS) {
      const rows = await db.query<{ line: string }>(`select t::text as line from marts.${mart} t`);
      out[mart] = rows.rows.map((r) => r.line).sort();
    }
    return out;
  } finally {
    await db.end();
  }
}

/** The one live daemon of this test process (every build here uses the same dbt and target). */
function theDaemon(): DbtDaemon {
  const live = DBT_DAEMONS.live();
  assert.equal(live.length, 1, `one live dbt daemon, found ${live.length}`);
  return live[0]!;
}

describe('runDbt in a long-lived dbt', { timeout: 900_000 }, () => {
  let dataDir: string;
  let inDaemon: FixtureDatabase;
  let inProcesses: FixtureDatabase;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-dbt-daemon-test-'));
    inDaemon = await createFixtureDatabase('hs_dbtd_daemon', path.join(dataDir, 'daemon'));
    inProcesses = await createFixtureDatabase('hs_dbtd_process', path.join(dataDir, 'process'));
  });

  after(async () => {
    for (const daemon of DBT_DAEMONS.live()) daemon.kill();
    await inDaemon?.drop();
    await inProcesses?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('two days built in one daemon each build their own date, as dbt processes do', async () => {
    const daemon = createDbtActivities({ config: inDaemon.config });
    const processes = createDbtActivities({
      config: { ...inProcesses.config, dbt: { ...inProcesses.config.dbt, daemon: false } },
    });
    const built: DbtSummary[] = [];
    for (const runDate of [B1, B2]) {
      built.push(await daemon.runDbt({ runDate, scope: 'day' }));
      built.push(await processes.runDbt({ runDate, scope: 'day' }));
    }
    for (const summary of built) {
      assert.equal(summary.success, true);
      assert.equal(summary.testsFailed, 0);
    }
    assert.deepEqual(
      [built[2]!.modelsBuilt, built[2]!.testsPassed],
      [built[3]!.modelsBuilt, built[3]!.testsPassed],
      'the same nodes ran in the daemon as in a dbt process',
    );
    const d = theDaemon();
    assert.deepEqual([d.builds, d.parses], [2, 1], 'the second build reused the manifest the first one parsed');

    // Each build ranked as of its own date (a build compiled with the previous date would rank B1 twice).
    const marts = await readMarts(inDaemon.url);
    const ratings = new pg.Client({ connectionString: inDaemon.url });
    await ratings.connect();
    try {
      const rows = await ratings.query<{ as_of_on: string; ranks: string }>(
        `select as_of_on::text as as_of_on, string_agg(doctor_id, ',' order by score_rank) as ranks
           from marts.doctor_rating group by 1 order by 1`,
      );
      assert.deepEqual(
        rows.rows.map((r) => ({ ...r })),
        [
          { as_of_on: B1, ranks: 'D1,D3' },
          { as_of_on: B2, ranks: 'D3,D1,D2' },
        ],
      );
    } finally {
      await ratings.end();
    }
    // And every mart equals the builds of dbt processes, row for row.
    const reference = await readMarts(inProcesses.url);
    for (const mart of MARTS) {
      assert.ok(reference[mart]!.length > 0, `${mart} is not empty`);
      assert.deepEqual(marts[mart], reference[mart], `${mart}: daemon = dbt processes`);
    }

    // A build with other --vars (a full build) parses again, and a day after it parses once more.
    const full = await daemon.runDbt({ runDate: B2, scope: 'full' });
    assert.equal(full.testsFailed, 0);
    assert.ok(full.unitTestsPassed > 0, 'the full build ran the unit tests');
    assert.deepEqual([d.builds, d.parses], [3, 2]);
    assert.equal((await daemon.runDbt({ runDate: B2, scope: 'day' })).success, true);
    assert.deepEqual([d.builds, d.parses], [4, 3]);
    assert.equal(theDaemon(), d, 'all in the same process');
  });

  test('a daemon killed between builds is replaced by a new one', async () => {
    const { runDbt } = createDbtActivities({ config: inDaemon.config });
    await runDbt({ runDate: B2, scope: 'day' });
    const killed = theDaemon();
    killed.child.ref(); // an idle daemon is unref'd: keep this test's process up until it is gone
    killed.child.kill('SIGKILL');
    await new Promise((resolve) => killed.child.once('exit', resolve));
    assert.equal(killed.alive, false);

    const summary = await runDbt({ runDate: B2, scope: 'day' });
    assert.equal(summary.success, true);
    const next = theDaemon();
    assert.notEqual(next.child.pid, killed.child.pid);
    assert.deepEqual([next.builds, next.parses], [1, 1]);
  });

  test('a daemon that dies in the middle of a build: the build finishes in a dbt process', async () => {
    const { runDbt } = createDbtActivities({ config: inDaemon.config, heartbeatIntervalMs: 100 });
    await runDbt({ runDate: B2, scope: 'day' }); // a warm daemon, so the next build starts on its nodes at once
    const doomed = theDaemon();
    const answered = doomed.builds;
    const env = new MockActivityEnvironment({ activityId: `dbt-daemon-kill-${randomUUID().slice(0, 8)}` });
    let killedAt: number | undefined;
    env.on('heartbeat', (details: DbtHeartbeat) => {
      if (killedAt === undefined && details.phase === 'running' && details.done > 0 && doomed.busy) {
        killedAt = details.done;
        doomed.child.kill('SIGKILL');
      }
    });
    const summary = (await env.run(runDbt, { runDate: B2, scope: 'day' as const })) as DbtSummary;
    assert.ok(killedAt !== undefined, 'the daemon was killed while it built');
    assert.equal(doomed.alive, false);
    assert.equal(doomed.builds, answered, 'the daemon never answered the killed build');
    assert.equal(summary.success, true, 'the build ran again in a dbt process');
    assert.equal(summary.testsFailed, 0);
    assert.ok(summary.modelsBuilt > 0);
    assert.equal(DBT_DAEMONS.live().length, 0, 'the fallback started no daemon');

    // The next build gets a new daemon.
    assert.equal((await runDbt({ runDate: B2, scope: 'day' })).success, true);
    assert.notEqual(theDaemon(), doomed);
  });
});
