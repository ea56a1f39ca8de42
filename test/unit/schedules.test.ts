import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ScheduleDescription } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import {
  calendarText,
  CATCHUP_WINDOW_MS,
  desiredSchedules,
  diffShapes,
  formatPlan,
  MANAGED_BY,
  scheduleShape,
  type SchedulePlanItem,
} from '../../src/schedules.js';

const config = (env: Record<string, string> = {}) => loadConfig({ TEMPORAL_TASK_QUEUE: 'hs-unit', ...env });

describe('desiredSchedules', () => {
  test('defines daily-pipeline on weekdays and weekend-notice on Sat+Sun at 10:05, SKIP, 1 day catch-up', () => {
    const [daily, weekend] = desiredSchedules(
      config({ HEALTHSYNTH_TIMEZONE: 'Europe/Berlin', DEFAULT_SCALE: 'medium' }),
    );
    assert.ok(daily && weekend);
    assert.equal(daily.scheduleId, 'daily-pipeline');
    assert.equal(daily.action.workflowType, 'scheduledDailyPipeline');
    assert.equal(daily.action.taskQueue, 'hs-unit');
    assert.equal(daily.action.workflowId, 'scheduled-daily-pipeline');
    assert.deepEqual(daily.action.args, [{ timezone: 'Europe/Berlin', scale: 'medium' }]);
    assert.equal(daily.spec.timezone, 'Europe/Berlin');
    assert.equal(calendarText(daily.spec.calendars![0]!), 'Mon-Fri 10:05');
    assert.equal(daily.policies?.overlap, 'SKIP');
    assert.equal(daily.policies?.catchupWindow, CATCHUP_WINDOW_MS);
    assert.equal(daily.memo?.managedBy, MANAGED_BY);
    assert.match(daily.state?.note ?? '', /Managed by healthsynth/);

    assert.equal(weekend.scheduleId, 'weekend-notice');
    assert.equal(weekend.action.workflowType, 'scheduledWeekendNotice');
    // scheduledWeekendNotice takes only a timezone (strict input): no scale.
    assert.deepEqual(weekend.action.args, [{ timezone: 'Europe/Berlin' }]);
    assert.equal(calendarText(weekend.spec.calendars![0]!), 'Sat,Sun 10:05');
    assert.equal(weekend.policies?.overlap, 'SKIP');
  });

  test('defines dbt-full-refresh weekly on Sunday 03:00 local time', () => {
    const refresh = desiredSchedules(config({ HEALTHSYNTH_TIMEZONE: 'Europe/Berlin' })).find(
      (s) => s.scheduleId === 'dbt-full-refresh',
    );
    assert.ok(refresh);
    assert.equal(refresh.action.workflowType, 'scheduledDbtFullRefresh');
    assert.equal(refresh.action.workflowId, 'scheduled-dbt-full-refresh');
    assert.deepEqual(refresh.action.args, [{ timezone: 'Europe/Berlin' }]);
    assert.equal(calendarText(refresh.spec.calendars![0]!), 'Sun 03:00');
    assert.equal(refresh.policies?.overlap, 'SKIP');
  });

  test('prefixes schedule ids and scheduled workflow ids; timezone defaults to UTC', () => {
    const [daily, weekend] = desiredSchedules(config(), { idPrefix: 't1-' });
    assert.equal(daily?.scheduleId, 't1-daily-pipeline');
    assert.equal(daily?.action.workflowId, 'scheduled-t1-daily-pipeline');
    assert.equal(weekend?.scheduleId, 't1-weekend-notice');
    assert.equal(daily?.spec.timezone, 'UTC');
  });
});

describe('calendarText', () => {
  test('gives the same text for a spec in code and the form describe returns', () => {
    // Copied from a real `describe()` of a schedule created with { dayOfWeek: MONDAY-FRIDAY, hour: 10, minute: 5 }.
    const described = {
      second: [{ start: 0, end: 0, step: 1 }],
      minute: [{ start: 5, end: 5, step: 1 }],
      hour: [{ start: 10, end: 10, step: 1 }],
      dayOfMonth: [{ start: 1, end: 31, step: 1 }],
      month: [{ start: 'JANUARY', end: 'DECEMBER', step: 1 }],
      year: [],
      dayOfWeek: [{ start: 'MONDAY', end: 'FRIDAY', step: 1 }],
      comment: 'weekdays 10:05',
    } as const;
    assert.equal(calendarText(described as never), 'Mon-Fri 10:05');
    assert.equal(calendarText({ dayOfWeek: { start: 'MONDAY', end: 'FRIDAY' }, hour: 10, minute: 5 }), 'Mon-Fri 10:05');
  });

  test('renders other calendars exactly enough to detect a change', () => {
    assert.equal(calendarText({ hour: 10, minute: 5 }), 'every day 10:05');
    assert.equal(calendarText({ dayOfWeek: 'MONDAY', hour: 9, minute: 30, second: 15 }), 'Mon 09:30:15');
    assert.equal(
      calendarText({ dayOfMonth: 1, month: ['JANUARY', 'JULY'], hour: 0 }),
      'every day day 1 in Jan,Jul 00:00',
    );
    assert.equal(
      calendarText({ hour: { start: 8, end: 18, step: 2 }, minute: 0 }),
      'every day hour 08,10,12,14,16,18 minute 00 second 00',
    );
    assert.notEqual(calendarText({ hour: 10, minute: 5 }), calendarText({ hour: 10, minute: 6 }));
  });
});

