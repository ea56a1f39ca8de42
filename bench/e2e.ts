/**
 * End-to-end benchmark: one dailyPipeline run, its wall time, each step's share of it, and the time spent
 * outside activities (orchestration overhead), computed from the histories of the run and its children.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;
import type { Config } from '../src/config.js';
import type { ScaleInput } from '../src/domain/types.js';
import { failureText } from '../src/cli/format.js';
import { awaitPipeline, startPipeline } from '../src/run-pipeline.js';
import { countActions, type ActionCount } from './actions.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;

const millis = (t: HistoryEvent['eventTime']): number =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor(Number(t?.nanos ?? 0) / 1e6);

/** One activity execution read from a history: its type, the worker that ran it, and [started, closed] in ms. */
export interface ActivityRun {
  type: string;
  identity: string;
  /** The attempt that closed: 2 or more when earlier attempts failed or their worker died. */
  attempt: number;
  start: number;
  end: number;
}

/**
 * Activity executions in one history, one per attempt that closed (completed, failed or timed out). The
 * worker identity is the started event's; an attempt whose worker died closes with a timeout.
 */
export function activityRuns(events: HistoryEvent[]): ActivityRun[] {
  const types = new Map<number, string>();
  const started = new Map<number, { at: number; identity: string; attempt: number }>();
  const out: ActivityRun[] = [];
  for (const e of events) {
    const id = Number(e.eventId);
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      types.set(id, e.activityTaskScheduledEventAttributes?.activityType?.name ?? '');
    }
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const a = e.activityTaskStartedEventAttributes;
      started.set(Number(a?.scheduledEventId), {
        at: millis(e.eventTime),
        identity: a?.identity ?? '',
        attempt: a?.attempt ?? 1,
      });
    }
    const closedScheduledId =
      e.activityTaskCompletedEventAttributes?.scheduledEventId ??
      e.activityTaskFailedEventAttributes?.scheduledEventId ??
      e.activityTaskTimedOutEventAttributes?.scheduledEventId;
    if (closedScheduledId != null) {
      const s = started.get(Number(closedScheduledId));
      const type = types.get(Number(closedScheduledId)) ?? '';
      if (s !== undefined) {
        out.push({ type, identity: s.identity, attempt: s.attempt, start: s.at, end: millis(e.eventTime) });
      }
    }
  }
  return out;
}

/** Total length of the union of intervals. */
export function unionLength(intervals: Array<[number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [s, e] of sorted) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

/** Child workflows started by a history: id, run id and workflow type. */
function children(events: HistoryEvent[]): Array<{ id: string; runId: string; type: string }> {
  return events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
    .map((e) => ({
      id: e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId ?? '',
      runId: e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.runId ?? '',
      type: e.childWorkflowExecutionStartedEventAttributes?.workflowType?.name ?? '',
    }))
    .filter((c) => c.id !== '');
}

/** The steps of a run whose share of the wall time the bench reports. */
export const STEPS = ['generate', 'load', 'dbt', 'report', 'cleanup', 'other'] as const;
export type Step = (typeof STEPS)[number];

/** Everything a child of these workflow types runs (its deliveries and notices too) belongs to the step. */
const STEP_OF_WORKFLOW: Record<string, Step> = { doctorRatingReport: 'report', retentionCleanup: 'cleanup' };
/** Elsewhere the activity type decides; publishDay ends the load (it makes the loaded day visible to dbt). */
const STEP_OF_ACTIVITY: Record<string, Step> = {
  generateShard: 'generate',
  loadBatch: 'load',
  publishDay: 'load',
  runDbt: 'dbt',
};

/** An activity execution of a run or one of its children, with the step it belongs to. */
export interface StepRun extends ActivityRun {
  step: Step;
}

/** One workflow's history: the run's own (first) or a child's, with the step everything in it belongs to. */
export interface RunHistory {
  workflowType: string;
  events: HistoryEvent[];
  step?: Step;
}

/**
 * The histories of a run and (recursively) its children, the run's first. Children are fetched by run id, so a
 * later run of the same business id (the history bench runs one date twice) never stands in for this run's.
 */
export async function fetchHistories(
  client: Client,
  handle: WorkflowHandle,
  workflowType = '',
  step?: Step,
): Promise<RunHistory[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const out: RunHistory[] = [{ workflowType, events, ...(step ? { step } : {}) }];
  for (const child of children(events)) {
    const handleOf = client.workflow.getHandle(child.id, child.runId || undefined);
    out.push(...(await fetchHistories(client, handleOf, child.type, step ?? STEP_OF_WORKFLOW[child.type])));
  }
  return out;
}

/** The activity executions of a run and (recursively) its children, from their histories. */
export async function collectRuns(
  client: Client,
  handle: WorkflowHandle,
): Promise<{ events: HistoryEvent[]; runs: StepRun[]; histories: RunHistory[] }> {
  const histories = await fetchHistories(client, handle);
  const runs = histories.flatMap((h) =>
    activityRuns(h.events).map((r) => ({ ...r, step: h.step ?? STEP_OF_ACTIVITY[r.type] ?? 'other' })),
  );
  return { events: histories[0]?.events ?? [], runs, histories };
}

/** One step's busy time (the union of its activity executions) and its share of the run's wall time. */
export interface StepShare {
  s: number;
  share: number;
}

export interface E2eResult {
  wall_s: number;
  overhead_s: number;
  activity_s: number;
  /**
   * Each step's busy time and share of the wall time, plus `orchestration` (wall minus the union of all
   * activity time). Generation and loads of different entities overlap, so the shares can add up to over 1.
   */
  steps: Record<Step | 'orchestration', StepShare>;
  /** Temporal Cloud billable actions of the run and its children (heartbeats estimated; see ./actions.ts). */
  actions: ActionCount;
}

/** Wall time, orchestration overhead and per-step shares of a closed run, from its and its children's histories. */
export async function measureRun(client: Client, handle: WorkflowHandle): Promise<E2eResult> {
  const { events, runs, histories } = await collectRuns(client, handle);
  const first = events[0];
  const last = events[events.length - 1];
  const wall = millis(last?.eventTime) - millis(first?.eventTime);
  const busy = unionLength(runs.map((r) => [r.start, r.end]));
  const share = (ms: number): StepShare => ({ s: ms / 1000, share: wall > 0 ? ms / wall : 0 });
  const steps = Object.fromEntries(
    STEPS.map((step) => [step, share(unionLength(runs.filter((r) => r.step === step).map((r) => [r.start, r.end])))]),
  ) as Record<Step, StepShare>;
  return {
    wall_s: wall / 1000,
    activity_s: busy / 1000,
    overhead_s: (wall - busy) / 1000,
    steps: { ...steps, orchestration: share(wall - busy) },
    actions: countActions(histories),
  };
}

/**
 * Runs dailyPipeline for `runDate` at `scale` on a running worker and measures it. The wall time is
 * the workflow's own (first event to close event), so client polling is not counted.
 */
export async function benchE2e(client: Client, config: Config, runDate: string, scale: ScaleInput): Promise<E2eResult> {
  const handle = await startPipeline(client, config, { runDate, scale });
  const outcome = await awaitPipeline(config, handle);
  if (outcome.error) throw new Error(`e2e run ${runDate} at ${scale} failed: ${failureText(outcome.error)}`);
  return measureRun(client, handle);
}
