/**
 * The object store: AWS S3 in production, an S3-compatible server (versitygw) locally.
 * One small wrapper so activities speak in keys and streams, never in SDK commands.
 */
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
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

/** Upload parts are 5 MiB (the S3 minimum); two in flight keep memory flat while streaming generated CSV. */
export const PART_SIZE = 5 * 1024 * 1024;

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
   * Streams `body` to `key` with a multipart upload (single PUT below one part).
   * Idempotent: the same bytes to the same key give the same object. Returns ETag and size.
   */
  async put(
    key: string,
    body: Readable | Buffer | string,
    contentType = 'application/octet-stream',
  ): Promise<StoredObject> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: contentType },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
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
    const chunks: Buffer[] = [];
    for await (const chunk of await this.get(key)) chunks.push(chunk as Buffer);
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
  backupPrefix: (table: string, runDate: string) => `backups/${table}/dt=${runDate}/`,
  /** Everything cleanup writes lives under here; backups older than BACKUP_RETENTION_DAYS are deleted. */
  backupsRoot: 'backups/',
  /** `raw/<entity>/`: the day folders `dt=<date>/` of one entity live under it. */
  rawRoot: (entity: string) => `raw/${entity}/`,
};

/** The date of a day folder such as `raw/patients/dt=2026-11-20/`, or undefined for anything else. */
export function folderDate(prefix: string): string | undefined {
  return /\/dt=(\d{4}-\d{2}-\d{2})\/$/.exec(prefix)?.[1];
}
