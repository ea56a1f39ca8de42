/**
 * Shared test setup: configuration for the running stack (`npm test` brings it up and exports its
 * settings), unique names, and a worker on a private task queue so test files never steal each
 * other's tasks.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { ObjectStore } from '../../src/activities/storage.js';
import { createWarehouse, type Warehouse } from '../../src/activities/warehouse/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { recreateDatabase } from '../../src/stack/postgres.js';
import { connectClient } from '../../src/temporal.js';
import { installQuietRuntime, startWorker, type RunningWorker } from '../../src/worker.js';

/** A short unique suffix for ids, task queues and prefixes. */
export const uniq = (): string => randomUUID().slice(0, 8);

/** Configuration for a test: the stack's settings plus a private task queue and any overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, TEMPORAL_TASK_QUEUE: `test-${uniq()}`, ...env });
}

export interface TestHarness {
  config: Config;
  client: Client;
  store: ObjectStore;
  warehouse: Warehouse;
  worker?: RunningWorker;
  close(): Promise<void>;
}

/**
 * Connects a client, object store and warehouse for `config`, and starts an in-process worker unless
 * `worker: false`. `close()` stops everything it started.
 */
export async function harness(
  config: Config,
  opts: { worker?: boolean; wrapActivities?: NonNullable<Parameters<typeof startWorker>[1]>['wrapActivities'] } = {},
): Promise<TestHarness> {
  installQuietRuntime();
  const client = await connectClient(config);
  const store = ObjectStore.fromConfig(config.s3);
  await store.ensureBucket();
  const warehouse = createWarehouse(config, store);
  await warehouse.ensureRawTables();
  const worker =
    opts.worker === false
      ? undefined
      : await startWorker(config, opts.wrapActivities ? { wrapActivities: opts.wrapActivities } : {});
  return {
    config,
    client,
    store,
    warehouse,
    worker,
    async close() {
      await worker?.shutdown();
      await warehouse.close();
      await client.connection.close();
    },
  };
}

/**
 * Drops and recreates database `name` on the configured PostgreSQL server and returns its URL, so a test file's
 * counts never see another file's rows. One name per test file: files run in parallel.
 */
export async function freshDatabase(name: string): Promise<string> {
  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres') throw new Error('these tests need the PostgreSQL warehouse');
  return recreateDatabase(base.warehouse.databaseUrl, name);
}

/** Empties and deletes `store`'s bucket: the cleanup of a test file that ran with a bucket of its own. */
export async function deleteBucket(store: ObjectStore): Promise<void> {
  await store.delete((await store.list('')).map((o) => o.key));
  await store.client.send(new DeleteBucketCommand({ Bucket: store.bucket }));
}

/**
 * Where each kind of test draws its dates from; the ranges do not overlap, because every test file shares one
 * bucket and a date names its raw objects (`raw/<entity>/dt=<date>/…`). Workflow runs (`pipeline`) use 2011-2018,
 * tests that load hand-written part files straight into a warehouse (`warehouse`) use 2000-2009. All are past
 * days: run dates after today are refused, so tests cannot hide in the future.
 */
const DATE_RANGES = { pipeline: { from: 2011, years: 8 }, warehouse: { from: 2000, years: 10 } } as const;

/** A random date in `range` (see {@link DATE_RANGES}), so each test loads batches no other run or test touches. */
export function uniqueDate(range: keyof typeof DATE_RANGES = 'pipeline'): string {
  const { from, years } = DATE_RANGES[range];
  const day = Math.floor(Math.random() * 365 * years);
  return new Date(Date.UTC(from, 0, 1) + day * 86_400_000).toISOString().slice(0, 10);
}

/** A random past Saturday in 2011-2018 (the weekend-notice schedule's first day of a weekend). */
export function uniqueSaturday(): string {
  // 2011-01-01 was a Saturday; 417 Saturdays from there reach the end of 2018.
  return new Date(Date.UTC(2011, 0, 1 + 7 * randomInt(0, 417))).toISOString().slice(0, 10);
}

/** A random past Saturday or Sunday in 2011-2018: the weekend notice refuses weekdays and dates after today. */
export function uniqueWeekendDate(): string {
  const date = uniqueDate();
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  // Forward to the next Saturday, then half the time one more day to its Sunday.
  const toSaturday = (6 - day + 7) % 7;
  const d = new Date(Date.parse(`${date}T00:00:00Z`) + (toSaturday + (Math.random() < 0.5 ? 1 : 0)) * 86_400_000);
  return d.toISOString().slice(0, 10);
}
