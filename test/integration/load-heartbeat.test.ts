/**
 * Loads that wait, on the real stack (Temporal, PostgreSQL, S3): a load blocked on a table lock keeps heartbeating
 * past the 20 s heartbeatTimeout and finishes in its first attempt once the lock goes; with a short PG_LOCK_TIMEOUT
 * the same wait fails retryably naming the table; a cancelled load gives back its connection and its locks.
 *
 * The lock is held the way a retention cleanup holds it (LOCK TABLE … IN EXCLUSIVE MODE) by a session of the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import pg from 'pg';
import { ObjectStore } from '../../src/activities/storage.js';
import { LOCK_LOAD, PG_APPLICATION_NAME, PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import type { IngestResult } from '../../src/domain/types.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { freshDatabase, harness, testConfig, uniq, uniqueDate, type TestHarness } from '../support/env.js';
import { appointmentsCsv, putShard } from '../support/warehouse-db.js';
import { expectApplicationFailure } from '../support/application-failures.js';

const PendingState = proto.temporal.api.enums.v1.PendingActivityState;
const HEARTBEAT_TIMEOUT_MS = 20_000; // what ingestEntity declares for loadBatch

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('loads that wait for a lock', () => {
  let h: TestHarness;
  let databaseUrl: string;
  let holder: pg.Client;

  before(async () => {
    databaseUrl = await freshDatabase('hs_load_heartbeat_test');
    h = await harness(testConfig({ DATABASE_URL: databaseUrl }));
  });
  after(async () => {
    await holder?.end().catch(() => {});
    await h?.close();
  });

  /** A second session that takes the lock a retention cleanup takes on `table` and keeps it until `release`. */
  async function holdTableLock(table: string): Promise<{ release(): Promise<void> }> {
    holder = new pg.Client({ connectionString: databaseUrl, application_name: 'test-lock-holder' });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
    return {
      release: async () => {
        await holder.query('COMMIT');
        await holder.end();
      },
    };
  }

  /** Warehouse sessions currently blocked on a lock while running `sqlPrefix…`. */
  async function blockedSessions(sqlPrefix: string): Promise<number> {
    const rows = await h.warehouse.query<{ n: number }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND state = 'active'
          AND wait_event_type = 'Lock' AND query LIKE $2`,
      [PG_APPLICATION_NAME, `${sqlPrefix}%`],
    );
    return rows[0]?.n ?? 0;
  }

  async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
      await sleep(200);
    }
  }

  /**
   * Starts ingesting clinics for `runDate` (the caller holds the lock on raw.clinics) and returns once the load's
   * DELETE of its batch waits for that cleanup-style lock.
   */
  async function startBlockedClinicsIngest(runDate: string) {
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.ingestEntity, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.ingest('clinics', runDate)}-${uniq()}`,
      args: [{ entity: 'clinics', runDate, scale: 'small', seed: h.config.seed, shardRows: h.config.shardRows }],
    });
    await until('the load blocked on raw.clinics', async () => (await blockedSessions('DELETE FROM raw.clinics')) > 0);
    return handle;
  }

  /** The attempt of every started generateShard and loadBatch task (other activities, such as the date check's, aside). */
  const loadAttempts = async (workflowId: string): Promise<number[]> => {
    const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const typeOf = new Map(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name]),
    );
    return events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .filter((e) => {
        const type = typeOf.get(Number(e.activityTaskStartedEventAttributes?.scheduledEventId));
        return type === 'generateShard' || type === 'loadBatch';
      })
      .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
  };

  test('a load blocked longer than the heartbeat timeout keeps heartbeating and completes in attempt 1', async () => {
    const runDate = uniqueDate();
    const lock = await holdTableLock('raw.clinics');
    let released = false;
    try {
      const handle = await startBlockedClinicsIngest(runDate);
      const blockedAt = Date.now();
      await sleep(HEARTBEAT_TIMEOUT_MS + 5_000);

      const pending = (await handle.describe()).raw.pendingActivities?.find(
        (a) => a.activityType?.name === 'loadBatch',
      );
      assert.equal(pending?.state, PendingState.PENDING_ACTIVITY_STATE_STARTED);
      assert.equal(pending?.attempt, 1, 'the blocked load must not have been timed out and retried');
      const beatAt = Number(pending?.lastHeartbeatTime?.seconds ?? 0) * 1000;
      assert.ok(beatAt > blockedAt, 'the load heartbeated while it was blocked');
      const details = defaultPayloadConverter.fromPayload(pending!.heartbeatDetails!.payloads![0]!);
      assert.deepEqual(details, { phase: 'delete', rows: 0 });
      assert.equal(await blockedSessions('DELETE FROM raw.clinics'), 1, 'one session waits, not a second attempt');

      await lock.release();
      released = true;
      const result = (await handle.result()) as IngestResult;
      assert.equal(result.loadStatus, 'loaded');
      assert.equal(await h.warehouse.countBatch('clinics', runDate), result.rowsGenerated);
      // generateShard and loadBatch each ran exactly once.
      assert.deepEqual(await loadAttempts(handle.workflowId), [1, 1]);
    } finally {
      if (!released) await lock.release();
    }
  });

  test(
    'with a short PG_LOCK_TIMEOUT the wait fails with a retryable LockTimeout naming the table',
    { timeout: 60_000 },
    async () => {
      if (h.config.warehouse.kind !== 'postgres') throw new Error('unreachable');
      const store = ObjectStore.fromConfig(h.config.s3);
      const shortWait = new PostgresWarehouse({ databaseUrl, store, lockTimeoutMs: 1_000 });
      const day = uniqueDate();
      const shard = await putShard(
        store,
        `test-load-heartbeat-${uniq()}/raw/appointments/dt=${day}/part-00000.csv`,
        appointmentsCsv(day, 1, 5),
        5,
      );
      await shortWait.ensureRawTables();
      const lock = await holdTableLock('raw.appointments');
      try {
        const err = await expectApplicationFailure(
          shortWait.loadBatch({ entity: 'appointments', batchDate: day, objects: [shard] }),
          'the load went through a held lock',
          { type: 'LockTimeout', nonRetryable: false },
        );
        assert.match(
          err.message,
          /^deleting batch \d{4}-\d\d-\d\d from raw\.appointments: gave up after PG_LOCK_TIMEOUT/,
        );
      } finally {
        await lock.release();
        await shortWait.close();
        await store.delete([shard.key]);
      }
      assert.equal(await h.warehouse.countBatch('appointments', day), 0);
    },
  );

  test('making the raw tables ready never waits for a lock on an existing table', { timeout: 60_000 }, async () => {
    // A fresh worker's first load (or cleanup) runs ensureRawTables while a cleanup may hold a table.
    if (h.config.warehouse.kind !== 'postgres') throw new Error('unreachable');
    const fresh = new PostgresWarehouse({ databaseUrl, store: h.store, lockTimeoutMs: 1_000 });
    const lock = await holdTableLock('raw.records');
    try {
      await fresh.ensureRawTables();
    } finally {
      await lock.release();
      await fresh.close();
    }
  });

  test('a cancelled load aborts its statement and gives back its connection and locks', async () => {
    const runDate = uniqueDate();
    const lock = await holdTableLock('raw.clinics');
    try {
      const handle = await startBlockedClinicsIngest(runDate);
      // While blocked, the load's transaction holds the batch's advisory lock (LOCK_LOAD, hashtext('clinics/<date>');
      // pg_locks shows the second key as an unsigned oid).
      const batchLocks = async (): Promise<number> =>
        (
          await h.warehouse.query<{ n: number }>(
            `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2
                AND objid::bigint = (hashtext($2)::bigint + 4294967296) % 4294967296`,
            [LOCK_LOAD, `clinics/${runDate}`],
          )
        )[0]?.n ?? 0;
      assert.equal(await batchLocks(), 1);

      await handle.cancel();
      await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError);
      // Temporal delivers the cancellation with the next heartbeat; the load then cancels its own DELETE.
      await until(
        'the load gave up its session and locks',
        async () => {
          const sessions = await h.warehouse.query<{ n: number }>(
            `SELECT count(*) AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1 AND query LIKE 'DELETE FROM raw.clinics%'
              AND state <> 'idle'`,
            [PG_APPLICATION_NAME],
          );
          return (sessions[0]?.n ?? 0) === 0 && (await batchLocks()) === 0;
        },
        30_000,
      );
    } finally {
      await lock.release();
    }
    assert.equal(await h.warehouse.countBatch('clinics', runDate), 0, 'the cancelled load wrote nothing');
  });
});
