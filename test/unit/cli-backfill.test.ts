import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { loadConfig } from '../../src/config.js';
import {
  BackfillRangeError,
  backfillDates,
  parseConcurrency,
  registerBackfillCommands,
  weekdaysInRange,
} from '../../src/cli/backfill.js';
import { DateOptionError, parseIsoDate, todayIn } from '../../src/cli/dates.js';
import { memoryIo } from '../../src/cli/command.js';

describe('weekdaysInRange', () => {
  test('keeps Monday to Friday, both ends included', () => {
    // 2026-11-20 is a Friday, 2026-11-23 a Monday.
    assert.deepEqual(weekdaysInRange('2026-11-20', '2026-11-24'), ['2026-11-20', '2026-11-23', '2026-11-24']);
    assert.deepEqual(weekdaysInRange('2026-11-23', '2026-11-23'), ['2026-11-23']);
    assert.deepEqual(weekdaysInRange('2026-11-21', '2026-11-22'), []);
  });

  test('crosses month, year and leap-day boundaries', () => {
    assert.deepEqual(weekdaysInRange('2027-12-30', '2028-01-04'), [
      '2027-12-30',
      '2027-12-31',
      '2028-01-03',
      '2028-01-04',
    ]);
    assert.deepEqual(weekdaysInRange('2028-02-28', '2028-03-01'), ['2028-02-28', '2028-02-29', '2028-03-01']);
    assert.equal(weekdaysInRange('2026-01-01', '2026-12-31').length, 261);
  });
});

describe('backfillDates validation', () => {
  const base = { today: '2026-11-24', timezone: 'UTC', maxDays: 62 };

  test('returns the weekdays of a valid range; today is allowed', () => {
    assert.deepEqual(backfillDates({ ...base, from: '2026-11-20', to: '2026-11-24' }), [
      '2026-11-20',
      '2026-11-23',
      '2026-11-24',
    ]);
  });

  test('rejects malformed and impossible dates, naming the option', () => {
    assert.throws(() => backfillDates({ ...base, from: '2026-1-5', to: '2026-11-20' }), {
      name: 'DateOptionError',
      message: /--from must be a date written YYYY-MM-DD.*"2026-1-5"/,
    });
    assert.throws(() => backfillDates({ ...base, from: '2026-11-01', to: '2026-02-30' }), {
      message: /--to is not a real calendar date.*"2026-02-30"/,
    });
    assert.throws(() => parseIsoDate('--date', 'yesterday'), DateOptionError);
  });

  test('rejects from after to', () => {
    assert.throws(() => backfillDates({ ...base, from: '2026-11-20', to: '2026-11-19' }), {
      message: '--from 2026-11-20 is after --to 2026-11-19',
    });
  });

  test('rejects a date in the future', () => {
    assert.throws(() => backfillDates({ ...base, from: '2026-11-20', to: '2026-11-25' }), {
      message:
        /--to 2026-11-25 must be from 2000-01-01 to today \(2026-11-24, HEALTHSYNTH_TIMEZONE UTC\); it is after today/,
    });
    assert.throws(() => backfillDates({ ...base, from: '2026-11-25', to: '2026-11-26' }), {
      message: /^--from 2026-11-25/,
    });
  });

  test("rejects a date before the generator's first day, 2000-01-01", () => {
    assert.throws(() => backfillDates({ ...base, from: '1999-12-31', to: '2000-01-07' }), {
      name: 'DateOptionError',
      message: /--from 1999-12-31 must be from 2000-01-01 to today .*; it is before 2000-01-01/,
    });
    assert.equal(backfillDates({ ...base, from: '2000-01-01', to: '2000-01-07' }).length, 5);
  });

  test('rejects a range longer than the limit, counting calendar days inclusively', () => {
    assert.equal(backfillDates({ ...base, maxDays: 5, from: '2026-11-20', to: '2026-11-24' }).length, 3);
    assert.throws(() => backfillDates({ ...base, maxDays: 4, from: '2026-11-20', to: '2026-11-24' }), {
      message: /covers 5 days; at most 4 are allowed at once \(BACKFILL_MAX_DAYS\)/,
    });
  });

  test('parseConcurrency accepts 1..32 only', () => {
    assert.equal(parseConcurrency('3'), 3);
    for (const bad of ['0', '33', '-1', '2.5', 'two']) assert.throws(() => parseConcurrency(bad), BackfillRangeError);
  });
});

test('todayIn uses the configured timezone', () => {
  const instant = new Date('2026-11-24T23:30:00Z');
  assert.equal(todayIn('UTC', instant), '2026-11-24');
  assert.equal(todayIn('Europe/Berlin', instant), '2026-11-25');
  assert.equal(todayIn('America/Los_Angeles', instant), '2026-11-24');
  assert.equal(todayIn('Pacific/Kiritimati', new Date('2026-11-24T10:00:00Z')), '2026-11-25');
});

describe('backfill command argument errors (nothing is started, exit code 2)', () => {
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const io = memoryIo();
    const program = new Command().exitOverride();
    // An address nothing listens on: a validation bug that reached Temporal would fail differently.
    registerBackfillCommands(program, { io, config: () => loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:1', ...env }) });
    await program.parseAsync(['node', 'healthsynth', 'backfill', ...args]);
    return io;
  };

  test('future date', async () => {
    const io = await run(['--from', '2026-11-02', '--to', '2999-01-01']);
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), /--to 2999-01-01 must be from 2000-01-01 to today .*; it is after today/);
    assert.deepEqual(io.stdout, []);
  });

  test('a date before 2000-01-01', async () => {
    const io = await run(['--from', '1999-12-27', '--to', '2000-01-03']);
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), /--from 1999-12-27 must be from 2000-01-01 to today/);
    assert.deepEqual(io.stdout, []);
  });

  test('range over BACKFILL_MAX_DAYS', async () => {
    const io = await run(['--from', '2026-01-01', '--to', '2026-03-31'], { BACKFILL_MAX_DAYS: '30' });
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), /covers 90 days; at most 30/);
  });

  test('bad scale and concurrency', async () => {
    assert.match(
      (await run(['--from', '2026-11-02', '--to', '2026-11-03', '--scale', 'huge'])).stderr.join(),
      /--scale: scale must be/,
    );
    assert.match(
      (await run(['--from', '2026-11-02', '--to', '2026-11-03', '--concurrency', '0'])).stderr.join(),
      /--concurrency/,
    );
  });

  test('a scale needing more shards than one workflow history holds', async () => {
    const io = await run(['--from', '2026-11-02', '--to', '2026-11-03', '--scale', '10000000'], { SHARD_ROWS: '1000' });
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), /--scale: .* needs 10000 shards per entity, more than the \d+ that keep/);
  });

  test('a weekend-only range runs nothing and succeeds', async () => {
    const io = await run(['--from', '2026-11-21', '--to', '2026-11-22']);
    assert.equal(io.exitCode, 0);
    assert.match(io.text(), /no weekdays between 2026-11-21 and 2026-11-22/);
  });

  test('missing --to is a commander error', async () => {
    await assert.rejects(run(['--from', '2026-11-02']), { code: 'commander.missingMandatoryOptionValue' });
  });
});
