/**
 * The Temporal Cloud action count the bench reports (bench/actions.ts), on recorded histories: a child workflow is
 * two actions, every activity attempt one, patched()'s TemporalChangeVersion upserts none, and heartbeats are the
 * throttle's estimate.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { countActions, estimatedHeartbeats } from '../../bench/actions.js';
import { historyFromJson } from '../workflow/histories/history-json.js';

const EventType = proto.temporal.api.enums.v1.EventType;

async function recorded(name: string) {
  const url = new URL(`../workflow/histories/current/${name}.json`, import.meta.url);
  return historyFromJson(await readFile(url, 'utf8')).events ?? [];
}

const ofType = (events: proto.temporal.api.history.v1.IHistoryEvent[], type: number) =>
  events.filter((e) => e.eventType === type);

describe('Temporal Cloud actions of a run', () => {
  test('the pipeline: one start, two actions per child, one per activity attempt, the parts add up', async () => {
    const events = await recorded('daily-pipeline-completed');
    const count = countActions([{ workflowType: 'dailyPipeline', events }]);
    const children = ofType(events, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED).length;
    const attempts = ofType(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED).reduce(
      (n, e) => n + (e.activityTaskStartedEventAttributes?.attempt ?? 1),
      0,
    );
    assert.ok(children >= 8, 'six ingests, the report and the cleanup');
    assert.equal(count.workflows_started, 1);
    assert.equal(count.child_workflows, 2 * children);
    assert.equal(count.activities, attempts);
    assert.equal(count.signals, ofType(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length);
    const { total, by_activity: _byActivity, ...parts } = count;
    assert.equal(
      total,
      Object.values(parts).reduce((a, b) => a + b, 0),
    );
  });

  test("patched()'s TemporalChangeVersion upserts are not billed", async () => {
    const events = await recorded('ingest-entity-appointments');
    assert.ok(ofType(events, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES).length > 0);
    assert.equal(countActions([{ workflowType: 'ingestEntity', events }]).search_attribute_upserts, 0);
  });

  test('heartbeats: the first at once, then one per 80 % of the heartbeat timeout; none without a timeout', () => {
    assert.equal(estimatedHeartbeats(1_000, 20), 1);
    assert.equal(estimatedHeartbeats(16_000, 20), 2);
    assert.equal(estimatedHeartbeats(100_000, 60), 3);
    assert.equal(estimatedHeartbeats(100_000, 0), 0);
  });
});
