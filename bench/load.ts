/**
 * Load benchmark: our loadBatch (object store → COPY FROM STDIN, one transaction, ledger, checks) against
 * `psql \copy` of the same bytes from a local file into an identical fresh table, in the same run, and against
 * the bench-only staging load (bench/staging-load.ts) in `by_strategy`.
 *
 * Run: `npx tsx bench/load.ts [appointments] [entity,entity…]` (default 200000 appointments, all entities).
 * Uses its own database (hs_wh_bench) and key prefix (bench-load/), so it never touches pipeline data.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { ObjectStore } from '../src/activities/storage.js';
import { columnList, rawTable } from '../src/activities/warehouse/ddl.js';
import { PostgresWarehouse } from '../src/activities/warehouse/postgres.js';
import { loadConfig } from '../src/config.js';
import { ENTITY_NAMES, type EntityName } from '../src/domain/entities.js';
import { generateShardStream } from '../src/domain/generator/index.js';
import { stagingLoad } from './staging-load.js';

/** `direct`: the worker's loadBatch; `staging`: the bench-only {@link stagingLoad}, for comparison. */
export type LoadStrategy = 'direct' | 'staging';

export interface BenchLoadOptions {
  /** Appointments per day; other entities follow in proportion (default 200000). */
  appointments?: number;
  entities?: readonly EntityName[];
  /** Loads to time; the first is the one compared with psql (default: direct, staging). */
  strategies?: readonly LoadStrategy[];
  database?: string;
  runDate?: string;
  /** Timed rounds per method; medians are reported (default 3). */
  repeat?: number;
  log?: (line: string) => void;
}

export interface EntityLoadBench {
  rows: number;
  bytes: number;
  /** Our loadBatch with the first strategy, end to end (object store read, COPY, checks, ledger, commit); median. */
  rows_per_s: number;
  /** psql \copy with psql's own start-up and connection time subtracted (the stricter comparison). */
  psql_copy_rows_per_s: number;
  /** psql \copy timed as a whole command, start-up and connection included. */
  psql_copy_rows_per_s_incl_startup: number;
  /** rows_per_s / psql_copy_rows_per_s; the target is >= 0.8. */
  ratio: number;
  by_strategy: Partial<Record<LoadStrategy, number>>;
}

