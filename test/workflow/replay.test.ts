/**
 * Replay tests (the habit of sdk-typescript's test-replay): every history recorded from a real run by
 * scripts/record-histories.ts is replayed against the workflow code the worker bundles today
 * (WORKFLOWS_PATH). A change that would break runs in flight at deploy time (an activity or child added,
 * removed or reordered without `patched()`) makes the replay fail with a DeterminismViolationError.
 *
 * No server is needed: replay runs the workflow code against the recorded events only.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { installQuietRuntime, WORKFLOWS_PATH } from '../../src/worker.js';
import { patchIds, scheduledActivities } from '../support/history.js';
import { historyFromJson } from './histories/history-json.js';

const HISTORIES_DIR = fileURLToPath(new URL('./histories/', import.meta.url));
/** Recorded by scripts/record-histories.ts from the current code: one or more per workflow type. */
const CURRENT = 'current';
/** Recorded before the patched() changes of src/workflows/patches.ts: runs that were open at those deploys. */
const BEFORE_PATCHES = 'before-patches';

/** Every workflow type the worker registers (the exports of src/workflows/index.ts). */
async function registeredTypes(): Promise<string[]> {
  return Object.keys(await import('../../src/workflows/index.js')).sort();
}

async function loadHistories(folder: string) {
  const dir = path.join(HISTORIES_DIR, folder);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({
      // The folder and file name stand in for the workflow id; replay needs a unique one per history.
      workflowId: `${folder}/${path.basename(file, '.json')}`,
      history: historyFromJson(await readFile(path.join(dir, file), 'utf8')),
    })),
  );
}

const typeOf = (h: Awaited<ReturnType<typeof loadHistories>>[number]) =>
  h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

