/**
 * runDbt serializes dbt builds per PostgreSQL database with a session advisory lock (DBT_BUILD_LOCK), and each
 * build keeps its own date's ranking in marts.doctor_rating. Real PostgreSQL, real dbt, one private database
 * (hs_dbtconc_test_<random>) holding the hand-made fixture of the dbt tests in test/integration/dbt/; dropped at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { DBT_LOCK_WAIT_DETAIL, createDbtActivities, type DbtHeartbeat } from '../../src/activities/dbt.js';
import { DBT_BUILD_LOCK } from '../../src/activities/warehouse/dbt-build-lock.js';
import type { DbtSummary } from '../../src/domain/types.js';
import { B1, B2, createFixtureDatabase, type FixtureDatabase } from '../support/dbt-fixture.js';

interface RunResultsFile {
  results: { unique_id: string; timing: { name: string; started_at?: string; completed_at?: string }[] }[];
}

/** First start and last end over every node dbt ran (from the run's run_results.json), in epoch ms. */
async function buildSpan(dataDir: string, runDate: string): Promise<{ start: number; end: number }> {
  const dirs = (await readdir(path.join(dataDir, 'dbt'))).filter((d) => d.startsWith(`${runDate}-`));
  assert.equal(dirs.length, 1, `one run directory for ${runDate}: ${dirs.join(', ')}`);
  const file = path.join(dataDir, 'dbt', dirs[0] ?? '', 'target', 'run_results.json');
  const runResults = JSON.parse(await readFile(file, 'utf8')) as RunResultsFile;
  const times = runResults.results.flatMap((r) =>
    r.timing.flatMap((t) => [t.started_at, t.completed_at]).filter((x): x is string => Boolean(x)),
  );
  assert.ok(times.length > 10, `run_results.json of ${runDate} has node timings`);
  // dbt writes UTC timestamps without a zone suffix.
  const ms = times.map((t) => Date.parse(/Z$|[+-]\d\d:\d\d$/.test(t) ? t : `${t}Z`));
  return { start: Math.min(...ms), end: Math.max(...ms) };
}

