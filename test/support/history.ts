/**
 * Reading workflow histories in tests: which patches a run recorded and which activities it scheduled.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type proto from '@temporalio/proto';

type History = proto.temporal.api.history.v1.IHistory;

/** The ids of the `patched()` markers in `history`, in order (the SDK records them as `core_patch` markers). */
export function patchIds(history: History): string[] {
  return (history.events ?? [])
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_patch')
    .map((m) => {
      const payload = m?.details?.['patch-data']?.payloads?.[0];
      return payload ? (defaultPayloadConverter.fromPayload(payload) as { id: string }).id : '';
    });
}

/** The activity types `history` scheduled, in order. */
export function scheduledActivities(history: History): string[] {
  return (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? '')
    .filter((name) => name !== '');
}
