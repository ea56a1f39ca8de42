/**
 * History benchmark: does a day's run cost the same on a warehouse holding months of history as on an empty one?
 *
 * Two warehouses, each with a database and a bucket of its own, get the same preparation except for the history:
 *  - `history`: `days` weekdays at `scale` generated and loaded through the pipeline's activity functions, called
 *    directly ({@link loadDays}: entities in parallel, two days in flight), then one dbt build of everything
 *    (`--full-refresh`, tests scoped to the last day), in this process;
 *  - `empty`: no days, the same build (it creates the marts, empty).
 * Both are then vacuumed and analyzed (`settle_s`), as a warehouse is on an ordinary day: a bulk build leaves every
 * table due for autovacuum, which otherwise runs beside the measured days (on 2026-12-06 autovacuum of the 19.7M-row
 * no_show_features ended 30 s into the empty warehouse's day, which took 55.7 s, and the ratio read 1.23x).
 * Both then train the eve's no-show model as the pipeline's run of the last history day would have (the empty
 * warehouse has no outcomes and trains nothing); its time is reported as `eve_train_s`, the cost a retraining day
 * (once every RETRAIN_EVERY_DAYS) adds to the measured day, which reuses that model.
 * Then the next {@link MEASURED_DAYS} weekdays, the same dates in both, each run as a full dailyPipeline on a fresh
 * worker process of each (the worker's dbt daemon starts cold in both, with the parse state the build saved), day by
 * day and the empty warehouse first, so a change in the shared machine's speed falls on both sides of a day alike.
 * Each day's ratios are its wall time and dbt step (runDbt's busy time) on the history warehouse over the same on
 * the empty one; `ratio` is the median of the days' (one run of one day varied from 1.21x to 1.57x at the same code
 * on 2026-12-06 and 07). The last day is `run_date`, the last weekday of its month, where the monthly marts
 * recompute a whole month: the dearest day of a month. The warehouse's size is pg_total_relation_size (tables with
 * their indexes and TOAST) over the raw and marts schemas, measured before the first measured day.
 */
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { createDbtActivities } from '../src/activities/dbt.js';
import { DBT_DAEMONS } from '../src/activities/dbt-daemon.js';
import { createPredictActivities } from '../src/activities/predict.js';
import { ObjectStore } from '../src/activities/storage.js';
import { createWarehouse } from '../src/activities/warehouse/index.js';
import { loadConfig, type Config } from '../src/config.js';
import { addDays, dayOfWeek } from '../src/domain/dates.js';
import type { ScaleInput } from '../src/domain/types.js';
import { recreateDatabase } from '../src/stack/postgres.js';
import { benchE2e, type E2eResult } from './e2e.js';
import { loadDays } from './load-days.js';
import { spawnWorker, stopWorker } from './spawn-worker.js';

const isWeekday = (date: string): boolean => !['Saturday', 'Sunday'].includes(dayOfWeek(date));

/** The `n` weekdays before `date`, oldest first. */
export function weekdaysBefore(date: string, n: number): string[] {
  const out: string[] = [];
  for (let d = addDays(date, -1); out.length < n; d = addDays(d, -1)) if (isWeekday(d)) out.unshift(d);
  return out;
}

/** The first weekday on or after `date`. */
export function weekdayFrom(date: string): string {
  let d = date;
  while (!isWeekday(d)) d = addDays(d, 1);
  return d;
}

export interface WarehouseSize {
  raw_mb: number;
  marts_mb: number;
  total_mb: number;
  appointments: number;
  /** total_mb per million rows of raw.appointments. */
  mb_per_million_appointments: number;
}

/** The day's run on one warehouse: wall time, dbt step and the full end-to-end measurement. */
export interface HistoryDayRun {
  wall_s: number;
  dbt_s: number;
  steps: E2eResult['steps'];
}

/** One measured day on both warehouses. */
export interface HistoryDay {
  run_date: string;
  empty: { wall_s: number; dbt_s: number };
  history: { wall_s: number; dbt_s: number };
  /** history / empty. */
  ratio: { wall: number; dbt: number };
}

/** Weekdays measured after the history, on both warehouses. */
export const MEASURED_DAYS = 3;

