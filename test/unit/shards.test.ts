/**
 * The shard cap: the event costs it is computed from match a recorded ingestEntity history, and a scale that needs
 * more shards per entity than one history holds is refused everywhere a scale comes in, naming what to change.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { ConfigError, loadConfig, parseScale } from '../../src/config.js';
import {
  EVENTS_PER_PROGRESS_SIGNAL,
  EVENTS_PER_SHARD,
  HISTORY_EVENT_LIMIT,
  MAX_PROGRESS_SIGNALS,
  MAX_SHARDS_PER_ENTITY,
  progressEvery,
  shardPlanProblem,
} from '../../src/domain/shards.js';
import { historyFromJson } from '../workflow/histories/history-json.js';

const { EventType } = proto.temporal.api.enums.v1;

describe('the shard cap', () => {
  test('one shard and one progress signal cost what a recorded ingestEntity history shows', async () => {
    // Recorded from a real run: one shard, its progress signal, the load, the final signal.
    const history = historyFromJson(
      await readFile(
        new URL('../workflow/histories/before-patches/ingest-entity-appointments.json', import.meta.url),
        'utf8',
      ),
    );
    const types = (history.events ?? []).map((e) => EventType[e.eventType ?? 0]);
    const shard = types.indexOf('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
    const signal = types.indexOf('EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED');
    // From the shard's ActivityTaskScheduled to the workflow task its completion woke, and the signal likewise.
    assert.deepEqual(types.slice(shard, signal), [
      'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
      'EVENT_TYPE_ACTIVITY_TASK_STARTED',
      'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
      'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      'EVENT_TYPE_WORKFLOW_TASK_STARTED',
      'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
    ]);
    assert.equal(signal - shard, EVENTS_PER_SHARD);
    assert.deepEqual(types.slice(signal, signal + EVENTS_PER_PROGRESS_SIGNAL), [
      'EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED',
      'EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED',
      'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      'EVENT_TYPE_WORKFLOW_TASK_STARTED',
      'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
    ]);
    // The cap leaves room for everything else and a margin.
    const worst = MAX_SHARDS_PER_ENTITY * EVENTS_PER_SHARD + MAX_PROGRESS_SIGNALS * EVENTS_PER_PROGRESS_SIGNAL;
    assert.ok(worst < HISTORY_EVENT_LIMIT * 0.9, `${worst} events at the cap`);
    assert.ok((MAX_SHARDS_PER_ENTITY + 1) * EVENTS_PER_SHARD + 100 > HISTORY_EVENT_LIMIT * 0.85);
  });

  test('progress signals: at most ten per child plus the final one, whatever the shard count', () => {
    for (let shards = 1; shards <= 5_000; shards++) {
      const signals = Math.floor(shards / progressEvery(shards)) + 1;
      assert.ok(signals <= MAX_PROGRESS_SIGNALS, `${shards} shards: ${signals} signals`);
    }
    assert.equal(progressEvery(288), 29);
    assert.equal(progressEvery(3), 1);
  });

  test('the largest shard count passes; one more is refused naming the limit and both ways out', () => {
    assert.equal(shardPlanProblem(MAX_SHARDS_PER_ENTITY, 1), undefined);
    assert.equal(shardPlanProblem(MAX_SHARDS_PER_ENTITY * 1_000, 1_000), undefined);
    assert.equal(
      shardPlanProblem(10_000_000, 1_000),
      `scale 10000000 (10000000 appointments) at SHARD_ROWS=1000 needs 10000 shards per entity, more than the ` +
        `${MAX_SHARDS_PER_ENTITY} that keep a workflow history under 2000 events: raise SHARD_ROWS to at least ` +
        `${Math.ceil(10_000_000 / MAX_SHARDS_PER_ENTITY)} or lower the scale to at most ${MAX_SHARDS_PER_ENTITY * 1_000} appointments`,
    );
    assert.match(shardPlanProblem(MAX_SHARDS_PER_ENTITY + 1, 1) ?? '', /needs 289 shards per entity/);
    // The named scales fit at the default SHARD_ROWS.
    for (const scale of ['small', 'medium', 'large'] as const)
      assert.equal(shardPlanProblem(scale, 250_000), undefined);
  });

  test('the CLI parser and the configuration refuse such a scale too', () => {
    assert.equal(parseScale('medium', 1_000), 'medium');
    assert.throws(() => parseScale('10000000', 1_000), /raise SHARD_ROWS to at least \d+ or lower the scale/);
    assert.equal(parseScale('10000000'), 10_000_000, 'without SHARD_ROWS only the range is checked');
    assert.throws(
      () => loadConfig({ DEFAULT_SCALE: '10000000', SHARD_ROWS: '1000' }, '/tmp'),
      (err: unknown) =>
        err instanceof ConfigError &&
        /DEFAULT_SCALE and SHARD_ROWS: scale 10000000 .* needs 10000 shards/.test(err.message),
    );
    assert.equal(loadConfig({ DEFAULT_SCALE: '10000000' }, '/tmp').defaultScale, 10_000_000);
  });
});
