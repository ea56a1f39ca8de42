/**
 * Schedules as code. The two Temporal schedules Health Synth needs are defined here, from
 * configuration, and `healthsynth schedules apply` makes the server match: it describes each
 * schedule, computes a plan (create, update with the changed fields, or unchanged) and applies it.
 * Applying twice changes nothing, and a schedule an operator paused stays paused.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type CalendarSpec,
  type CalendarSpecDescription,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Config } from './config.js';
import type { ScaleInput } from './domain/types.js';
import { WORKFLOW_TYPES } from './temporal.js';

/** Schedule ids (before any test prefix). They are what `temporal schedule describe -s` takes. */
export const SCHEDULE_IDS = {
  dailyPipeline: 'daily-pipeline',
  weekendNotice: 'weekend-notice',
  dbtFullRefresh: 'dbt-full-refresh',
} as const;

/** Memo value marking a schedule as owned by this code; edits made elsewhere are overwritten by apply. */
export const MANAGED_BY = 'healthsynth';

/** The note a newly created schedule carries; pause/unpause notes replace it later. */
export const MANAGED_NOTE =
  'Managed by healthsynth: change src/schedules.ts or config, then `healthsynth schedules apply`.';

/** One day: runs missed during an outage shorter than this are still taken when the server is back. */
export const CATCHUP_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface ScheduleDefinitionOptions {
  /**
   * Prepended to every schedule id and scheduled workflow id. Empty in production; tests use a
   * unique prefix so parallel runs never touch each other's (or the real) schedules.
   */
  idPrefix?: string;
  /** Scale passed to the scheduled pipeline; default `config.defaultScale`. */
  scale?: ScaleInput;
}

const WEEKDAYS_1005: CalendarSpec = {
  dayOfWeek: { start: 'MONDAY', end: 'FRIDAY' },
  hour: 10,
  minute: 5,
  comment: 'weekdays 10:05',
};
const SUNDAYS_0300: CalendarSpec = { dayOfWeek: 'SUNDAY', hour: 3, minute: 0, comment: 'Sunday 03:00' };
const WEEKENDS_1005: CalendarSpec = {
  dayOfWeek: ['SATURDAY', 'SUNDAY'],
  hour: 10,
  minute: 5,
  comment: 'Saturday and Sunday 10:05',
};

/**
 * The schedules Health Synth wants, as `ScheduleOptions` ready for `client.schedule.create`.
 * The timezone is both the spec's (so 10:05 means 10:05 local time) and the workflow input's (so the
 * scheduled time turns into the right local run date). Overlap SKIP: a run still going at the next
 * fire time means something is wrong, and starting a second one would only compete with it.
 */
