/**
 * Test helpers for the warehouse: a PostgreSQL warehouse on a test file's own fresh database, and small,
 * well-formed CSV part files written to the real object store. Dates come from env.ts (`uniqueDate('warehouse')`).
 */
import { ObjectStore } from '../../src/activities/storage.js';
import { PostgresWarehouse } from '../../src/activities/warehouse/postgres.js';
import type { Config } from '../../src/config.js';
import { csvHeader } from '../../src/domain/entities.js';
import type { ShardObject } from '../../src/domain/types.js';
import { freshDatabase, testConfig } from './env.js';

/** A PostgreSQL warehouse on a fresh database `name` (one per test file) with its raw tables, and the test bucket. */
export async function postgresFixture(
  name: string,
): Promise<{ config: Config; store: ObjectStore; warehouse: PostgresWarehouse }> {
  const config = testConfig({ DATABASE_URL: await freshDatabase(name) });
  const store = ObjectStore.fromConfig(config.s3);
  await store.ensureBucket();
  if (config.warehouse.kind !== 'postgres') throw new Error('unreachable: DATABASE_URL is set');
  const warehouse = new PostgresWarehouse({ databaseUrl: config.warehouse.databaseUrl, store });
  await warehouse.ensureRawTables();
  return { config, store, warehouse };
}

/** Appointment rows `firstId … firstId+n-1` for `batchDate`, each on `appointmentDay` (default: the batch date). */
export function appointmentsCsv(batchDate: string, firstId: number, n: number, appointmentDay = batchDate): string {
  const lines = [csvHeader('appointments')];
  for (let i = 0; i < n; i++) {
    const id = firstId + i;
    const minute = String(i % 60).padStart(2, '0');
    lines.push(
      `${id},${100_000 + i},${(i % 9) + 1},${appointmentDay} 08:${minute}:00,${appointmentDay},${i % 2 === 0},${i % 5 === 0},${batchDate}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Feedback rows submitted on `day` (timestamps through the day), with a quoted comment containing a comma and newline. */
export function feedbackCsv(batchDate: string, firstId: number, n: number, day: string): string {
  const lines = [csvHeader('feedback')];
  for (let i = 0; i < n; i++) {
    const comment = i % 3 === 0 ? '"Kind, thorough\nand on time"' : '';
    lines.push(
      `${firstId + i},${firstId + i},${200_000 + i},${(i % 9) + 1},${(i % 5) + 1},${comment},${day} 1${i % 10}:30:00,${batchDate}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes `csv` to `key` and returns the shard descriptor a generator would return. */
export async function putShard(store: ObjectStore, key: string, csv: string, rows: number): Promise<ShardObject> {
  const o = await store.put(key, csv, 'text/csv');
  return { key, etag: o.etag, bytes: o.size, rows };
}
