/** Fault injection into generated part files, for the tests of loads that must fail for good. */
import type { ObjectStore } from '../../src/activities/storage.js';
import type { ShardObject } from '../../src/domain/types.js';

/**
 * Rewrites one field of a stored CSV part file (`line` 0 is the header) to `value` and returns the object with
 * its new etag and size, so the load reads a well-formed file whose one value is wrong.
 */
export async function corruptCsvField(
  store: ObjectStore,
  object: ShardObject,
  at: { line: number; field: number; value: string },
): Promise<ShardObject> {
  const lines = (await store.getText(object.key)).split('\n');
  const fields = (lines[at.line] ?? '').split(',');
  fields[at.field] = at.value;
  lines[at.line] = fields.join(',');
  const stored = await store.put(object.key, lines.join('\n'), 'text/csv');
  return { ...object, etag: stored.etag, bytes: stored.size };
}
