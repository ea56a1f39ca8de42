import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressLines } from '../../src/cli/follow.js';
import { memoryIo } from '../../src/cli/command.js';
import { formatDuration, formatTable, formatTime, terminalSummary } from '../../src/cli/format.js';
import { pipelineRunsQuery } from '../../src/cli/status.js';
import type { PipelineSummary } from '../../src/domain/types.js';

test('formatTable aligns columns and trims trailing space', () => {
  assert.equal(
    formatTable(
      ['ID', 'STATUS', 'LINK'],
      [
        ['daily-pipeline-2026-11-23', 'completed', 'http://x'],
        ['d', 'failed', ''],
      ],
    ),
    [
      'ID                         STATUS     LINK',
      'daily-pipeline-2026-11-23  completed  http://x',
      'd                          failed',
    ].join('\n'),
  );
});

test('formatDuration and formatTime', () => {
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(12_340), '12.3s');
  assert.equal(formatDuration(245_000), '4m 05s');
  assert.equal(formatDuration(7_380_000), '2h 03m');
  assert.equal(formatTime(new Date('2026-11-23T10:05:00.123Z')), '2026-11-23 10:05:00Z');
  assert.equal(formatTime(undefined), '-');
});

test('memoryIo never lowers an exit code', () => {
  const io = memoryIo();
  io.setExitCode(1);
  io.setExitCode(0);
  assert.equal(io.exitCode, 1);
});

test('progressLines keys steps and entities so only changes need printing', () => {
  const lines = progressLines({
    runDate: '2026-11-23',
    steps: [
      { name: 'ingest', state: 'running' },
      { name: 'dbt', state: 'failed', detail: 'tests failed' },
    ],
    entities: { patients: { generated: 1000, loaded: 250, state: 'running' } },
  });
  assert.deepEqual(
    [...lines],
    [
      ['step ingest', 'running'],
      ['step dbt', 'failed: tests failed'],
      ['ingest patients', 'running, 1000 rows generated, 250 loaded'],
    ],
  );
});

test('terminalSummary shows rows per entity, dbt, report, cleanup and notifications', () => {
  const summary: PipelineSummary = {
    runDate: '2026-11-23',
    scale: 'small',
    ingest: [
      {
        entity: 'patients',
        runDate: '2026-11-23',
        shards: 2,
        rowsGenerated: 1200,
        bytes: 1,
        rowsLoaded: 1200,
        loadStatus: 'loaded',
      },
    ],
    dbt: {
      command: 'build',
      success: true,
      elapsedSeconds: 12.34,
      modelsBuilt: 9,
      testsPassed: 40,
      testsFailed: 0,
      testsWarned: 1,
      unitTestsPassed: 2,
      failingTests: [],
      slowest: [],
    },
    report: { error: 'chart failed' },
    notifications: [{ channel: 'slack', status: 'outbox', detail: 'not delivered' }],
  };
  const text = terminalSummary(summary);
  assert.match(text, /^run 2026-11-23 \(scale small\)/);
  assert.match(text, /patients\s+2\s+1200\s+1200\s+loaded/);
  assert.match(text, /dbt: ok, 9 models, 40 tests passed, 0 failed, 1 warned \(12\.3s\)/);
  assert.match(text, /report: FAILED: chart failed/);
  assert.match(text, /notify slack: outbox \(not delivered\)/);
});

test('status query filters on the workflow type and, with a date, the business id', () => {
  assert.equal(pipelineRunsQuery(), "WorkflowType = 'dailyPipeline'");
  assert.equal(
    pipelineRunsQuery('2026-11-23'),
    "WorkflowType = 'dailyPipeline' AND WorkflowId = 'daily-pipeline-2026-11-23'",
  );
});