export interface HistoryResult {
  days: number;
  scale: string;
  /** The last measured day; `history` and `empty` are its runs, step by step. */
  run_date: string;
  /** Loading the history (generation, loads, publish) and its one dbt build, in seconds. */
  load_s: number;
  build_s: number;
  /** VACUUM (ANALYZE) of the history warehouse after its build, before anything is measured. */
  settle_s: number;
  /** Training the eve's model on the history warehouse (what a retraining day adds to the measured day). */
  eve_train_s: number;
  size: WarehouseSize;
  history: HistoryDayRun;
  empty: HistoryDayRun;
  /** Each measured day, oldest first (the last is `run_date`). */
  measured: HistoryDay[];
  /** The median of the measured days' ratios, wall and dbt each; the goal is ≤ 1.3. */
  ratio: { wall: number; dbt: number };
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const MB = 1024 * 1024;

/** Sizes of the raw and marts schemas (every table with its indexes and TOAST) and the appointments they hold. */
export async function warehouseSize(databaseUrl: string): Promise<WarehouseSize> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const sizes = await db.query<{ schema: string; bytes: string }>(
      `select n.nspname as schema, sum(pg_total_relation_size(c.oid)) as bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'm') and n.nspname in ('raw', 'marts')
        group by n.nspname`,
    );
    const of = (schema: string) => Number(sizes.rows.find((r) => r.schema === schema)?.bytes ?? 0) / MB;
    const count = await db.query<{ n: string }>('select count(*) as n from raw.appointments');
    const appointments = Number(count.rows[0]?.n ?? 0);
    const total = of('raw') + of('marts');
    return {
      raw_mb: Math.round(of('raw')),
      marts_mb: Math.round(of('marts')),
      total_mb: Math.round(total),
      appointments,
      mb_per_million_appointments: appointments > 0 ? Math.round(total / (appointments / 1e6)) : 0,
    };
  } finally {
    await db.end();
  }
}

/** VACUUM (ANALYZE) of a whole database: what autovacuum would do after a bulk build, done before measuring. */
async function settle(databaseUrl: string): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const started = Date.now();
    await db.query('vacuum (analyze)');
    return (Date.now() - started) / 1000;
  } finally {
    await db.end();
  }
}

interface Prepared {
  env: NodeJS.ProcessEnv;
  config: Config;
}

