/**
 * The date rules every entry point shares (src/domain/dates.ts) and the one CLI date parser (src/cli/dates.ts):
 * the allowed run-date range, the weekend rule of the notice, and the retention cutoff from the earlier of the
 * run date and today.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DateOptionError, parseRunDate, parseWeekendDate } from '../../src/cli/dates.js';
import {
  addDays,
  dayOfWeek,
  FIRST_RUN_DATE,
  retentionCutoff,
  runDateProblem,
  weekendProblem,
} from '../../src/domain/dates.js';
import { GeneratorInputError, resolveShardSpec } from '../../src/domain/generator/index.js';

test('addDays is UTC calendar arithmetic, both ways', () => {
  assert.equal(addDays('2024-03-01', -1), '2024-02-29');
  assert.equal(addDays('2026-01-15', -365), '2025-01-15');
  assert.equal(addDays('2024-02-28', 2), '2024-03-01');
});

describe('runDateProblem', () => {
  test('accepts the generator first day, today, and anything between', () => {
    for (const date of [FIRST_RUN_DATE, '2013-06-14', '2026-12-01', '2026-12-02']) {
      assert.equal(runDateProblem(date, '2026-12-02', 'UTC'), undefined, date);
    }
  });

  test('refuses a date after today, naming the range, today and the timezone, not the date itself', () => {
    const problem = runDateProblem('2062-11-21', '2026-12-02', 'Europe/Berlin');
    assert.equal(
      problem,
      'must be from 2000-01-01 to today (2026-12-02, HEALTHSYNTH_TIMEZONE Europe/Berlin); it is after today',
    );
    assert.match(runDateProblem('2026-12-03', '2026-12-02', 'UTC') ?? '', /it is after today/);
  });

  test('refuses a date before 2000-01-01, the first day the generator makes', () => {
    assert.match(runDateProblem('1999-12-31', '2026-12-02', 'UTC') ?? '', /it is before 2000-01-01, the first day/);
  });

  test('the first run date is the one the generator enforces', () => {
    const spec = { entity: 'clinics', scale: 'small', shard: 0, seed: 1, shardRows: 1000 } as const;
    assert.throws(() => resolveShardSpec({ ...spec, runDate: '1999-12-31' }), GeneratorInputError);
    assert.doesNotThrow(() => resolveShardSpec({ ...spec, runDate: FIRST_RUN_DATE }));
  });
});

describe('weekend notice dates', () => {
  test('Saturday and Sunday pass; a weekday is named', () => {
    assert.equal(dayOfWeek('2026-11-28'), 'Saturday');
    assert.equal(weekendProblem('2026-11-28'), undefined);
    assert.equal(weekendProblem('2026-11-29'), undefined);
    assert.equal(
      weekendProblem('2026-12-02'),
      'must be a Saturday or Sunday (the notice tells patients the clinics are closed this weekend); it is a Wednesday',
    );
  });
});

describe('retentionCutoff: RETENTION_DAYS before the earlier of run date and today', () => {
  test('a past run date counts from the run date', () => {
    assert.equal(retentionCutoff('2013-06-14', '2026-12-02', 365), '2012-06-14');
  });

  test("a run date in the future counts from today, so it can never expire rows inside today's window", () => {
    // The typo of finding 1: 2062 for 2026 would otherwise have expired everything before 2061.
    assert.equal(retentionCutoff('2062-11-21', '2026-12-02', 365), '2025-12-02');
    assert.equal(retentionCutoff('2026-12-03', '2026-12-02', 1), '2026-12-01');
  });

  test('today itself counts from today', () => {
    assert.equal(retentionCutoff('2026-12-02', '2026-12-02', 30), '2026-11-02');
  });
});

describe('CLI date options', () => {
  const today = '2026-12-02';

  test('parseRunDate names the option, the value and the allowed range', () => {
    assert.equal(parseRunDate('--date', '2026-11-20', today, 'UTC'), '2026-11-20');
    assert.throws(() => parseRunDate('--date', '2062-11-21', today, 'UTC'), {
      name: 'DateOptionError',
      message:
        '--date 2062-11-21 must be from 2000-01-01 to today (2026-12-02, HEALTHSYNTH_TIMEZONE UTC); it is after today',
    });
    assert.throws(() => parseRunDate('--from', '1999-01-01', today, 'UTC'), /--from 1999-01-01 .* before 2000-01-01/);
    assert.throws(() => parseRunDate('--date', '2026-02-30', today, 'UTC'), /--date is not a real calendar date/);
  });

  test('parseWeekendDate also refuses a weekday, naming it', () => {
    assert.equal(parseWeekendDate('--date', '2026-11-29', today, 'UTC'), '2026-11-29');
    assert.throws(
      () => parseWeekendDate('--date', '2026-11-25', today, 'UTC'),
      (err: unknown) => {
        assert.ok(err instanceof DateOptionError);
        assert.match(err.message, /--date 2026-11-25 must be a Saturday or Sunday .*; it is a Wednesday/);
        return true;
      },
    );
    assert.throws(() => parseWeekendDate('--date', '2026-12-05', today, 'UTC'), /it is after today/);
  });
});
