/**
 * Date options of every command, against the real stack: `run --date`, `backfill --from/--to`, `notice --date`
 * (also a weekday), `status --date` and `npm run demo -- --date` refuse a date after today or before
 * 2000-01-01 with the option and the allowed range named, and nothing is started on the real Temporal server.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { registerBackfillCommands } from '../../src/cli/backfill.js';
import { registerNoticeCommands } from '../../src/cli/notice.js';
import { memoryIo, type CliDeps } from '../../src/cli/command.js';
import { registerRunCommands } from '../../src/cli/run.js';
import { registerStatusCommands } from '../../src/cli/status.js';
import { addDays, localDate } from '../../src/domain/dates.js';
import { connectClient, workflowIds } from '../../src/temporal.js';
import { testConfig } from '../support/env.js';

const config = testConfig();
const today = localDate(new Date(), config.timezone);
/** A random date 2-3 years ahead (a typo'd year), and a random Saturday before 2000. */
const future = addDays(today, randomInt(700, 1100));
const saturdayBefore2000 = addDays('1999-01-02', -7 * randomInt(0, 50));

/** Runs `healthsynth <args>` in-process for a command group that takes CliDeps; returns what it printed. */
async function cli(register: (p: Command, deps: CliDeps) => void, args: string[]) {
  const io = memoryIo();
  const program = new Command().exitOverride();
  register(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', ...args]);
  return io;
}

describe('CLI date options are checked before anything starts', () => {
  let client: Client;
  before(async () => {
    client = await connectClient(config);
  });
  after(async () => {
    await client?.connection.close();
  });

  /** Fails unless no run of `workflowId` exists on the server. */
  async function neverStarted(workflowId: string): Promise<void> {
    await assert.rejects(client.workflow.getHandle(workflowId).describe(), WorkflowNotFoundError, workflowId);
  }

  test('run --date: a date after today or before 2000-01-01 is refused with exit code 2, no run is started', async () => {
    for (const [date, why] of [
      [future, 'it is after today'],
      ['1999-06-15', 'it is before 2000-01-01'],
    ] as const) {
      const io = await cli(registerRunCommands, ['run', '--date', date, '--worker', 'never']);
      assert.equal(io.exitCode, 2);
      assert.deepEqual(io.stderr, [
        `healthsynth: --date ${date} must be from 2000-01-01 to today (${today}, HEALTHSYNTH_TIMEZONE ${config.timezone}); ${why}${
          why === 'it is before 2000-01-01' ? ', the first day the generator makes' : ''
        }`,
      ]);
      assert.deepEqual(io.stdout, []);
      await neverStarted(workflowIds.dailyPipeline(date));
    }
  });

  test('backfill --to after today and --from before 2000-01-01: exit code 2, nothing started', async () => {
    const io = await cli(registerBackfillCommands, ['backfill', '--from', addDays(future, -3), '--to', future]);
    assert.equal(io.exitCode, 2);
    assert.match(
      io.stderr.join('\n'),
      /--from \d{4}-\d{2}-\d{2} must be from 2000-01-01 to today .*; it is after today/,
    );
    assert.deepEqual(io.stdout, []);
    const old = await cli(registerBackfillCommands, ['backfill', '--from', '1999-12-27', '--to', '2000-01-04']);
    assert.equal(old.exitCode, 2);
    assert.match(
      old.stderr.join('\n'),
      /--from 1999-12-27 must be from 2000-01-01 to today .*; it is before 2000-01-01/,
    );
    for (const date of ['1999-12-27', '1999-12-31', '2000-01-03', '2000-01-04', future]) {
      await neverStarted(workflowIds.dailyPipeline(date));
    }
  });

  test('notice --date: a weekday, a weekend after today and one before 2000 are refused, nothing sent', async () => {
    // 2013-06-10 was a Monday: a random Monday to Friday in the next four years.
    const weekday = addDays('2013-06-10', 7 * randomInt(0, 200) + randomInt(0, 5));
    const futureSaturday = addDays(future, 6 - new Date(`${future}T00:00:00Z`).getUTCDay());
    for (const [date, why] of [
      [
        weekday,
        /must be a Saturday or Sunday \(the notice tells patients the clinics are closed this weekend\); it is a /,
      ],
      [futureSaturday, /it is after today/],
      [saturdayBefore2000, /it is before 2000-01-01/],
    ] as const) {
      const io = await cli(registerNoticeCommands, ['notice', '--date', date]);
      assert.equal(io.exitCode, 2, date);
      assert.match(io.stderr.join('\n'), new RegExp(`--date ${date} `));
      assert.match(io.stderr.join('\n'), why);
      assert.deepEqual(io.stdout, []);
      await neverStarted(workflowIds.weekendNotice(date));
    }
  });

  test('status --date after today: exit code 2 and the range', async () => {
    const io = await cli(registerStatusCommands, ['status', '--date', future]);
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), new RegExp(`--date ${future} must be from 2000-01-01 to today`));
  });

  test('npm run demo -- --date after today fails before the stack or a run starts', async () => {
    const res = await execa(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--date', future], {
      reject: false,
      env: { ...process.env, HEALTHSYNTH_TIMEZONE: config.timezone },
    });
    assert.equal(res.exitCode, 1);
    assert.match(res.stderr, new RegExp(`--date ${future} must be from 2000-01-01 to today .*; it is after today`));
    assert.doesNotMatch(res.stdout, /Local stack up|Running dailyPipeline/);
    await neverStarted(workflowIds.dailyPipeline(future));
  });
});
