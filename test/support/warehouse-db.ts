/**
 * Test helpers for the warehouse: a private PostgreSQL database per test file (so parallel files never
 * see each other's rows) and small, well-formed CSV part files written to the real object store.
 */
import pg from 'pg';
import type { ObjectStore } from '../../src/activities/storage.js';
import { csvHeader } from '../../src/domain/entities.js';
import type { ShardObject } from '../../src/domain/types.js';
import { loadConfig, type Config } from '../../src/config.js';

/** Creates database `name` on the configured PostgreSQL server if missing; returns config pointing at it. */
export async function privateDatabase(name: string): Promise<Config> {
  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres') throw new Error('warehouse integration tests need WAREHOUSE=postgres');
  const admin = new pg.Client({ connectionString: base.warehouse.databaseUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base.warehouse.databaseUrl);
  url.pathname = `/${name}`;
  return loadConfig({ ...process.env, DATABASE_URL: url.toString(), WAREHOUSE: 'postgres' });
}

/** A random date in 2000-2009, so keys and batches never collide with real runs or other tests. */
export function uniqueDate(): string {
  const year = 2000 + Math.floor(Math.random() * 10);
  const month = 1 + Math.floor(Math.random() * 12);
  const day = 1 + Math.floor(Math.random() * 28);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
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
