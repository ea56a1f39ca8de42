/**
 * Workflow histories to and from the standard JSON form (the one `temporal workflow show --output json`
 * and the Web UI's download produce), for the replay tests.
 *
 * Why not `historyToJSON` / `historyFromJSON` from @temporalio/common/lib/proto-utils: in this install npm
 * hoisted protobufjs 7 (for @grpc/proto-loader) and gave @temporalio/common and @temporalio/proto each
 * their own copy of protobufjs 8, so common's protojson rejects proto's message types
 * (`TypeError: type must be a Type`), and `Worker.runReplayHistory` with a JSON object fails the same way.
 * These functions run the same protojson code, resolved from @temporalio/proto's own protobufjs, so the
 * types and the converter always come from one copy whatever the install layout.
 */
import { createRequire } from 'node:module';
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';

type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const requireFromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const protojson = requireFromProto('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

/** A history (e.g. from `handle.fetchHistory()`) as pretty-printed standard JSON. */
export function historyToJson(history: History): string {
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return JSON.stringify(protojson.toJson(historyType, message), null, 2);
}

/** Parses standard history JSON into the History message `Worker.runReplayHistories` takes. */
export function historyFromJson(json: string): History {
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { events?: unknown }).events)) {
    throw new TypeError('not a history: expected an object with an array of events');
  }
  return protojson.fromJson(historyType, parsed, { ignoreUnknownFields: true }) as History;
}