export function desiredSchedules(config: Config, opts: ScheduleDefinitionOptions = {}): ScheduleOptions[] {
  const prefix = opts.idPrefix ?? '';
  const timezone = config.timezone;
  const common = {
    policies: { overlap: 'SKIP', catchupWindow: CATCHUP_WINDOW_MS, pauseOnFailure: false },
    state: { note: MANAGED_NOTE },
  } as const;
  const dailyId = `${prefix}${SCHEDULE_IDS.dailyPipeline}`;
  const weekendId = `${prefix}${SCHEDULE_IDS.weekendNotice}`;
  return [
    {
      scheduleId: dailyId,
      spec: { calendars: [WEEKDAYS_1005], timezone },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.scheduledDailyPipeline,
        // The server appends the scheduled time: scheduled-daily-pipeline-2026-11-23T10:05:00Z.
        workflowId: `scheduled-${dailyId}`,
        taskQueue: config.temporal.taskQueue,
        args: [{ timezone, scale: opts.scale ?? config.defaultScale }],
      },
      memo: { managedBy: MANAGED_BY, description: 'Daily pipeline on weekdays at 10:05 local time' },
      ...common,
    },
    {
      scheduleId: weekendId,
      spec: { calendars: [WEEKENDS_1005], timezone },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.scheduledWeekendNotice,
        workflowId: `scheduled-${weekendId}`,
        taskQueue: config.temporal.taskQueue,
        args: [{ timezone }],
      },
      memo: { managedBy: MANAGED_BY, description: 'Weekend notice to patients on Saturday and Sunday at 10:05' },
      ...common,
    },
    {
      scheduleId: `${prefix}${SCHEDULE_IDS.dbtFullRefresh}`,
      spec: { calendars: [SUNDAYS_0300], timezone },
      action: {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.scheduledDbtFullRefresh,
        workflowId: `scheduled-${prefix}${SCHEDULE_IDS.dbtFullRefresh}`,
        taskQueue: config.temporal.taskQueue,
        args: [{ timezone }],
      },
      memo: { managedBy: MANAGED_BY, description: 'Weekly dbt full refresh and full test run, Sunday 03:00' },
      ...common,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Calendars in one canonical text, so a spec written in code and one described by the server compare.

const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'] as const;
const MONTH_NAMES = [
  'JANUARY',
  'FEBRUARY',
  'MARCH',
  'APRIL',
  'MAY',
  'JUNE',
  'JULY',
  'AUGUST',
  'SEPTEMBER',
  'OCTOBER',
  'NOVEMBER',
  'DECEMBER',
] as const;

type Field = 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'year' | 'dayOfWeek';
const FIELD_BOUNDS: Record<Field, { min: number; max: number; default: 'all' | 0 }> = {
  second: { min: 0, max: 59, default: 0 },
  minute: { min: 0, max: 59, default: 0 },
  hour: { min: 0, max: 23, default: 0 },
  dayOfMonth: { min: 1, max: 31, default: 'all' },
  month: { min: 1, max: 12, default: 'all' },
  year: { min: 0, max: 0, default: 'all' },
  dayOfWeek: { min: 0, max: 6, default: 'all' },
};

function unitToNumber(field: Field, value: unknown): number {
  if (typeof value === 'number') return value;
  if (field === 'dayOfWeek') return DAYS.indexOf(value as (typeof DAYS)[number]);
  if (field === 'month') return MONTH_NAMES.indexOf(value as (typeof MONTH_NAMES)[number]) + 1;
  throw new Error(`unexpected calendar value ${String(value)} for ${field}`);
}

/** Expands one calendar field (loose or described form) to the sorted set of values it matches; null = every value. */
function expandField(field: Field, value: unknown): number[] | null {
  const bounds = FIELD_BOUNDS[field];
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    return bounds.default === 'all' ? null : [0];
  }
  if (value === '*') return null;
  const items = Array.isArray(value) ? value : [value];
  const set = new Set<number>();
  for (const item of items) {
    if (typeof item === 'object' && item !== null) {
      const r = item as { start?: unknown; end?: unknown; step?: number };
      const start = unitToNumber(field, r.start ?? bounds.min);
      let end = r.end === undefined ? start : unitToNumber(field, r.end);
      if (end < start) end = start;
      const step = r.step === undefined || r.step < 1 ? 1 : r.step;
      for (let v = start; v <= end; v += step) set.add(v);
    } else {
      set.add(unitToNumber(field, item));
    }
  }
  if (field !== 'year' && set.size === bounds.max - bounds.min + 1) return null;
  // Weeks read Monday first, so Saturday and Sunday print as "Sat,Sun": Sunday sorts as 7.
  const values = [...set].map((v) => (field === 'dayOfWeek' && v === 0 ? 7 : v)).sort((a, b) => a - b);
  return values;
}

function rangesText(values: number[], name: (n: number) => string): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === (values[j] as number) + 1) j++;
    const a = values[i] as number;
    const b = values[j] as number;
    parts.push(j - i >= 2 ? `${name(a)}-${name(b)}` : j > i ? `${name(a)},${name(b)}` : name(a));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Canonical text of one calendar, e.g. `Mon-Fri 10:05`. Accepts both what code passes to create
 * (`CalendarSpec`) and what describe returns (`CalendarSpecDescription`), so equal specs give equal text.
 */
