/**
 * End-to-end benchmark: one dailyPipeline run, its wall time, and the time spent outside activities
 * (orchestration overhead) computed from the histories of the run and its children.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;
import type { Config } from '../src/config.js';
import type { ScaleInput } from '../src/domain/types.js';
import { failureText } from '../src/cli/format.js';
import { awaitPipeline, startPipeline } from '../src/run-pipeline.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;

const millis = (t: HistoryEvent['eventTime']): number =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor(Number(t?.nanos ?? 0) / 1e6);

/** Activity execution intervals [started, closed] in one history. */
export function activityIntervals(events: HistoryEvent[]): Array<[number, number]> {
  const started = new Map<number, number>();
  const out: Array<[number, number]> = [];
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      started.set(Number(e.activityTaskStartedEventAttributes?.scheduledEventId), millis(e.eventTime));
    }
    const closedScheduledId =
      e.activityTaskCompletedEventAttributes?.scheduledEventId ??
      e.activityTaskFailedEventAttributes?.scheduledEventId ??
      e.activityTaskTimedOutEventAttributes?.scheduledEventId;
    if (closedScheduledId != null) {
      const s = started.get(Number(closedScheduledId));
      if (s !== undefined) out.push([s, millis(e.eventTime)]);
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

/** Child workflow ids started by a history. */
function childIds(events: HistoryEvent[]): string[] {
  return events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)
    .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId ?? '')
    .filter(Boolean);
}

async function collectIntervals(
  client: Client,
  handle: WorkflowHandle,
): Promise<{ events: HistoryEvent[]; intervals: Array<[number, number]> }> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const intervals = activityIntervals(events);
  for (const id of childIds(events)) {
    const child = await collectIntervals(client, client.workflow.getHandle(id));
    intervals.push(...child.intervals);
  }
  return { events, intervals };
}

export interface E2eResult {
  wall_s: number;
  overhead_s: number;
  activity_s: number;
}

/**
 * Runs dailyPipeline for `runDate` at `scale` on a running worker and measures it. The wall time is
 * the workflow's own (first event to close event), so client polling is not counted.
 */
export async function benchE2e(client: Client, config: Config, runDate: string, scale: ScaleInput): Promise<E2eResult> {
  const handle = await startPipeline(client, config, { runDate, scale });
  const outcome = await awaitPipeline(config, handle);
  if (outcome.error) throw new Error(`e2e run ${runDate} at ${scale} failed: ${failureText(outcome.error)}`);
  const { events, intervals } = await collectIntervals(client, handle);
  const first = events[0];
  const last = events[events.length - 1];
  const wall = millis(last?.eventTime) - millis(first?.eventTime);
  const busy = unionLength(intervals);
  return { wall_s: wall / 1000, activity_s: busy / 1000, overhead_s: (wall - busy) / 1000 };
}