function describedFrom(
  desired: ReturnType<typeof desiredSchedules>[number],
  patch: Partial<{ timezone: string }> = {},
) {
  const tz = patch.timezone ?? desired.spec.timezone;
  return {
    scheduleId: desired.scheduleId,
    spec: { calendars: desired.spec.calendars as never, timezone: tz, intervals: [], skip: [] },
    action: {
      type: 'startWorkflow',
      workflowType: desired.action.workflowType,
      workflowId: desired.action.workflowId,
      taskQueue: desired.action.taskQueue,
      args: (desired.action.args as { timezone: string }[]).map((a) => ({ ...a, timezone: tz })),
    },
    policies: { overlap: 'SKIP', catchupWindow: 86_400_000, pauseOnFailure: false },
    state: { paused: false },
  } as unknown as ScheduleDescription;
}

describe('diff', () => {
  test('a described schedule equal to the code has no changes', () => {
    for (const desired of desiredSchedules(config())) {
      assert.deepEqual(diffShapes(scheduleShape(describedFrom(desired)), scheduleShape(desired)), []);
    }
  });

  test('a timezone change shows once, even though it changes both the spec and the input', () => {
    const [, weekend] = desiredSchedules(config({ HEALTHSYNTH_TIMEZONE: 'Europe/Berlin' }));
    const changes = diffShapes(scheduleShape(describedFrom(weekend!, { timezone: 'UTC' })), scheduleShape(weekend!));
    assert.deepEqual(changes, [{ field: 'timezone', from: 'UTC', to: 'Europe/Berlin' }]);
  });

  test('reports each changed field with old and new value', () => {
    const [daily] = desiredSchedules(config({ DEFAULT_SCALE: 'large', TEMPORAL_TASK_QUEUE: 'other' }));
    const current = scheduleShape(describedFrom(desiredSchedules(config())[0]!));
    const changes = diffShapes(current, scheduleShape(daily!));
    assert.deepEqual(changes, [
      { field: 'taskQueue', from: 'hs-unit', to: 'other' },
      { field: 'input.scale', from: 'small', to: 'large' },
    ]);
  });

  test('formatPlan prints create, update and unchanged lines', () => {
    const [daily, weekend] = desiredSchedules(config());
    const plan: SchedulePlanItem[] = [
      { scheduleId: 'daily-pipeline', action: 'create', desired: daily!, shape: scheduleShape(daily!) },
      {
        scheduleId: 'weekend-notice',
        action: 'update',
        desired: weekend!,
        shape: scheduleShape(weekend!),
        changes: [{ field: 'timezone', from: 'UTC', to: 'Europe/Berlin' }],
      },
      { scheduleId: 'daily-pipeline', action: 'unchanged', desired: daily!, shape: scheduleShape(daily!) },
    ];
    assert.deepEqual(formatPlan(plan), [
      '+ create daily-pipeline: Mon-Fri 10:05 UTC -> scheduledDailyPipeline on task queue hs-unit (overlap SKIP, catch-up 1 day)',
      '~ update weekend-notice: timezone UTC -> Europe/Berlin',
      '= daily-pipeline unchanged',
    ]);
  });
});

test('calendarText: Sunday-first ranges from the server print Monday-first', () => {
  assert.equal(
    calendarText({
      dayOfWeek: [
        { start: 'SATURDAY', end: 'SATURDAY', step: 1 },
        { start: 'SUNDAY', end: 'SUNDAY', step: 1 },
      ],
    }),
    'Sat,Sun 00:00',
  );
  assert.equal(calendarText({ dayOfWeek: { start: 'SUNDAY', end: 'SATURDAY' }, hour: 1 }), 'every day 01:00');
});