describe('replay of recorded histories', () => {
  test('every recorded history replays against the current workflow code without a determinism error', async () => {
    installQuietRuntime();
    const current = await loadHistories(CURRENT);
    const histories = [...current, ...(await loadHistories(BEFORE_PATCHES))];
    // Every registered workflow type has a history recorded from the current code, so a new workflow (or a lost
    // recording) is noticed here rather than at the first deploy.
    const recorded = new Set(current.map(typeOf));
    for (const type of await registeredTypes()) {
      assert.ok(recorded.has(type), `no ${CURRENT}/ history of ${type}: run scripts/record-histories.ts`);
    }

    const replayed: string[] = [];
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay' },
      histories,
    )) {
      replayed.push(result.workflowId);
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    assert.deepEqual(failures, [], `replay failures:\n${failures.join('\n')}`);
    assert.deepEqual(replayed.sort(), histories.map((h) => h.workflowId).sort(), 'every history was replayed');
  });

  test('a history recorded before a patched change replays its old path (publish-day)', async () => {
    // daily-pipeline-completed.json was recorded before dailyPipeline published its day: it ran past the point
    // where publishDay now runs (dbt, report, cleanup) without it and without the patch marker. It replays only
    // because the new step sits behind patched(PATCHES.publishDay) with the old path kept.
    installQuietRuntime();
    const history = historyFromJson(
      await readFile(path.join(HISTORIES_DIR, BEFORE_PATCHES, 'daily-pipeline-completed.json'), 'utf8'),
    );
    assert.deepEqual(patchIds(history), []);
    const activities = scheduledActivities(history);
    assert.ok(!activities.includes('publishDay'));
    assert.ok(activities.includes('runDbt'), 'the run went past the point where publishDay now runs');
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay-patched' }, history);
  });

  test('a cleanup recorded before patient-loop-retention replays its old tables (five, not seven)', async () => {
    // It cleaned five tables and went on to the raw objects; the patient loop's two tables now run first, behind
    // patched(PATCHES.patientLoopRetention), so this run (open at that deploy) still replays.
    installQuietRuntime();
    const history = historyFromJson(
      await readFile(
        path.join(HISTORIES_DIR, BEFORE_PATCHES, 'retention-cleanup-before-patient-loop-retention.json'),
        'utf8',
      ),
    );
    assert.ok(!patchIds(history).includes('patient-loop-retention'));
    const activities = scheduledActivities(history);
    assert.equal(activities.filter((a) => a === 'cleanupTable').length, 5);
    assert.ok(activities.includes('cleanupRawObjects'), 'the run went past the tables');
    const current = historyFromJson(
      await readFile(path.join(HISTORIES_DIR, CURRENT, 'retention-cleanup.json'), 'utf8'),
    );
    assert.ok(patchIds(current).includes('patient-loop-retention'));
    assert.equal(scheduledActivities(current).filter((a) => a === 'cleanupTable').length, 7);
    await Worker.runReplayHistory(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay-patient-loop-retention' },
      history,
    );
  });

  test('a reminder recorded before reminder-local-events replays its event activities; new ones record locally', async () => {
    // It recorded `sent` and its outcome with two activities; reminders now use a local activity behind
    // patched(PATCHES.reminderLocalEvents), so a reminder waiting for its answer at that deploy still replays.
    installQuietRuntime();
    const read = async (folder: string, file: string) =>
      historyFromJson(await readFile(path.join(HISTORIES_DIR, folder, file), 'utf8'));
    const history = await read(BEFORE_PATCHES, 'appointment-reminder-before-reminder-local-events.json');
    assert.ok(!patchIds(history).includes('reminder-local-events'));
    assert.deepEqual(scheduledActivities(history), [
      'sendPatientMessage',
      'recordReminderEvent',
      'recordReminderEvent',
    ]);
    const current = await read(CURRENT, 'appointment-reminder.json');
    assert.ok(patchIds(current).includes('reminder-local-events'));
    assert.deepEqual(scheduledActivities(current), ['sendPatientMessage']);
    const localMarkers = (current.events ?? []).filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    assert.equal(localMarkers.length, 2, 'sent and the outcome, each a local activity marker');
    await Worker.runReplayHistory(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay-reminder-local-events' },
      history,
    );
  });

  test('a rating recorded before rating-comment replays its old path: rated, recorded, no invitation', async () => {
    // It was rated (the patientAnswer Update) and recorded, then completed; rated requests now go on to invite a
    // comment behind patched(PATCHES.ratingComment), decided when the request starts, so a request waiting for its
    // answer at that deploy still replays (and still completes without inviting).
    installQuietRuntime();
    const history = historyFromJson(
      await readFile(
        path.join(HISTORIES_DIR, BEFORE_PATCHES, 'rating-request-rated-before-rating-comment.json'),
        'utf8',
      ),
    );
    assert.deepEqual(patchIds(history), []);
    assert.deepEqual(scheduledActivities(history), [
      'ratingRequestQuestion',
      'sendPatientMessage',
      'recordRatingOutcome',
    ]);
    assert.ok(
      (history.events ?? []).some((e) => e.workflowExecutionUpdateCompletedEventAttributes),
      'the patient rated it',
    );
    await Worker.runReplayHistory(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay-rating-comment' },
      history,
    );
  });

  test('replay detects a mismatch: a history whose first activity differs from the code fails', async () => {
    // Guards the guard: if replay silently passed everything, the test above would prove nothing.
    installQuietRuntime();
    const file = path.join(HISTORIES_DIR, BEFORE_PATCHES, 'daily-pipeline-completed.json');
    const history = historyFromJson(await readFile(file, 'utf8'));
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes);
    const activityType = scheduled?.activityTaskScheduledEventAttributes?.activityType;
    assert.equal(activityType?.name, 'pipelineSettings', 'the pipeline starts with pipelineSettings');
    activityType.name = 'someOtherActivity';
    await assert.rejects(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: 'healthsynth-replay-mismatch' }, history),
      (err: unknown) => {
        assert.ok(err instanceof DeterminismViolationError, `expected DeterminismViolationError, got ${String(err)}`);
        return true;
      },
    );
  });
});
