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
  const timezone = config.timezone;
  const schedule = (
    id: string,
    calendar: CalendarSpec,
    workflowType: string,
    input: object,
    description: string,
  ): ScheduleOptions => {
    const scheduleId = `${opts.idPrefix ?? ''}${id}`;
    return {
      scheduleId,
      spec: { calendars: [calendar], timezone },
      // The server appends the scheduled time to the workflow id: scheduled-daily-pipeline-2026-11-23T10:05:00Z.
      action: {
        type: 'startWorkflow',
        workflowType,
        workflowId: `scheduled-${scheduleId}`,
        taskQueue: config.temporal.taskQueue,
        args: [input],
      },
      memo: { managedBy: MANAGED_BY, description },
      policies: { overlap: 'SKIP', catchupWindow: CATCHUP_WINDOW_MS, pauseOnFailure: false },
      state: { note: MANAGED_NOTE },
    };
  };
  return [
    schedule(
      SCHEDULE_IDS.dailyPipeline,
      WEEKDAYS_1005,
      WORKFLOW_TYPES.scheduledDailyPipeline,
      { timezone, scale: opts.scale ?? config.defaultScale },
      'Daily pipeline on weekdays at 10:05 local time',
    ),
    schedule(
      SCHEDULE_IDS.weekendNotice,
      WEEKENDS_1005,
      WORKFLOW_TYPES.scheduledWeekendNotice,
      { timezone },
      'Weekend notice to patients on Saturday and Sunday at 10:05',
    ),
    schedule(
      SCHEDULE_IDS.dbtFullRefresh,
      SUNDAYS_0300,
      WORKFLOW_TYPES.scheduledDbtFullRefresh,
      { timezone },
      'Weekly dbt full refresh and full test run, Sunday 03:00',
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Calendars as short text (`Mon-Fri 10:05`), the same for a spec written in code and the expanded
// ranges describe returns, so the text both shows a schedule and compares two.

const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];
const MONTHS = 'JANUARY FEBRUARY MARCH APRIL MAY JUNE JULY AUGUST SEPTEMBER OCTOBER NOVEMBER DECEMBER'.split(' ');
type Field = 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'year' | 'dayOfWeek';
/** Each field's lowest value, how many values it has, and what it matches when unset (undefined: every value). */
const FIELDS: Record<Field, [min: number, count: number, unset?: number]> = {
  second: [0, 60, 0],
  minute: [0, 60, 0],
  hour: [0, 24, 0],
  dayOfMonth: [1, 31],
  month: [1, 12],
  year: [0, Infinity],
  dayOfWeek: [0, 7],
};

/** The sorted values a calendar field matches (Sunday as 7, so weeks read Monday first); null for every value. */
function matched(field: Field, value: unknown): number[] | null {
  const [min, count, unset] = FIELDS[field];
  const items = value === undefined ? [] : Array.isArray(value) ? (value as unknown[]) : [value];
  if (value === '*' || (items.length === 0 && unset === undefined)) return null;
  if (items.length === 0) return [unset as number];
  const names = field === 'month' ? ['', ...MONTHS] : DAYS;
  const num = (v: unknown) => (typeof v === 'number' ? v : names.indexOf(String(v)));
  const set = new Set<number>();
  for (const item of items) {
    const r = (typeof item === 'object' && item !== null ? item : { start: item }) as Record<string, unknown>;
    const start = num(r.start ?? min);
    const end = Math.max(start, r.end === undefined ? start : num(r.end));
    for (let v = start; v <= end; v += Math.max(1, Number(r.step ?? 1)))
      set.add(field === 'dayOfWeek' && v === 0 ? 7 : v);
  }
  return set.size === count ? null : [...set].sort((a, b) => a - b);
}

/** `1,2` for two values, `1-5` for three or more consecutive ones. */
function ranges(values: number[], name: (n: number) => string): string {
  const runs: number[][] = [];
  for (const v of values) {
    const run = runs.at(-1);
    if (run && v === (run.at(-1) as number) + 1) run.push(v);
    else runs.push([v]);
  }
  return runs
    .map((r) => (r.length >= 3 ? `${name(r[0] as number)}-${name(r.at(-1) as number)}` : r.map(name).join(',')))
    .join(',');
}

/**
 * Short text of one calendar, e.g. `Mon-Fri 10:05`. Accepts both what code passes to create
 * (`CalendarSpec`) and what describe returns (`CalendarSpecDescription`), so equal specs give equal text.
 */
export function calendarText(calendar: CalendarSpec | CalendarSpecDescription): string {
  const c = calendar as Partial<Record<Field, unknown>>;
  const [dow, dom, month, year, h, m, s] = (
    ['dayOfWeek', 'dayOfMonth', 'month', 'year', 'hour', 'minute', 'second'] as const
  ).map((f) => matched(f, c[f]));
  const short = (name = '?') => name.slice(0, 1) + name.slice(1, 3).toLowerCase();
  const two = (n: number) => String(n).padStart(2, '0');
  const parts = [dow ? ranges(dow, (n) => short(DAYS[n % 7])) : 'every day'];
  if (dom) parts.push(`day ${ranges(dom, String)}`);
  if (month) parts.push(`in ${ranges(month, (n) => short(MONTHS[n - 1]))}`);
  if (year) parts.push(`year ${ranges(year, String)}`);
  const only = (v: number[] | null | undefined) => (v?.length === 1 ? v[0] : undefined);
  const [hh, mm, ss] = [only(h), only(m), only(s)];
  if (hh !== undefined && mm !== undefined && ss !== undefined) {
    parts.push(`${two(hh)}:${two(mm)}${ss === 0 ? '' : `:${two(ss)}`}`);
  } else {
    const f = (v: number[] | null | undefined) => (v ? ranges(v, two) : '*');
    parts.push(`hour ${f(h)} minute ${f(m)} second ${f(s)}`);
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// What apply manages, as display text per field, and the diff between two.

/** The fields of a schedule that apply manages, each as display text. */
export type ScheduleShape = Record<string, string>;

/** The part of a schedule apply sets; both `ScheduleOptions` (code) and `ScheduleDescription` (server) have it. */
interface ManagedParts {
  action: { workflowType: unknown; workflowId?: string; taskQueue?: string; args?: unknown };
  spec: { calendars?: (CalendarSpec | CalendarSpecDescription)[]; timezone?: string };
  policies?: { overlap?: string; catchupWindow?: unknown; pauseOnFailure?: boolean };
}

/**
 * The managed fields of a schedule, from code or from describe. The input's timezone shows only when it
 * differs from the spec's: one setting feeds both, so a timezone change is one line in the plan.
 */
export function scheduleShape(schedule: ScheduleOptions | ScheduleDescription): ScheduleShape {
  const { action, spec, policies } = schedule as ManagedParts;
  const [input, ...extra] = (action.args ?? []) as unknown[];
  const timezone = spec.timezone || 'UTC';
  const catchupMs = Number(policies?.catchupWindow);
  const shape: ScheduleShape = {
    workflowType: String(action.workflowType),
    workflowId: action.workflowId ?? '',
    taskQueue: action.taskQueue ?? '',
    calendar: (spec.calendars ?? []).map(calendarText).join('; ') || '(none)',
    timezone,
    overlap: policies?.overlap ?? 'SKIP',
    catchupWindow:
      catchupMs % 86_400_000 === 0
        ? `${catchupMs / 86_400_000} day${catchupMs === 86_400_000 ? '' : 's'}`
        : `${catchupMs / 1000}s`,
    pauseOnFailure: String(policies?.pauseOnFailure ?? false),
  };
  if (extra.length > 0) shape['input.extra'] = JSON.stringify(extra);
  for (const [k, v] of Object.entries(input && typeof input === 'object' ? input : { '': input })) {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    if (v !== undefined && !(k === 'timezone' && text === timezone)) shape[k ? `input.${k}` : 'input'] = text;
  }
  return shape;
}

export interface FieldChange {
  field: string;
  from: string;
  to: string;
}

/** The fields whose value differs, in the desired shape's order. */
export function diffShapes(current: ScheduleShape, desired: ScheduleShape): FieldChange[] {
  const fields = [...new Set([...Object.keys(desired), ...Object.keys(current)])];
  return fields
    .map((field) => ({ field, from: current[field] ?? '(none)', to: desired[field] ?? '(none)' }))
    .filter((c) => c.from !== c.to);
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

/**
 * Computes what `apply` would do for every schedule, comparing each with its describe; changes nothing.
 */
export async function planSchedules(
  client: Client,
  config: Config,
  opts: ScheduleDefinitionOptions = {},
): Promise<SchedulePlanItem[]> {
  return Promise.all(
    desiredSchedules(config, opts).map(async (desired): Promise<SchedulePlanItem> => {
      const { scheduleId } = desired;
      const shape = scheduleShape(desired);
      const current = await describeScheduleOrUndefined(client, scheduleId);
      if (!current) return { scheduleId, action: 'create', desired, shape };
      const changes = diffShapes(scheduleShape(current), shape);
      if (changes.length === 0) return { scheduleId, action: 'unchanged', desired, shape };
      return { scheduleId, action: 'update', desired, shape, changes };
    }),
  );
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
    // Replaces spec, action and policies; keeps the paused state and note an operator set.
    const { spec, action, policies } = item.desired;
    await client.schedule
      .getHandle(item.scheduleId)
      .update((previous) => ({ spec, action, policies, state: previous.state }));
    applied.push(item.scheduleId);
  }
  return { plan, applied };
}