export function calendarText(calendar: CalendarSpec | CalendarSpecDescription): string {
  const c = calendar as Record<Field, unknown>;
  const get = (f: Field) => expandField(f, c[f]);
  const dayName = (n: number) => (DAYS[n % 7] ?? String(n)).slice(0, 1) + (DAYS[n % 7] ?? '').slice(1, 3).toLowerCase();
  const monthName = (n: number) =>
    (MONTH_NAMES[n - 1] ?? String(n)).slice(0, 1) + (MONTH_NAMES[n - 1] ?? '').slice(1, 3).toLowerCase();
  const two = (n: number) => String(n).padStart(2, '0');
  const parts: string[] = [];
  const dow = get('dayOfWeek');
  parts.push(dow ? rangesText(dow, dayName) : 'every day');
  const dom = get('dayOfMonth');
  if (dom) parts.push(`day ${rangesText(dom, String)}`);
  const month = get('month');
  if (month) parts.push(`in ${rangesText(month, monthName)}`);
  const year = get('year');
  if (year) parts.push(`year ${rangesText(year, String)}`);
  const [h, m, s] = [get('hour'), get('minute'), get('second')];
  if (h?.length === 1 && m?.length === 1 && s?.length === 1) {
    parts.push(`${two(h[0] as number)}:${two(m[0] as number)}${s[0] === 0 ? '' : `:${two(s[0] as number)}`}`);
  } else {
    const f = (v: number[] | null) => (v ? rangesText(v, two) : '*');
    parts.push(`hour ${f(h)} minute ${f(m)} second ${f(s)}`);
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// The comparable shape of a schedule, and the diff between two.

/** The fields of a schedule that apply manages, each as display text. */
export type ScheduleShape = Record<string, string>;

function inputFields(args: unknown[] | undefined): Record<string, string> {
  const fields: Record<string, string> = {};
  const first = args?.[0];
  if (args && args.length > 1) fields['input.extra'] = JSON.stringify(args.slice(1));
  if (first && typeof first === 'object') {
    for (const [k, v] of Object.entries(first as Record<string, unknown>)) {
      if (v !== undefined) fields[`input.${k}`] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  } else if (first !== undefined) {
    fields.input = JSON.stringify(first);
  }
  return fields;
}

function durationText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} day${ms === 86_400_000 ? '' : 's'}`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** The managed fields of a schedule as written in code. */
export function shapeOfOptions(options: ScheduleOptions): ScheduleShape {
  const catchup = options.policies?.catchupWindow;
  return {
    workflowType: String(options.action.workflowType),
    workflowId: options.action.workflowId ?? `${options.scheduleId}-workflow`,
    taskQueue: options.action.taskQueue,
    calendar: (options.spec.calendars ?? []).map(calendarText).join('; ') || '(none)',
    timezone: options.spec.timezone || 'UTC',
    overlap: options.policies?.overlap ?? 'SKIP',
    catchupWindow: typeof catchup === 'number' ? durationText(catchup) : String(catchup ?? '1 year'),
    pauseOnFailure: String(options.policies?.pauseOnFailure ?? false),
    ...inputFields(options.action.args as unknown[] | undefined),
  };
}

/** The managed fields of a schedule as the server describes it. */
export function shapeOfDescription(description: ScheduleDescription): ScheduleShape {
  return {
    workflowType: description.action.workflowType,
    workflowId: description.action.workflowId ?? '',
    taskQueue: description.action.taskQueue ?? '',
    calendar: (description.spec.calendars ?? []).map(calendarText).join('; ') || '(none)',
    timezone: description.spec.timezone || 'UTC',
    overlap: description.policies.overlap ?? 'SKIP',
    catchupWindow: durationText(description.policies.catchupWindow),
    pauseOnFailure: String(description.policies.pauseOnFailure),
    ...inputFields(description.action.args as unknown[] | undefined),
  };
}

export interface FieldChange {
  field: string;
  from: string;
  to: string;
}

/**
 * The fields whose value differs, in a stable order. When the spec's timezone and the input's
 * timezone change the same way (the usual case: one setting feeds both), they are shown once.
 */
export function diffShapes(current: ScheduleShape, desired: ScheduleShape): FieldChange[] {
  const keys = [...new Set([...Object.keys(desired), ...Object.keys(current)])];
  const changes: FieldChange[] = [];
  for (const field of keys) {
    const from = current[field] ?? '(none)';
    const to = desired[field] ?? '(none)';
    if (from !== to) changes.push({ field, from, to });
  }
  const tz = changes.find((c) => c.field === 'timezone');
  const inputTz = changes.find((c) => c.field === 'input.timezone');
  if (tz && inputTz && tz.from === inputTz.from && tz.to === inputTz.to) changes.splice(changes.indexOf(inputTz), 1);
  return changes;
}

// ---------------------------------------------------------------------------------------------
// Plan and apply.

export type SchedulePlanItem =
  | { scheduleId: string; action: 'create'; desired: ScheduleOptions; shape: ScheduleShape }
  | { scheduleId: string; action: 'update'; desired: ScheduleOptions; shape: ScheduleShape; changes: FieldChange[] }
  | { scheduleId: string; action: 'unchanged'; desired: ScheduleOptions; shape: ScheduleShape };

/** Describes a schedule, or returns undefined when it does not exist. */
export async function describeScheduleOrUndefined(
  client: Client,
  scheduleId: string,
): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Compares one desired schedule with what the server has now (read-only). */
export async function planSchedule(client: Client, desired: ScheduleOptions): Promise<SchedulePlanItem> {
  const shape = shapeOfOptions(desired);
  const current = await describeScheduleOrUndefined(client, desired.scheduleId);
  if (!current) return { scheduleId: desired.scheduleId, action: 'create', desired, shape };
  const changes = diffShapes(shapeOfDescription(current), shape);
  if (changes.length === 0) return { scheduleId: desired.scheduleId, action: 'unchanged', desired, shape };
  return { scheduleId: desired.scheduleId, action: 'update', desired, shape, changes };
}

/**
 * Computes what `apply` would do for every schedule, reading each one with describe; changes nothing.
 */
export async function planSchedules(
  client: Client,
  config: Config,
  opts: ScheduleDefinitionOptions = {},
): Promise<SchedulePlanItem[]> {
  return Promise.all(desiredSchedules(config, opts).map((desired) => planSchedule(client, desired)));
}

/** One line per plan item, in the style of `terraform plan`: `+ create`, `~ update`, `= unchanged`. */
export function formatPlan(plan: readonly SchedulePlanItem[]): string[] {
  return plan.map((item) => {
    const s = item.shape;
    switch (item.action) {
      case 'create':
        return (
          `+ create ${item.scheduleId}: ${s.calendar} ${s.timezone} -> ${s.workflowType} ` +
          `on task queue ${s.taskQueue} (overlap ${s.overlap}, catch-up ${s.catchupWindow})`
        );
      case 'update':
        return `~ update ${item.scheduleId}: ${item.changes.map((c) => `${c.field} ${c.from} -> ${c.to}`).join(', ')}`;
      case 'unchanged':
        return `= ${item.scheduleId} unchanged`;
    }
  });
}

export interface ApplyResult {
  plan: SchedulePlanItem[];
  /** Ids actually created or updated (empty on a dry run or when nothing changed). */
  applied: string[];
}

/**
 * Makes the server match {@link desiredSchedules}: creates missing schedules and updates changed
 * ones through `handle.update`, which replaces the schedule's spec, action and policies while
 * keeping its paused state and note, so applying never resumes a schedule an operator paused.
 * Idempotent: a second apply plans every schedule as unchanged and calls nothing. If a schedule
 * appears between plan and create (another apply racing), it is updated instead.
 */
export async function applySchedules(
  client: Client,
  config: Config,
  opts: ScheduleDefinitionOptions & { dryRun?: boolean; plan?: SchedulePlanItem[] } = {},
): Promise<ApplyResult> {
  const plan = opts.plan ?? (await planSchedules(client, config, opts));
  const applied: string[] = [];
  if (opts.dryRun) return { plan, applied };
  for (const item of plan) {
    if (item.action === 'unchanged') continue;
    if (item.action === 'create') {
      try {
        await client.schedule.create(item.desired);
        applied.push(item.scheduleId);
        continue;
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      }
    }
    await updateSchedule(client, item.desired);
    applied.push(item.scheduleId);
  }
  return { plan, applied };
}

/** Replaces a schedule's spec, action and policies with `desired`, keeping its paused state and note. */
async function updateSchedule(client: Client, desired: ScheduleOptions): Promise<void> {
  await client.schedule.getHandle(desired.scheduleId).update((previous) => ({
    spec: desired.spec,
    action: desired.action,
    policies: desired.policies,
    state: {
      paused: previous.state.paused,
      note: previous.state.note,
      remainingActions: previous.state.remainingActions,
    },
  }));
}