/** A fresh database, bucket and task queue named after `name`, loaded with `days` and built once. */
async function prepare(
  name: string,
  days: string[],
  scale: ScaleInput,
  log: (line: string) => void,
): Promise<Prepared> {
  const server = loadConfig().warehouse;
  if (server.kind !== 'postgres') throw new Error('the history benchmark needs the PostgreSQL warehouse');
  const env = {
    ...process.env,
    DATABASE_URL: await recreateDatabase(server.databaseUrl, `healthsynth_bench_${name}`),
    S3_BUCKET: `hs-bench-${name.replace(/_/g, '-')}`,
    TEMPORAL_TASK_QUEUE: `bench-${name}-${process.pid}`,
    WORKER_METRICS_PORT: '0',
  };
  const config = loadConfig(env);
  const store = ObjectStore.fromConfig(config.s3);
  await store.ensureBucket();
  await store.deletePrefix('');
  const started = Date.now();
  await loadDays(config, days, scale, {
    concurrency: 2,
    onDay: (day, done) => {
      if (done % 10 === 0 || done === days.length) {
        log(`  ${name}: ${done}/${days.length} days loaded (${day}), ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    },
  });
  return { env, config };
}

const databaseUrlOf = (p: Prepared): string =>
  p.config.warehouse.kind === 'postgres' ? p.config.warehouse.databaseUrl : '';

/** Runs dailyPipeline for `runDate` on a fresh worker of `prepared`'s warehouse and measures it. */
async function runDay(client: Client, prepared: Prepared, runDate: string, scale: ScaleInput): Promise<HistoryDayRun> {
  const worker = await spawnWorker(prepared.env);
  try {
    const e2e = await benchE2e(client, prepared.config, runDate, scale);
    return { wall_s: e2e.wall_s, dbt_s: e2e.steps.dbt.s, steps: e2e.steps };
  } finally {
    await stopWorker(worker);
  }
}

/**
 * Runs the history benchmark: `days` weekdays of history at `scale`, then the {@link MEASURED_DAYS} weekdays that end
 * on `runDate` (a weekday), each run on the history warehouse and on an empty one. `client` must reach the stack's
 * Temporal.
 */
export async function benchHistory(
  client: Client,
  runDate: string,
  days: number,
  scale: ScaleInput,
  log: (line: string) => void,
): Promise<HistoryResult> {
  const measuredDays = [...weekdaysBefore(runDate, MEASURED_DAYS - 1), runDate];
  const history = weekdaysBefore(measuredDays[0]!, days);
  const lastDay = history[history.length - 1] ?? weekdaysBefore(measuredDays[0]!, 1)[0]!;
  const build = async (p: Prepared) => {
    // One build of everything loaded (the incremental marts from raw), tests scoped to the last day's batch.
    await createDbtActivities({ config: p.config }).runDbt({ runDate: lastDay, scope: 'day', fullRefresh: true });
    await DBT_DAEMONS.stopAll();
  };
  /** The eve's model, as the last history day's run trained it; seconds. */
  const trainEve = async (p: Prepared): Promise<number> => {
    const store = ObjectStore.fromConfig(p.config.s3);
    const warehouse = createWarehouse(p.config, store);
    try {
      const started = Date.now();
      await createPredictActivities({ config: p.config, store, warehouse }).trainNoShowModel({ runDate: lastDay });
      return (Date.now() - started) / 1000;
    } finally {
      await warehouse.close();
    }
  };

  log(
    `history: an empty warehouse, then ${days} weekdays at ${scale} (${history[0]} … ${lastDay}), then ` +
      `${measuredDays.join(', ')} on both…`,
  );
  const empty = await prepare('history_empty', [], scale, log);
  await build(empty);
  await settle(databaseUrlOf(empty));
  await trainEve(empty);

  const started = Date.now();
  const full = await prepare('history', history, scale, log);
  const loadS = (Date.now() - started) / 1000;
  const buildStarted = Date.now();
  await build(full);
  const buildS = (Date.now() - buildStarted) / 1000;
  const settleS = await settle(databaseUrlOf(full));
  log(`  vacuumed and analyzed in ${settleS.toFixed(0)} s`);
  const eveTrainS = await trainEve(full);
  log(`  the eve's model trained in ${eveTrainS.toFixed(1)} s`);
  const size = await warehouseSize(databaseUrlOf(full));
  log(
    `  loaded in ${loadS.toFixed(0)} s, built in ${buildS.toFixed(0)} s: ${size.appointments.toLocaleString('en-US')} ` +
      `appointments, raw ${size.raw_mb} MB + marts ${size.marts_mb} MB = ${size.mb_per_million_appointments} MB per million`,
  );

  const measured: HistoryDay[] = [];
  const runs: { empty: HistoryDayRun; history: HistoryDayRun }[] = [];
  for (const day of measuredDays) {
    const onEmpty = await runDay(client, empty, day, scale);
    const onHistory = await runDay(client, full, day, scale);
    const ratio = { wall: onHistory.wall_s / onEmpty.wall_s, dbt: onHistory.dbt_s / onEmpty.dbt_s };
    measured.push({
      run_date: day,
      empty: { wall_s: onEmpty.wall_s, dbt_s: onEmpty.dbt_s },
      history: { wall_s: onHistory.wall_s, dbt_s: onHistory.dbt_s },
      ratio,
    });
    runs.push({ empty: onEmpty, history: onHistory });
    log(
      `  ${day}: empty wall ${onEmpty.wall_s.toFixed(1)} s, dbt ${onEmpty.dbt_s.toFixed(1)} s; after ${days} days ` +
        `wall ${onHistory.wall_s.toFixed(1)} s, dbt ${onHistory.dbt_s.toFixed(1)} s (${ratio.wall.toFixed(2)}x / ` +
        `${ratio.dbt.toFixed(2)}x)`,
    );
  }
  const ratio = { wall: median(measured.map((d) => d.ratio.wall)), dbt: median(measured.map((d) => d.ratio.dbt)) };
  const last = runs[runs.length - 1]!;
  log(`  median of ${measured.length} days: ${ratio.wall.toFixed(2)}x wall, ${ratio.dbt.toFixed(2)}x dbt`);
  return {
    days,
    scale: String(scale),
    run_date: runDate,
    load_s: loadS,
    build_s: buildS,
    settle_s: settleS,
    eve_train_s: eveTrainS,
    size,
    history: last.history,
    empty: last.empty,
    measured,
    ratio,
  };
}
