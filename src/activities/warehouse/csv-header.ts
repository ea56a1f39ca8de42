/**
 * The header check of a load: every part file must start with the entity's CSV header, column for column. COPY
 * maps fields by position, so a file whose columns are swapped (patient_id and doctor_id, both numbers) would
 * otherwise load without an error and put every value in the wrong column.
 *
 * PostgreSQL checks it itself (COPY … HEADER MATCH, PostgreSQL 15+); Redshift's IGNOREHEADER only skips the line,
 * so the Redshift adapter reads each object's first line with a ranged GET before its COPY.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { csvHeader, type EntityName } from '../../domain/entities.js';
import type { ShardObject } from '../../domain/types.js';
import type { ObjectStore } from '../storage.js';

/** How much of an object the header check reads: far more than any entity's header (under 200 bytes). */
export const HEADER_PROBE_BYTES = 4096;

/** The first line of `text` (without its line break), or all of it when it has none. */
export function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return (end === -1 ? text : text.slice(0, end)).replace(/\r$/, '');
}

/**
 * The non-retryable `CsvLoadError` for an object whose first line is not the entity's header: it names the object
 * key, the expected header and the header found, so whoever wrote the file sees at once what is wrong.
 */
export function headerMismatch(key: string, entity: EntityName, found: string): ApplicationFailure {
  const expected = csvHeader(entity);
  return ApplicationFailure.create({
    message: `${key}: CSV header does not match the ${entity} columns: expected "${expected}", found "${found}"`,
    type: 'CsvLoadError',
    nonRetryable: true,
    details: [{ key, expectedHeader: expected, foundHeader: found }],
  });
}

/**
 * Reads the first line of `obj` with a ranged GET (only if it still has the etag the batch names) and throws
 * {@link headerMismatch} unless it is exactly the entity's header. An object that changed since it was written
 * fails with `ObjectChanged`; store errors stay plain and retry.
 */
export async function checkCsvHeader(
  store: ObjectStore,
  entity: EntityName,
  obj: ShardObject,
  signal?: AbortSignal,
): Promise<void> {
  let text: string;
  try {
    const res = await store.client.send(
      new GetObjectCommand({
        Bucket: store.bucket,
        Key: obj.key,
        Range: `bytes=0-${HEADER_PROBE_BYTES - 1}`,
        ...(obj.etag ? { IfMatch: `"${obj.etag}"` } : {}),
      }),
      signal ? { abortSignal: signal } : {},
    );
    text = await (res.Body as Readable & { transformToString(): Promise<string> }).transformToString();
  } catch (err) {
    if ((err as { name?: string }).name === 'PreconditionFailed') {
      throw ApplicationFailure.nonRetryable(
        `${obj.key} changed since it was written (etag is no longer ${obj.etag}); regenerate the batch`,
        'ObjectChanged',
      );
    }
    throw err;
  }
  const found = firstLine(text);
  if (found !== csvHeader(entity)) throw headerMismatch(obj.key, entity, found);
}
