/**
 * Bounded histories on the real stack (Temporal, S3, PostgreSQL): ingestEntity at the largest shard count it
 * accepts runs to the end with a history under 2,000 events and at most eleven progress signals; one shard more is
 * refused at once with InvalidInput, by ingestEntity and by dailyPipeline, before any activity or child starts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { HISTORY_EVENT_LIMIT, MAX_PROGRESS_SIGNALS, MAX_SHARDS_PER_ENTITY } from '../../src/domain/shards.js';
import type { IngestResult } from '../../src/domain/types.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/temporal.js';
import { installQuietRuntime, WORKFLOWS_PATH } from '../../src/worker.js';
import { PATCHES } from '../../src/workflows/patches.js';
import { harness, testConfig, uniq, uniqueDate, type TestHarness } from '../support/env.js';
import { patchIds, scheduledActivities } from '../support/history.js';

const { EventType } = proto.temporal.api.enums.v1;

describe('bounded workflow histories', () => {
  let h: TestHarness;
  before(async () => {
    // SHARD_ROWS at its minimum, as a deployment generating a lot with small part files would set it.
    h = await harness(testConfig({ SHARD_ROWS: '1000', WORKER_MAX_CONCURRENT_ACTIVITIES: '16' }));
  });
  after(async () => {
    await h?.close();
  });

  /** The workflow's failure cause, asserting it failed. */
  async function failure(run: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await run.then(
      () => assert.fail('the run completed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    return err.cause;
  }

  test('the largest allowed shard count runs with a history under the limit and batched progress', async () => {
    const runDate = uniqueDate();
    // One appointment per shard: the cheapest way to reach the cap.
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.ingestEntity, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.ingest('appointments', runDate)}-${uniq()}`,
      args: [
        {
          entity: 'appointments',
          runDate,
          scale: MAX_SHARDS_PER_ENTITY,
          seed: h.config.seed,
          shardRows: 1,
          // Progress goes to a parent that is not there: each signal still costs its events in this history.
          parentWorkflowId: `no-such-parent-${uniq()}`,
        },
      ],
    });
    const result = (await handle.result()) as IngestResult;
    assert.equal(result.shards, MAX_SHARDS_PER_ENTITY);
    assert.equal(result.rowsLoaded, MAX_SHARDS_PER_ENTITY);
    assert.equal(await h.warehouse.countBatch('appointments', runDate), MAX_SHARDS_PER_ENTITY);

    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    console.log(`${MAX_SHARDS_PER_ENTITY} shards: ${events.length} history events (limit ${HISTORY_EVENT_LIMIT})`);
    assert.ok(events.length < HISTORY_EVENT_LIMIT, `${events.length} events`);
    const signals = events.filter(
      (e) => e.eventType === EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    ).length;
    assert.ok(signals <= MAX_PROGRESS_SIGNALS, `${signals} progress signals`);
    assert.ok(signals >= 2, 'progress is still reported while shards finish, and at the end');
    assert.deepEqual(patchIds(history), [PATCHES.dateChecks, PATCHES.batchedProgress]);
    assert.equal(scheduledActivities(history).filter((a) => a === 'generateShard').length, MAX_SHARDS_PER_ENTITY);
    // The batched path replays deterministically (the recorded one-shard histories replay the old path).
    installQuietRuntime();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: 'bounded-history-replay' }, history);
  });

  test('one shard more is refused at once with InvalidInput naming the limit and what to change', async () => {
    const runDate = uniqueDate();
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.ingestEntity, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.ingest('appointments', runDate)}-${uniq()}`,
      args: [{ entity: 'appointments', runDate, scale: MAX_SHARDS_PER_ENTITY + 1, seed: h.config.seed, shardRows: 1 }],
    });
    const cause = await failure(handle.result());
    assert.equal(cause.type, 'InvalidInput');
    assert.equal(cause.nonRetryable, true);
    assert.match(
      cause.message,
      new RegExp(
        `^ingestEntity: scale/shardRows: .* needs ${MAX_SHARDS_PER_ENTITY + 1} shards per entity, more than the ` +
          `${MAX_SHARDS_PER_ENTITY} that keep a workflow history under ${HISTORY_EVENT_LIMIT} events: raise SHARD_ROWS ` +
          `to at least 2 or lower the scale to at most ${MAX_SHARDS_PER_ENTITY} appointments$`,
      ),
    );
    assert.deepEqual(scheduledActivities(await handle.fetchHistory()), [], 'nothing was generated');
  });

  test('dailyPipeline refuses such a scale before starting any child', async () => {
    const runDate = uniqueDate();
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.dailyPipeline, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.dailyPipeline(runDate)}-${uniq()}`,
      args: [{ runDate, scale: 10_000_000 }],
    });
    try {
      const cause = await failure(handle.result());
      assert.equal(cause.type, 'InvalidInput');
      assert.match(cause.message, /^dailyPipeline: scale: scale 10000000 .* at SHARD_ROWS=1000 needs 10000 shards/);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        !events.some((e) => e.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        'no ingest child started',
      );
    } finally {
      await handle.terminate('test cleanup').catch(() => undefined);
    }
  });
});
