/**
 * The local object store: versitygw serving a folder under the data folder over the S3 API on
 * loopback, with the fixed local root credentials, and the project's bucket created.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ObjectStore, createS3Client } from '../activities/storage.js';
import { LOCAL } from '../config.js';
import type { Config } from '../config.js';
import { portOpen, processAlive, spawnDetached, waitFor } from './process.js';
import { type ServiceContext, type ServiceUp, foreignServer, movedPort } from './service.js';
import { updateState } from './state.js';

/** S3 settings for the local server on `port` and `bucket` (path-style, fixed root keys). */
export function localS3(port: number, bucket: string = LOCAL.s3Bucket): Config['s3'] {
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: LOCAL.s3Region,
    accessKeyId: LOCAL.s3AccessKey,
    secretAccessKey: LOCAL.s3SecretKey,
    forcePathStyle: true,
    local: true,
  };
}

/** True when the server on `port` accepts our credentials (ListBuckets succeeds). */
export async function s3Answers(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const client = createS3Client(localS3(port));
  try {
    await client.send(new ListBucketsCommand({}));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/** Creates `bucket` on the local server when missing. */
export async function ensureLocalBucket(port: number, bucket: string): Promise<void> {
  const store = ObjectStore.fromConfig(localS3(port, bucket));
  try {
    await store.ensureBucket();
  } finally {
    store.client.destroy();
  }
}

/** Starts versitygw, or reuses the one this stack started; then creates the project's bucket. */
export async function s3Up(ctx: ServiceContext): Promise<ServiceUp> {
  const port = ctx.config.localPorts.s3;
  const endpoint = `http://127.0.0.1:${port}`;
  const rec = ctx.state.services.s3;
  const logFile = path.join(ctx.logsDir, 's3.log');
  const bin = ctx.tools.versitygw;

  if (rec && processAlive(rec.pid, 'versitygw')) {
    if (rec.port !== port) throw movedPort('the S3 server', rec.port, port);
    await waitFor('S3 (versitygw)', () => s3Answers(port), { timeoutMs: 30_000, logFile });
    await ensureLocalBucket(port, LOCAL.s3Bucket);
    return { name: 's3', status: 'reused', pid: rec.pid, endpoint };
  }
  const foreign = await foreignServer(ctx, {
    name: 's3',
    port,
    endpoint,
    envName: 'HEALTHSYNTH_S3_PORT',
    answers: s3Answers,
    prepare: () => ensureLocalBucket(port, LOCAL.s3Bucket),
  });
  if (foreign) return foreign;

  const root = path.join(ctx.config.dataDir, 's3');
  await fs.mkdir(root, { recursive: true });
  ctx.log(`Starting S3 (versitygw) on ${endpoint} (log: ${logFile})`);
  const { pid, exited } = await spawnDetached(bin, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', root], {
    logFile,
    cwd: ctx.config.dataDir,
    env: { ...process.env, ROOT_ACCESS_KEY: LOCAL.s3AccessKey, ROOT_SECRET_KEY: LOCAL.s3SecretKey },
  });
  await updateState(ctx.config.dataDir, (s) => {
    s.services.s3 = { pid, port, dir: root, startedAt: new Date().toISOString(), logFile, bin };
  });
  ctx.onStarted('s3');
  await waitFor('S3 (versitygw)', () => s3Answers(port), { timeoutMs: 30_000, exited, logFile });
  await ensureLocalBucket(port, LOCAL.s3Bucket);
  return { name: 's3', status: 'started', pid, endpoint };
}
