/**
 * Workflow input as users give it: plain JSON typed into the real temporal CLI
 * (`temporal workflow start --type dailyPipeline --input '…'`), picked up by the real worker. A bad input
 * must fail the run at once, for good, with an InvalidInput failure that names the field and says what a
 * right value looks like; a good one runs the whole pipeline.
 *
 * The pipeline runs in its own database (the cleanup of 2026-11-20 must not delete other tests' rows).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ApplicationFailure } from '@temporalio/common';
import type { PipelineSummary } from '../../src/domain/types.js';
import { freshDatabase, harness, testConfig, type TestHarness } from '../support/env.js';
import { invalidInputFailure } from '../support/workflow-runs.js';
import { temporalCliOn } from '../support/temporal-cli.js';

describe('dailyPipeline input, started with the temporal CLI', () => {
  let h: TestHarness;
  before(async () => {
    h = await harness(testConfig({ DATABASE_URL: await freshDatabase('hs_wf_input_test') }));
  });
  after(async () => {
    await h?.close();
  });

  /** `temporal workflow start` with `input` as the JSON argument; returns the handle of the started run. */
  async function cliStart(input: string) {
    const workflowId = `input-validation-${randomUUID().slice(0, 8)}`;
    const { stdout } = await temporalCliOn(h.config.temporal, [
      'workflow',
      'start',
      '--type',
      'dailyPipeline',
      '--task-queue',
      h.config.temporal.taskQueue,
      '--workflow-id',
      workflowId,
      '--input',
      input,
    ]);
    assert.match(stdout, new RegExp(workflowId));
    return h.client.workflow.getHandle(workflowId);
  }

  /** Starts `input` and returns the InvalidInput failure it must end with. */
  async function invalid(input: string): Promise<ApplicationFailure> {
    const { failure, events } = await invalidInputFailure(await cliStart(input));
    // Failed on the first workflow task: no activity, no child, no retry.
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0);
    assert.equal(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length, 0);
    return failure;
  }

  test('a run date that is no date: names runDate and shows a right one', async () => {
    const failure = await invalid('{"runDate":"2026-13-45"}');
    assert.match(failure.message, /runDate: /);
    assert.match(failure.message, /YYYY-MM-DD, e\.g\. \d{4}-\d{2}-\d{2}/);
  });

  test('the failure names fields and problems but never copies the input (failure messages are not encrypted)', async () => {
    const failure = await invalid('{"runDate":"2026-13-45","scale":"Maria Aparecida da Silva","scael":1}');
    assert.match(failure.message, /runDate: .*YYYY-MM-DD/);
    assert.match(failure.message, /scale: must be "small", "medium", "large"/);
    assert.match(failure.message, /the fields are: runDate, scale/);
    for (const value of ['2026-13-45', 'Maria Aparecida da Silva', '{"runDate"']) {
      assert.ok(!failure.message.includes(value), `the message does not contain ${value}: ${failure.message}`);
    }
  });

  test('a run date in another format: names runDate and shows a right one', async () => {
    const failure = await invalid('{"runDate":"20.11.2026"}');
    assert.match(failure.message, /runDate: must be a date written YYYY-MM-DD, e\.g\. 2026-11-20/);
  });

  test('no run date: names runDate as missing and shows the format', async () => {
    const failure = await invalid('{}');
    assert.match(failure.message, /runDate: .*YYYY-MM-DD/);
  });

  test('an unknown field: names it and lists the fields that exist', async () => {
    const failure = await invalid('{"runDate":"2026-11-20","scael":100}');
    assert.match(failure.message, /"scael"/);
    assert.match(failure.message, /runDate, scale/);
  });

  test('a bad scale: names scale and lists what it may be', async () => {
    for (const scale of ['"huge"', '0', '2.5']) {
      const failure = await invalid(`{"runDate":"2026-11-20","scale":${scale}}`);
      assert.match(
        failure.message,
        /scale: must be "small", "medium", "large" or a whole number .* from 1 to 10000000/,
      );
    }
  });

  test('{"runDate":"2026-11-20","scale":100} runs the whole pipeline', async () => {
    const handle = await cliStart('{"runDate":"2026-11-20","scale":100}');
    const summary = (await handle.result()) as PipelineSummary;
    assert.equal(summary.runDate, '2026-11-20');
    assert.equal(summary.scale, 100);
    assert.equal(summary.ingest.find((r) => r.entity === 'appointments')?.rowsGenerated, 100);
    assert.equal(await h.warehouse.countBatch('appointments', '2026-11-20'), 100);
    assert.equal(summary.dbt?.testsFailed, 0);
  });
});