describe('dbt builds are serialized per warehouse', { timeout: 600_000 }, () => {
  let fixture: FixtureDatabase;
  let dataDir: string;
  let db: pg.Client;
  const [k1, k2] = DBT_BUILD_LOCK;

  /** Holders and waiters of DBT_BUILD_LOCK in the fixture database, as seen by pg_locks. */
  async function lockState(): Promise<{ granted: number; waiting: number }> {
    const r = await db.query<{ granted: number; waiting: number }>(
      `select count(*) filter (where granted)::int as granted, count(*) filter (where not granted)::int as waiting
         from pg_locks
        where locktype = 'advisory' and classid = $1 and objid = $2 and objsubid = 2
          and database = (select oid from pg_database where datname = current_database())`,
      [k1, k2],
    );
    return r.rows[0] ?? { granted: 0, waiting: 0 };
  }

  /** Sessions runDbt opened for the lock in the fixture database (it must close them all). */
  async function lockSessions(): Promise<number> {
    const r = await db.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database()
          and application_name = 'healthsynth-dbt-lock'`,
    );
    return r.rows[0]?.n ?? 0;
  }

  async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-dbtconc-test-'));
    fixture = await createFixtureDatabase('hs_dbtconc_test', dataDir);
    db = new pg.Client({ connectionString: fixture.url });
    await db.connect();
  });

  after(async () => {
    await db?.end();
    await fixture?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('two runDbt for different dates started together both succeed, one after the other', async () => {
    const { runDbt } = createDbtActivities({ config: fixture.config, heartbeatIntervalMs: 200 });
    const heartbeats: Record<string, { at: number; details: DbtHeartbeat }[]> = { [B1]: [], [B2]: [] };
    const run = (runDate: string): Promise<DbtSummary> => {
      const env = new MockActivityEnvironment({ activityId: `dbt-${runDate}-${randomUUID().slice(0, 8)}` });
      env.on('heartbeat', (details: DbtHeartbeat) => heartbeats[runDate]?.push({ at: Date.now(), details }));
      return env.run(runDbt, { runDate }) as Promise<DbtSummary>;
    };

    // Sample pg_locks while the builds run: the second build must be seen queued behind the first.
    const samples: { granted: number; waiting: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await lockState());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const started = Date.now();
    let results: PromiseSettledResult<DbtSummary>[];
    try {
      results = await Promise.allSettled([run(B1), run(B2)]);
    } finally {
      sampling = false;
      await sampler;
    }
    const wallSeconds = (Date.now() - started) / 1000;

    for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
    const [s1, s2] = results.map((r) => (r as PromiseFulfilledResult<DbtSummary>).value);
    assert.equal(s1?.success, true);
    assert.equal(s2?.success, true);
    assert.equal(s1?.testsFailed, 0);
    assert.equal(s2?.testsFailed, 0);

    // The two builds did not overlap: dbt's own node timings put one entirely before the other.
    const span1 = await buildSpan(dataDir, B1);
    const span2 = await buildSpan(dataDir, B2);
    const [first, second] = span1.start <= span2.start ? [span1, span2] : [span2, span1];
    console.log(
      `two builds in ${wallSeconds} s wall; dbt: ${(first.end - first.start) / 1000} s then ` +
        `${(second.end - second.start) / 1000} s, gap ${(second.start - first.end) / 1000} s; ` +
        `lock samples with a waiter: ${samples.filter((s) => s.waiting > 0).length}/${samples.length}`,
    );
    assert.ok(first.end <= second.start, `builds overlapped: ${JSON.stringify({ first, second })}`);

    // The wait was visible: in pg_locks (one holder, one waiter) and in exactly one run's heartbeats.
    assert.ok(
      samples.some((s) => s.granted === 1 && s.waiting === 1),
      `pg_locks never showed a waiting build: ${JSON.stringify(samples.slice(0, 20))}`,
    );
    assert.ok(
      samples.every((s) => s.granted <= 1),
      'never more than one holder',
    );
    const waited = Object.entries(heartbeats).filter(([, hs]) => hs.some((h) => h.details.phase === 'waiting'));
    assert.equal(waited.length, 1, `exactly one run waited: ${waited.map(([d]) => d).join(', ')}`);
    const [waitedDate, waitedBeats] = waited[0] ?? ['', []];
    const waiting = waitedBeats.filter((h) => h.details.phase === 'waiting');
    assert.ok(waiting.length >= 2, `the waiting run kept heartbeating (${waiting.length} heartbeats)`);
    assert.ok(
      waiting.every((h) => h.details.last.startsWith(DBT_LOCK_WAIT_DETAIL) && h.details.runDate === waitedDate),
    );
    assert.ok(
      waitedBeats.some((h) => h.details.phase === 'running' && h.details.done > 0),
      'the waiting run went on to build once the lock was free',
    );

    // Both rankings are in the mart, each with its own date.
    const rows = await db.query<{ as_of_on: string; doctors: number; ranks: string }>(
      `select as_of_on::text as as_of_on, count(*)::int as doctors, string_agg(doctor_id, ',' order by score_rank) as ranks
         from marts.doctor_rating group by 1 order by 1`,
    );
    assert.deepEqual(
      rows.rows.map((r) => ({ ...r })),
      [
        { as_of_on: B1, doctors: 2, ranks: 'D1,D3' },
        { as_of_on: B2, doctors: 3, ranks: 'D3,D1,D2' },
      ],
    );

    // Nothing is left behind: no holder, no waiter, no lock session.
    assert.deepEqual(await lockState(), { granted: 0, waiting: 0 });
    assert.equal(await lockSessions(), 0);
  });

  test('cancelling a runDbt that waits for the lock ends the wait without running dbt', async () => {
    const holder = new pg.Client({ connectionString: fixture.url });
    await holder.connect();
    try {
      // Another build holds the lock.
      await holder.query('select pg_advisory_lock($1, $2)', [k1, k2]);
      const runDate = '2026-03-05';
      const { runDbt } = createDbtActivities({ config: fixture.config, heartbeatIntervalMs: 100 });
      const env = new MockActivityEnvironment({ activityId: `dbt-cancel-${randomUUID()}` });
      const heartbeats: DbtHeartbeat[] = [];
      env.on('heartbeat', (d: DbtHeartbeat) => heartbeats.push(d));
      const running = env.run(runDbt, { runDate });
      let outcome: unknown = 'still running';
      running.then(
        () => (outcome = 'finished'),
        (err: unknown) => (outcome = err),
      );

      await until('runDbt to queue for the lock', async () => (await lockState()).waiting === 1);
      await until('a waiting heartbeat', () => heartbeats.filter((h) => h.phase === 'waiting').length >= 3);
      assert.equal(outcome, 'still running', 'runDbt waits while the lock is held');
      assert.match(heartbeats.at(-1)?.last ?? '', new RegExp(`^${DBT_LOCK_WAIT_DETAIL} \\(since `));

      const cancelledAt = Date.now();
      env.cancel();
      await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
      const seconds = (Date.now() - cancelledAt) / 1000;
      assert.ok(seconds < 5, `the wait took ${seconds} s to end`);

      // The waiter is gone from the lock queue (it would otherwise take the lock later), its session is closed,
      // and dbt never started for that date.
      await until('the waiting session to close', async () => (await lockSessions()) === 0, 5_000);
      assert.deepEqual(await lockState(), { granted: 1, waiting: 0 });
      const ps = await execa('ps', ['-eo', 'args=']);
      assert.ok(!ps.stdout.includes(path.join(dataDir, 'dbt', `${runDate}-`)), 'no dbt process for the cancelled run');
      assert.ok(heartbeats.every((h) => h.phase === 'waiting'));
    } finally {
      await holder.query('select pg_advisory_unlock_all()').catch(() => {});
      await holder.end();
    }
    assert.deepEqual(await lockState(), { granted: 0, waiting: 0 });
  });
});