const rate = (rows: number, ms: number) => Math.round((rows / ms) * 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * For each entity: generates one part file with the real generator, stores it under `bench-load/`, downloads
 * the same bytes to a temp file, then times loadBatch (per strategy) and `psql \copy` into
 * `bench.<entity>_psql` (LIKE raw.<entity> INCLUDING ALL, so it has the same index). Returns rows/s for each.
 */
export async function benchLoad(opts: BenchLoadOptions = {}): Promise<Record<string, EntityLoadBench>> {
  const appointments = opts.appointments ?? 200_000;
  const entities = opts.entities ?? ENTITY_NAMES;
  const strategies = opts.strategies ?? (['direct', 'staging'] as const);
  const database = opts.database ?? 'hs_wh_bench';
  const runDate = opts.runDate ?? '2021-03-04';
  const repeat = opts.repeat ?? 3;
  const log = opts.log ?? ((line: string) => console.error(line));

  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres')
    throw new Error('bench/load.ts compares with psql, so it needs WAREHOUSE=postgres');
  const admin = new pg.Client({ connectionString: base.warehouse.databaseUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base.warehouse.databaseUrl);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const store = ObjectStore.fromConfig(base.s3);
  await store.ensureBucket();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'hs-bench-load-'));
  const warehouse = new PostgresWarehouse({ databaseUrl, store, maxConnections: 2 });
  const written: string[] = [];
  const out: Record<string, EntityLoadBench> = {};
  try {
    await warehouse.ensureRawTables();
    await warehouse.query('CREATE SCHEMA IF NOT EXISTS bench');
    for (const entity of entities) {
      const key = `bench-load/${entity}/dt=${runDate}/part-00000.csv`;
      const stream = generateShardStream({
        entity,
        runDate,
        scale: appointments,
        shard: 0,
        seed: 7,
        shardRows: appointments,
      });
      const stored = await store.put(key, stream, 'text/csv');
      written.push(key);
      const shard = { key, etag: stored.etag, bytes: stored.size, rows: stream.rows };
      const file = path.join(tmp, `${entity}.csv`);
      await pipeline(await store.get(key), createWriteStream(file));
      if ((await stat(file)).size !== stored.size) throw new Error(`download of ${key} is incomplete`);

      const timeOurs = async (strategy: LoadStrategy): Promise<number> => {
        await warehouse.query(`TRUNCATE ${rawTable(entity)}`);
        await warehouse.query('DELETE FROM raw._load_ledger WHERE entity = $1', [entity]);
        const t0 = performance.now();
        if (strategy === 'staging') {
          await stagingLoad(warehouse.pool, store, { entity, batchDate: runDate, key, rows: shard.rows });
          return performance.now() - t0;
        }
        const res = await warehouse.loadBatch({ entity, batchDate: runDate, objects: [shard] });
        const ms = performance.now() - t0;
        if (res.status !== 'loaded' || res.rows !== shard.rows) {
          throw new Error(`${strategy} load of ${entity} returned ${JSON.stringify(res)}`);
        }
        return ms;
      };
      const copyTable = `bench.${entity}_psql`;
      const timePsql = async (): Promise<{ ms: number; startupMs: number }> => {
        // psql's start-up + connect + trivial query, subtracted so only the copy itself is compared.
        const s0 = performance.now();
        await execa('psql', [databaseUrl, '-qAtc', 'SELECT 1']);
        const startupMs = performance.now() - s0;
        await warehouse.query(`DROP TABLE IF EXISTS ${copyTable}`);
        await warehouse.query(`CREATE TABLE ${copyTable} (LIKE ${rawTable(entity)} INCLUDING ALL)`);
        const t0 = performance.now();
        await execa('psql', [
          databaseUrl,
          '-v',
          'ON_ERROR_STOP=1',
          '-qc',
          `\\copy ${copyTable} (${columnList(entity)}) FROM '${file}' WITH (FORMAT csv, HEADER true)`,
        ]);
        const ms = performance.now() - t0;
        const copied = await warehouse.query<{ n: number }>(`SELECT count(*) AS n FROM ${copyTable}`);
        if (copied[0]?.n !== shard.rows)
          throw new Error(`psql \\copy loaded ${copied[0]?.n} rows, expected ${shard.rows}`);
        await warehouse.query(`DROP TABLE ${copyTable}`);
        return { ms, startupMs };
      };

      // Alternate the order each round so caches and neighbours' load favour neither side; report medians.
      const oursMs: Record<string, number[]> = {};
      const psqlMs: number[] = [];
      const psqlNetMs: number[] = [];
      for (let round = 0; round < repeat; round++) {
        const runPsql = async () => {
          const p = await timePsql();
          psqlMs.push(p.ms);
          psqlNetMs.push(Math.max(1, p.ms - p.startupMs));
        };
        if (round % 2 === 1) await runPsql();
        for (const strategy of strategies) (oursMs[strategy] ??= []).push(await timeOurs(strategy));
        if (round % 2 === 0) await runPsql();
      }
      const byStrategy: Partial<Record<LoadStrategy, number>> = {};
      for (const strategy of strategies) byStrategy[strategy] = rate(shard.rows, median(oursMs[strategy] ?? []));

      const ours = byStrategy[strategies[0] ?? 'direct'] ?? 0;
      const psqlRate = rate(shard.rows, median(psqlNetMs));
      out[entity] = {
        rows: shard.rows,
        bytes: shard.bytes,
        rows_per_s: ours,
        psql_copy_rows_per_s: psqlRate,
        psql_copy_rows_per_s_incl_startup: rate(shard.rows, median(psqlMs)),
        ratio: Math.round((ours / psqlRate) * 100) / 100,
        by_strategy: byStrategy,
      };
      log(`${entity}: ${JSON.stringify(out[entity])}`);
    }
  } finally {
    await store.delete(written).catch(() => {});
    await warehouse.close();
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const appointments = process.argv[2] ? Number(process.argv[2]) : undefined;
  const entities = process.argv[3] ? (process.argv[3].split(',') as EntityName[]) : undefined;
  const result = await benchLoad({ ...(appointments ? { appointments } : {}), ...(entities ? { entities } : {}) });
  console.log(JSON.stringify(result, null, 2));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
