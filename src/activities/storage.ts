/**
 * The object store: AWS S3 in production, an S3-compatible server (versitygw) locally.
 * One small wrapper so activities speak in keys and streams, never in SDK commands.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type _Object,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../config.js';

// The one place the AWS SDK's notice is silenced: it warns, once per process, that its releases from January 2027
// need Node 22; the locked version runs on Node 20, which the project targets. The SDK reads this when a client is
// built, and every AWS client is built after this module loads (the S3 client here; the Redshift Data client in
// warehouse/redshift.ts, whose load and cleanup parts import this module), in every entry point: `healthsynth`, the worker, the demo,
// the tests and the benchmarks. Child processes inherit it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface StoredObject {
  key: string;
  etag: string;
  size: number;
  /** When the object was written (listings only): what backup retention ages by, as an S3 lifecycle rule does. */
  lastModified?: Date;
}

/** Upload parts are 5 MiB (the S3 minimum for every part but the last). */
export const PART_SIZE = 5 * 1024 * 1024;

/**
 * Part buffers, allocated once and reused by every upload in the process: one per upload, refilled once its part
 * is sent. A fresh 5 MiB buffer per part (what `@aws-sdk/lib-storage`'s Upload does, with `queueSize` more in
 * flight) lives outside the JS heap and is freed only when a garbage collection finds its wrapper dead, so a worker
 * streaming large shards held tens of such parts waiting for GC at its peak. An upload's producer waits while its
 * part is sent; the worker's other activities run meanwhile, so on a busy worker the wait costs little. The pool
 * keeps as many free buffers as the default 4 concurrent activities use; more concurrent uploads allocate more,
 * and what the pool cannot keep is left to GC.
 */
class PartPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly partSize: number,
    readonly keep: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.partSize);
  }

  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

const partPool = new PartPool(PART_SIZE, 4);

/**
 * What {@link ObjectStore.put} uploads: bytes, or a (sync or async) sequence of chunks. A chunk is copied into a
 * part buffer before the next one is requested, so a producer may hand out the same buffer refilled each time.
 */
export type PutBody = Readable | Buffer | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export function createS3Client(s3: Config['s3']): S3Client {
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.accessKeyId && s3.secretAccessKey
      ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
      : {}),
    // The local server and most S3-compatible stores reject the newer default checksum headers on streams.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const stripQuotes = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

