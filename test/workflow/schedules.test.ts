/**
 * Schedules as code against the real Temporal dev server: apply creates both schedules, a second
 * apply changes nothing, a timezone change is an update, describe (ours and the temporal CLI's)
 * shows it, pause survives apply. Every schedule id carries a unique prefix and is deleted in finally.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { execa } from 'execa';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../../src/config.js';
import { memoryIo } from '../../src/cli/command.js';
import { registerScheduleCommands } from '../../src/cli/schedules.js';
import { applySchedules, describeScheduleOrUndefined, planSchedules, SCHEDULE_IDS } from '../../src/schedules.js';
import { connectClient } from '../../src/temporal.js';
import { NoWorkerError } from '../../src/worker-watchdog.js';
import { temporalCli } from '../support/temporal-cli.js';

const prefix = `t-${randomUUID().slice(0, 8)}-`;
const dailyId = `${prefix}${SCHEDULE_IDS.dailyPipeline}`;
const weekendId = `${prefix}${SCHEDULE_IDS.weekendNotice}`;
const refreshId = `${prefix}${SCHEDULE_IDS.dbtFullRefresh}`;
// A private task queue nobody polls: should a test straddle 10:05, the started workflow just waits (and `trigger`
// starts a worker for its own run).
const baseEnv = { ...process.env, TEMPORAL_TASK_QUEUE: `hs-sched-test-${prefix}` };
const configWith = (env: Record<string, string>): Config => loadConfig({ ...baseEnv, ...env });

async function cli(config: Config, args: string[]) {
  const io = memoryIo();
  const program = new Command().exitOverride();
  registerScheduleCommands(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', 'schedules', ...args]);
  return io;
}

describe('schedules apply on the real server', () => {
  let client: Client;
  before(async () => {
    client = await connectClient(configWith({}));
  });
  after(async () => {
    for (const id of [dailyId, weekendId, refreshId]) {
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    await client.connection.close();
  });

  test('apply creates both, a second apply changes nothing, a timezone change updates', async (t) => {
    const utc = configWith({ HEALTHSYNTH_TIMEZONE: 'UTC' });

    const dry = await cli(utc, ['apply', '--dry-run', '--id-prefix', prefix]);
    assert.match(dry.text(), new RegExp(`^\\+ create ${dailyId}: Mon-Fri 10:05 UTC -> scheduledDailyPipeline`, 'm'));
    assert.match(dry.text(), /dry run: nothing changed/);
    assert.equal(await describeScheduleOrUndefined(client, dailyId), undefined, 'dry run created nothing');

    const first = await cli(utc, ['apply', '--id-prefix', prefix]);
    assert.equal(first.exitCode, 0);
    assert.match(first.text(), new RegExp(`^\\+ create ${dailyId}: `, 'm'));
    assert.match(
      first.text(),
      new RegExp(`^\\+ create ${weekendId}: Sat,Sun 10:05 UTC -> scheduledWeekendNotice`, 'm'),
    );
    assert.match(first.text(), new RegExp(`^\\+ create ${refreshId}: Sun 03:00 UTC -> scheduledDbtFullRefresh`, 'm'));

    const second = await cli(utc, ['apply', '--id-prefix', prefix]);
    assert.deepEqual(second.stdout, [
      `= ${dailyId} unchanged`,
      `= ${weekendId} unchanged`,
      `= ${refreshId} unchanged`,
      'no changes',
    ]);

    const berlin = configWith({ HEALTHSYNTH_TIMEZONE: 'Europe/Berlin' });
    const third = await cli(berlin, ['apply', '--id-prefix', prefix]);
    assert.deepEqual(third.stdout, [
      `~ update ${dailyId}: timezone UTC -> Europe/Berlin`,
      `~ update ${weekendId}: timezone UTC -> Europe/Berlin`,
      `~ update ${refreshId}: timezone UTC -> Europe/Berlin`,
      `applied: ${dailyId}, ${weekendId}, ${refreshId}`,
    ]);
    const plan = await planSchedules(client, berlin, { idPrefix: prefix });
    assert.deepEqual(
      plan.map((p) => p.action),
      ['unchanged', 'unchanged', 'unchanged'],
    );

    const d = await client.schedule.getHandle(dailyId).describe();
    assert.equal(d.spec.timezone, 'Europe/Berlin');
    assert.deepEqual(d.action.args, [{ timezone: 'Europe/Berlin', scale: berlin.defaultScale }]);
    assert.equal(d.action.workflowType, 'scheduledDailyPipeline');
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.policies.catchupWindow, 86_400_000);
    assert.equal(d.memo?.managedBy, 'healthsynth');
    // 10:05 in Berlin is 09:05 UTC in winter and 08:05 UTC in summer.
    const next = d.info.nextActionTimes[0]!;
    assert.ok([8, 9].includes(next.getUTCHours()) && next.getUTCMinutes() === 5, next.toISOString());
    assert.ok(next.getUTCDay() >= 1 && next.getUTCDay() <= 5);

    // Our describe --json and the real temporal CLI agree.
    const ours = JSON.parse((await cli(berlin, ['describe', weekendId, '--json'])).text());
    assert.deepEqual(ours.calendars, ['Sat,Sun 10:05']);
    assert.equal(ours.timezone, 'Europe/Berlin');
    assert.equal(ours.managed, true);
    // The real temporal CLI sees the same schedule.
    if (!existsSync(temporalCli)) {
      t.diagnostic(`temporal CLI not found at ${temporalCli}: cross-check with it skipped`);
      return;
    }
    const { stdout } = await execa(temporalCli, [
      'schedule',
      'describe',
      '--address',
      berlin.temporal.address,
      '-s',
      weekendId,
      '-o',
      'json',
    ]);
    const theirs = JSON.parse(stdout);
    assert.equal(theirs.schedule.spec.timezoneName, 'Europe/Berlin');
    assert.equal(theirs.schedule.action.startWorkflow.workflowType.name, 'scheduledWeekendNotice');
    assert.equal(theirs.schedule.policies.overlapPolicy, 'SCHEDULE_OVERLAP_POLICY_SKIP');
  });

  test('pause with a note survives apply; unpause, trigger validation, delete and not-found', async () => {
    const berlin = configWith({ HEALTHSYNTH_TIMEZONE: 'Europe/Berlin' });
    await applySchedules(client, berlin, { idPrefix: prefix });
    const paused = await cli(berlin, ['pause', dailyId, '--note', 'warehouse migration']);
    assert.deepEqual(paused.stdout, [`${dailyId} paused`]);

    // A config change while paused: apply updates the spec but keeps the schedule paused, with its note.
    const res = await applySchedules(client, configWith({ HEALTHSYNTH_TIMEZONE: 'Asia/Tokyo' }), { idPrefix: prefix });
    assert.deepEqual(res.applied, [dailyId, weekendId, refreshId]);
    const d = await client.schedule.getHandle(dailyId).describe();
    assert.equal(d.spec.timezone, 'Asia/Tokyo');
    assert.equal(d.state.paused, true);
    assert.equal(d.state.note, 'warehouse migration');

    const text = (await cli(berlin, ['describe', dailyId])).text();
    assert.match(text, /state: {5}PAUSED \(note: warehouse migration\)/);
    assert.match(text, /when: {6}Mon-Fri 10:05 Asia\/Tokyo/);

    const unpaused = JSON.parse((await cli(berlin, ['unpause', dailyId, '--note', 'done', '--json'])).text());
    assert.deepEqual(unpaused, { scheduleId: dailyId, action: 'unpause', ok: true, message: `${dailyId} unpaused` });
    assert.equal((await client.schedule.getHandle(dailyId).describe()).state.paused, false);

    // trigger --worker never while nobody polls the schedule's task queue: fails at once, naming the queue and how
    // to start a worker, and triggers nothing.
    await assert.rejects(cli(berlin, ['trigger', weekendId, '--worker', 'never']), (err: unknown) => {
      assert.ok(err instanceof NoWorkerError, String(err));
      assert.match(err.message, new RegExp(`no worker polls task queue "${berlin.temporal.taskQueue}"`));
      assert.match(err.message, /npm run worker/);
      return true;
    });
    assert.equal((await client.schedule.getHandle(weekendId).describe()).info.numActionsTaken, 0);

    // trigger starts the action now and waits for the run (the server names it scheduled-<schedule id>-<time>);
    // nobody polls this test's task queue, so it runs a worker itself (auto). The weekend notice is the light one.
    const triggered = await cli(berlin, ['trigger', weekendId]);
    const workflowId = /triggered: (\S+)/.exec(triggered.stdout[0] ?? '')?.[1];
    assert.match(workflowId ?? '', new RegExp(`^scheduled-${weekendId}-\\d{4}-\\d{2}-\\d{2}T`), triggered.text());
    const closed = await client.workflow.getHandle(workflowId!).describe();
    assert.notEqual(closed.status.name, 'RUNNING', 'the command waited for the run');
    assert.equal(triggered.exitCode, closed.status.name === 'COMPLETED' ? 0 : 1);
    assert.match(triggered.stdout.at(-1) ?? '', new RegExp(`^${workflowId} (completed|failed: .+)$`));

    const deleted = await cli(berlin, ['delete', weekendId]);
    assert.deepEqual(deleted.stdout, [`${weekendId} deleted`]);
    assert.equal(await describeScheduleOrUndefined(client, weekendId), undefined);

    const missing = await cli(berlin, ['describe', weekendId]);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr.join(), /schedule .*weekend-notice not found/);
  });

  test('list shows the schedules (visibility is eventually consistent, so poll briefly)', async () => {
    const config = configWith({});
    await applySchedules(client, config, { idPrefix: prefix });
    let listed: { scheduleId: string; managed: boolean; workflowType?: string }[] = [];
    for (let i = 0; i < 20; i++) {
      listed = JSON.parse((await cli(config, ['list', '--json'])).text());
      if (listed.filter((s) => s.scheduleId.startsWith(prefix)).length === 3) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const ours = listed
      .filter((s) => s.scheduleId.startsWith(prefix))
      .sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
    assert.deepEqual(
      ours.map((s) => [s.scheduleId, s.managed, s.workflowType]),
      [
        [dailyId, true, 'scheduledDailyPipeline'],
        [refreshId, true, 'scheduledDbtFullRefresh'],
        [weekendId, true, 'scheduledWeekendNotice'],
      ],
    );
    const table = (await cli(config, ['list'])).text();
    assert.match(table, /^SCHEDULE\s+WORKFLOW\s+WHEN\s+STATE\s+NEXT/);
  });
});
