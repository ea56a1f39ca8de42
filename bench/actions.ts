/**
 * Temporal Cloud billable actions of one closed run, counted from its and its children's histories, by the rules of
 * https://docs.temporal.io/cloud/actions: a workflow started by a client is one action, a child workflow two (its
 * start and its execution); every activity attempt (started or retried) one; every timer, signal and search-attribute
 * upsert one (upserts of TemporalChangeVersion alone, written by patched(), are exempt); side effects and local
 * activities one per workflow task that records them. Workflow tasks, completions and patch markers cost nothing.
 *
 * Heartbeats are not in a history, so they are an estimate: an attempt that declares a heartbeatTimeout sends its
 * first heartbeat at once and then at most one per throttle interval (the SDK's default, 80 % of the timeout), so
 * 1 + floor(duration / (0.8 × heartbeatTimeout)). Queries (`healthsynth follow`, the Web UI) and the schedule's own
 * actions (two per scheduled start) are not part of a run's history and are not counted here either.
 */
import proto from '@temporalio/proto';
import type { RunHistory } from './e2e.js';

const EventType = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
type Duration = proto.google.protobuf.IDuration | null | undefined;

/** The search attribute patched() upserts; Temporal Cloud does not bill its upserts. */
const CHANGE_VERSION = 'TemporalChangeVersion';
/** Markers Temporal Cloud bills (once per workflow task that records any): side effects and local activities. */
const BILLED_MARKERS = new Set(['SideEffect', 'MutableSideEffect', 'core_local_activity', 'LocalActivity']);

/** A run's billable actions by kind; `heartbeats_estimated` is an estimate (see the module comment). */
export interface ActionCount {
  workflows_started: number;
  child_workflows: number;
  activities: number;
  timers: number;
  signals: number;
  search_attribute_upserts: number;
  markers: number;
  heartbeats_estimated: number;
  total: number;
  /** Actions by activity type (attempts plus estimated heartbeats), so per-shard costs can be scaled. */
  by_activity: Record<string, number>;
}

const seconds = (d: Duration): number => Number(d?.seconds ?? 0) + Number(d?.nanos ?? 0) / 1e9;
const millis = (t: HistoryEvent['eventTime']): number =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor(Number(t?.nanos ?? 0) / 1e6);

/** Heartbeats an attempt of `durationMs` sends with `heartbeatTimeoutS` (0: none declared, so none counted). */
export function estimatedHeartbeats(durationMs: number, heartbeatTimeoutS: number): number {
  if (heartbeatTimeoutS <= 0) return 0;
  return 1 + Math.floor(durationMs / 1000 / (0.8 * heartbeatTimeoutS));
}

/** Counts the billable actions of a run from `histories` (the run's first, as {@link fetchHistories} returns them). */
export function countActions(histories: RunHistory[]): ActionCount {
  const count: ActionCount = {
    workflows_started: 1, // the run itself, started by a client; children are counted where they are started
    child_workflows: 0,
    activities: 0,
    timers: 0,
    signals: 0,
    search_attribute_upserts: 0,
    markers: 0,
    heartbeats_estimated: 0,
    total: 0,
    by_activity: {},
  };
  const add = (type: string, n: number) => (count.by_activity[type] = (count.by_activity[type] ?? 0) + n);
  for (const { events } of histories) {
    const scheduled = new Map<number, { type: string; heartbeatS: number }>();
    const started = new Map<number, { at: number; attempt: number }>();
    const markerTasks = new Set<number>();
    for (const e of events) {
      switch (e.eventType) {
        case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
          count.child_workflows += 2;
          break;
        case EventType.EVENT_TYPE_TIMER_STARTED:
          count.timers += 1;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
          count.signals += 1; // counted where received, so a workflow's signal to another counts once
          break;
        case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
          const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
          if (Object.keys(fields).some((k) => k !== CHANGE_VERSION)) count.search_attribute_upserts += 1;
          break;
        }
        case EventType.EVENT_TYPE_MARKER_RECORDED: {
          const a = e.markerRecordedEventAttributes;
          if (BILLED_MARKERS.has(a?.markerName ?? '')) markerTasks.add(Number(a?.workflowTaskCompletedEventId));
          break;
        }
        case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
          const a = e.activityTaskScheduledEventAttributes;
          scheduled.set(Number(e.eventId), {
            type: a?.activityType?.name ?? '',
            heartbeatS: seconds(a?.heartbeatTimeout),
          });
          break;
        }
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
          const a = e.activityTaskStartedEventAttributes;
          started.set(Number(a?.scheduledEventId), { at: millis(e.eventTime), attempt: a?.attempt ?? 1 });
          break;
        }
        default: {
          const closed =
            e.activityTaskCompletedEventAttributes ??
            e.activityTaskFailedEventAttributes ??
            e.activityTaskTimedOutEventAttributes ??
            e.activityTaskCanceledEventAttributes;
          if (!closed) break;
          const id = Number(closed.scheduledEventId);
          const s = scheduled.get(id);
          const st = started.get(id);
          if (!s) break;
          // Every attempt is an action; only the last attempt's start is in the history, so only it is timed.
          const attempts = st?.attempt ?? 1;
          const beats = st ? estimatedHeartbeats(millis(e.eventTime) - st.at, s.heartbeatS) : 0;
          count.activities += attempts;
          count.heartbeats_estimated += beats;
          add(s.type, attempts + beats);
        }
      }
    }
    count.markers += markerTasks.size;
  }
  count.total =
    count.workflows_started +
    count.child_workflows +
    count.activities +
    count.timers +
    count.signals +
    count.search_attribute_upserts +
    count.markers +
    count.heartbeats_estimated;
  return count;
}