export class ObjectStore {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    private readonly publicBaseUrl?: string,
  ) {}

  static fromConfig(s3: Config['s3']): ObjectStore {
    return new ObjectStore(createS3Client(s3), s3.bucket, s3.publicBaseUrl);
  }

  /** Creates the bucket when it does not exist (local stack and tests; production buckets are provisioned). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (!(err instanceof NotFound) && (err as { name?: string }).name !== 'NotFound') throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  /**
   * Streams `body` to `key` with a multipart upload of {@link PART_SIZE} parts, filled and sent in turn from a part
   * buffer reused across uploads; a single PUT below one part (the same objects and ETags
   * as `@aws-sdk/lib-storage`'s Upload with that part size). A failed or aborted (`signal`) upload is aborted so no
   * parts are left behind. Idempotent: the same bytes to the same key give the same object. Returns ETag and size.
   */
  async put(
    key: string,
    body: PutBody,
    contentType = 'application/octet-stream',
    { signal }: { signal?: AbortSignal } = {},
  ): Promise<StoredObject> {
    const chunks = typeof body === 'string' ? [Buffer.from(body)] : Buffer.isBuffer(body) ? [body] : body;
    const target = { Bucket: this.bucket, Key: key };
    const parts: CompletedPart[] = [];
    let uploadId: string | undefined;
    const part = partPool.take();
    let filled = 0;
    /** Sends the part buffer's first `filled` bytes as the next part and empties it. */
    const flush = async (): Promise<void> => {
      uploadId ??= (await this.client.send(new CreateMultipartUploadCommand({ ...target, ContentType: contentType })))
        .UploadId;
      const PartNumber = parts.length + 1;
      const res = await this.client.send(
        new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber, Body: part.subarray(0, filled) }),
        signal ? { abortSignal: signal } : {},
      );
      parts.push({ PartNumber, ETag: res.ETag });
      filled = 0;
    };
    try {
      for await (const piece of chunks as AsyncIterable<Uint8Array | string>) {
        signal?.throwIfAborted();
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        let offset = 0;
        while (offset < chunk.length) {
          // A full part is sent only once more bytes follow, so an object of exactly one part is a single PUT.
          if (filled === PART_SIZE) await flush();
          const n = Math.min(chunk.length - offset, PART_SIZE - filled);
          part.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
        }
      }
      signal?.throwIfAborted();
      if (uploadId === undefined) {
        await this.client.send(
          new PutObjectCommand({ ...target, Body: part.subarray(0, filled), ContentType: contentType }),
          signal ? { abortSignal: signal } : {},
        );
      } else {
        if (filled > 0) await flush();
        await this.client.send(
          new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        );
      }
    } catch (err) {
      if (uploadId !== undefined) {
        await this.client
          .send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw err;
    } finally {
      partPool.give(part);
    }
    const head = await this.head(key);
    if (!head) throw new Error(`object ${key} is missing right after upload to bucket ${this.bucket}`);
    return head;
  }

  /** Opens an object as a byte stream. Throws an error naming the key when it does not exist. */
  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return res.Body as Readable;
    } catch (err) {
      if (err instanceof NoSuchKey) throw new Error(`object s3://${this.bucket}/${key} does not exist`);
      throw err;
    }
  }

  async getText(key: string): Promise<string> {
    const text = await this.getTextIfExists(key);
    if (text === undefined) throw new Error(`object s3://${this.bucket}/${key} does not exist`);
    return text;
  }

  /** An object's text, or undefined when it does not exist: one request where head-then-get takes two. */
  async getTextIfExists(key: string): Promise<string | undefined> {
    let body: Readable;
    try {
      body = (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body as Readable;
    } catch (err) {
      if (err instanceof NoSuchKey) return undefined;
      throw err;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, etag: stripQuotes(res.ETag), size: res.ContentLength ?? 0 };
    } catch (err) {
      if (err instanceof NotFound || (err as { name?: string }).name === 'NotFound') return undefined;
      throw err;
    }
  }

  /** Lists every object under `prefix`, following continuation tokens, sorted by key. */
  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of res.Contents ?? ([] as _Object[])) {
        if (o.Key) {
          out.push({
            key: o.Key,
            etag: stripQuotes(o.ETag),
            size: o.Size ?? 0,
            ...(o.LastModified ? { lastModified: o.LastModified } : {}),
          });
        }
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * The "folders" directly under `prefix` (which ends in `/`): the distinct next path segments, each as a full
   * prefix ending in `/`, sorted. One listing call per 1000 folders, however many objects they hold.
   */
  async listFolders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  /** Deletes every object under `prefix`; returns how many there were. Idempotent: an empty prefix is 0. */
  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    await this.delete(objects.map((o) => o.key));
    return objects.length;
  }

  /** Deletes keys in batches of 1000 (the S3 limit); missing keys are not an error. */
  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      if (res.Errors && res.Errors.length > 0) {
        const first = res.Errors[0];
        throw new Error(`could not delete ${res.Errors.length} objects, first ${first?.Key}: ${first?.Message}`);
      }
    }
  }

  /** A URL people can open: under REPORT_PUBLIC_BASE_URL when configured, else presigned for `seconds`. */
  async url(key: string, seconds = 7 * 24 * 3600): Promise<string> {
    if (this.publicBaseUrl) return `${this.publicBaseUrl.replace(/\/$/, '')}/${key}`;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: seconds });
  }

  s3Uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
}

/** Object key layout, in one place. */
export const keys = {
  rawPrefix: (entity: string, runDate: string) => `raw/${entity}/dt=${runDate}/`,
  rawPart: (entity: string, runDate: string, shard: number) =>
    `raw/${entity}/dt=${runDate}/part-${String(shard).padStart(5, '0')}.csv`,
  report: (runDate: string) => `reports/dt=${runDate}/doctor-rating.png`,
  /** The staff report's second chart: expected no-shows by clinic for the weekday after `runDate`. */
  riskReport: (runDate: string) => `reports/dt=${runDate}/no-show-risk.png`,
  backupPrefix: (table: string, runDate: string) => `backups/${table}/dt=${runDate}/`,
  /** Everything cleanup writes lives under here; backups older than BACKUP_RETENTION_DAYS are deleted. */
  backupsRoot: 'backups/',
  /** `raw/<entity>/`: the day folders `dt=<date>/` of one entity live under it. */
  rawRoot: (entity: string) => `raw/${entity}/`,
  /**
   * The synthetic source's true no-show probabilities of an appointments shard: `truth/appointments/dt=<date>/…`,
   * beside `raw/` and never loaded (a real source has no truth).
   */
  truthPart: (entity: 'appointments', runDate: string, shard: number) =>
    `truth/${entity}/dt=${runDate}/part-${String(shard).padStart(5, '0')}.csv`,
  /** `truth/<entity>/`: the truth's day folders, deleted with the raw objects of their day. */
  truthRoot: (entity: 'appointments') => `truth/${entity}/`,
};

/** The date of a day folder such as `raw/patients/dt=2026-11-20/`, or undefined for anything else. */
export function folderDate(prefix: string): string | undefined {
  return /\/dt=(\d{4}-\d{2}-\d{2})\/$/.exec(prefix)?.[1];
}
