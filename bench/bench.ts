/**
 * `npm run bench [-- --json] [-- --skip generation,load,dbt,e2e] [-- --with workers,history,model,reminders]
 *  [-- --history-days N] [-- --model-days N] [-- --model-scale S] [-- --reminders N] [-- --scales medium,large]`
 *
 * `reminders` (`--with reminders [--reminders N]`, default 1,000, about 45 s of sending): the patient loop's sustained sends/s against the
 * 25/s throttle and its callback-to-answer p50/p95, through the real reminder workflows, emulator and bot
 * (bench/reminders.ts).
 *
 * `model` (`--with model [--model-days N] [--model-scale S]`, default 30 weekdays at medium): the no-show model's
 * AUC against the Bayes AUC and the attainable AUC, calibration, lift, ablation, and the predict step's speed
 * (bench/model.ts, which also runs on its own); opt-in, since it loads 3M appointments and builds the marts.
 *
 * `history` (`--with history [--history-days N]`, default 120): N weekdays of history at medium loaded quickly, then
 * three more days' dailyPipeline, each timed against the same day on an empty warehouse, and the median ratio
 * (bench/history.ts); opt-in, since it loads 12M appointments and takes about 30 minutes on this machine.
 *
 * `workers` (two workers on one task queue, one SIGKILLed mid-generation) runs only with `--with workers` (two
 * large runs take minutes). It runs at the first of `--scales` when given, else at medium, with SHARD_ROWS 20,000
 * unless set, so there are many shards to spread.
 *
 * Every number is a ratio against a baseline measured in the same run (naive faker generator,
 * psql \copy) or a wall time on this machine; nothing here asserts a target. The local stack is
 * brought up if needed; the benchmark writes only to its own database and key prefixes.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, parseScale } from '../src/config.js';
import type { EntityName } from '../src/domain/entities.js';
import { stackUp } from '../src/stack/index.js';
import { recreateDatabase } from '../src/stack/postgres.js';
import { connectClient } from '../src/temporal.js';
import { benchDbt } from './dbt.js';
import { benchE2e, type E2eResult } from './e2e.js';
import { benchGeneration } from './generation.js';
import { benchHistory, weekdayFrom } from './history.js';
import { benchLoad } from './load.js';
import { benchModel } from './model.js';
import { benchReminders } from './reminders.js';
import { peakRssMb, spawnWorker, stopWorker } from './spawn-worker.js';
import { benchWorkers } from './workers.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean' },
      skip: { type: 'string', default: '' },
      with: { type: 'string', default: '' },
      scales: { type: 'string' },
      'history-days': { type: 'string', default: '120' },
      'model-days': { type: 'string', default: '30' },
      'model-scale': { type: 'string', default: 'medium' },
      reminders: { type: 'string', default: '1000' },
    },
  });
  const skip = new Set(values.skip.split(',').filter(Boolean));
  // Sections that run only when asked for.
  for (const optIn of ['workers', 'history', 'model', 'reminders'])
    if (!values.with.split(',').includes(optIn)) skip.add(optIn);
  const scales = (values.scales ?? 'medium,large').split(',').filter(Boolean);
  const log = (line: string): void => {
    if (!values.json) console.log(line);
    else console.error(line);
  };
  const result: Record<string, unknown> = {};

  if (!skip.has('generation')) {
    log('generation: real generator vs a faker-call-per-field baseline (one core, in process)…');
    const generation = await benchGeneration();
    result.generation = generation;
    log('entity          rows/s   naive rows/s   ratio');
    for (const [entity, g] of Object.entries(generation)) {
      log(
        `${entity.padEnd(13)} ${fmt(g.rows_per_s)}  ${fmt(g.naive_faker_rows_per_s)}  ${(g.rows_per_s / g.naive_faker_rows_per_s).toFixed(1)}x`,
      );
    }
  }

  const stack = await stackUp({ adoptForeign: true, log: () => undefined });
  for (const [k, v] of Object.entries(stack.env)) process.env[k] ??= v;

  if (!skip.has('load')) {
    log('load: loadBatch vs psql \\copy of the same CSV into an identical table…');
    const load = await benchLoad();
    result.load = Object.fromEntries(
      Object.entries(load).map(([e, r]) => [
        e,
        { rows_per_s: r.rows_per_s, psql_copy_rows_per_s: r.psql_copy_rows_per_s },
      ]),
    );
    log('entity          rows/s  psql rows/s   ratio');
    for (const [entity, r] of Object.entries(load)) {
      log(
        `${entity.padEnd(13)} ${fmt(r.rows_per_s)}  ${fmt(r.psql_copy_rows_per_s)}  ${(r.rows_per_s / r.psql_copy_rows_per_s).toFixed(2)}x`,
      );
    }
  }

  if (!skip.has('dbt')) {
    log("dbt: the dbt step of a 1,000-row day, the day's build (warm and first cold run) vs the full build…");
    const server = loadConfig().warehouse;
    if (server.kind !== 'postgres') throw new Error('the dbt benchmark needs the PostgreSQL warehouse');
    const env = {
      ...process.env,
      DATABASE_URL: await recreateDatabase(server.databaseUrl, 'healthsynth_bench_dbt'),
      // Its own data folder: the benchmark deletes dbt's saved parse state there to time cold runs.
      HEALTHSYNTH_DATA_DIR: path.join(os.tmpdir(), `hs-bench-dbt-${process.pid}`),
    };
    // Days in 2000-2009 like the e2e runs below, one decade day per run so object keys differ between runs.
    const first = new Date((10_957 + (Math.floor(Date.now() / 86_400_000) % 3_640)) * 86_400_000);
    const dbt = await benchDbt(loadConfig(env), first.toISOString().slice(0, 10));
    result.dbt = dbt;
    log(`run                 wall s   dbt s   nodes   (threads ${dbt.threads})`);
    for (const [name, r] of Object.entries(dbt).filter(([k]) => k !== 'threads')) {
      const run = r as { wall_s: number; dbt_s: number; nodes: number };
      log(
        `${name.padEnd(18)} ${run.wall_s.toFixed(1).padStart(7)} ${run.dbt_s.toFixed(1).padStart(7)} ${String(run.nodes).padStart(7)}`,
      );
    }
  }

  if (!skip.has('e2e')) {
    const server = loadConfig().warehouse;
    if (server.kind !== 'postgres') throw new Error('the e2e benchmark needs the PostgreSQL warehouse');
    const env = {
      ...process.env,
      DATABASE_URL: await recreateDatabase(server.databaseUrl, 'healthsynth_bench'),
      TEMPORAL_TASK_QUEUE: `bench-${process.pid}`,
      WORKER_METRICS_PORT: '0',
    };
    const config = loadConfig(env);
    const client = await connectClient(config);
    const e2e: Record<string, E2eResult> = {};
    const rss: Record<string, number> = {};
    let i = 0;
    for (const name of scales) {
      const scale = parseScale(name);
      const runDate = dayOfRun(i++);
      const worker = await spawnWorker(env);
      try {
        log(`e2e: dailyPipeline at ${name} for ${runDate}…`);
        e2e[name] = await benchE2e(client, config, runDate, scale);
        rss[name] = await peakRssMb(worker.pid as number);
        log(
          `  wall ${e2e[name].wall_s.toFixed(1)} s, outside activities ${e2e[name].overhead_s.toFixed(2)} s, worker peak RSS ${rss[name]} MB`,
        );
        log('  step            busy s   share of wall');
        for (const [step, { s, share }] of Object.entries(e2e[name].steps)) {
          log(`  ${step.padEnd(13)} ${s.toFixed(2).padStart(8)}   ${(share * 100).toFixed(1).padStart(5)} %`);
        }
        const a = e2e[name].actions;
        log(
          `  Temporal Cloud actions: ${a.total} (${a.heartbeats_estimated} of them estimated heartbeats; ` +
            `${a.activities} activity attempts, ${a.child_workflows / 2} child workflows, ${a.signals} signals, ${a.timers} timers)`,
        );
      } finally {
        await stopWorker(worker);
      }
    }
    await client.connection.close();
    result.e2e = Object.fromEntries(
      Object.entries(e2e).map(([k, v]) => [
        k,
        { wall_s: v.wall_s, overhead_s: v.overhead_s, steps: v.steps, actions: v.actions },
      ]),
    );
    result.peak_rss_mb = rss;
  }

  if (!skip.has('workers')) {
    const server = loadConfig().warehouse;
    if (server.kind !== 'postgres') throw new Error('the workers benchmark needs the PostgreSQL warehouse');
    const name = values.scales ? (scales[0] ?? 'medium') : 'medium';
    const env = {
      ...process.env,
      DATABASE_URL: await recreateDatabase(server.databaseUrl, 'healthsynth_bench_workers'),
      TEMPORAL_TASK_QUEUE: `bench-workers-${process.pid}`,
      WORKER_METRICS_PORT: '0',
      // Many shards to spread (50 per appointment entity at large) rather than the default's 4.
      SHARD_ROWS: process.env.SHARD_ROWS ?? '20000',
    };
    const config = loadConfig(env);
    const client = await connectClient(config);
    try {
      const runDates: [string, string] = [dayOfRun(10), dayOfRun(11)];
      log(`workers: two worker processes on one task queue, dailyPipeline at ${name} for ${runDates.join(' and ')}…`);
      const workers = await benchWorkers(client, config, env, runDates, parseScale(name));
      result.workers = { scale: name, ...workers };
      const { split, kill } = workers;
      log(`  both up: wall ${split.wall_s.toFixed(1)} s`);
      log('  worker   generateShard   loadBatch   (both up)   generateShard   loadBatch   (b killed)');
      for (const w of ['a', 'b', 'other'] as const) {
        const [u, k] = [split.activities[w], kill.activities[w]];
        if (w === 'other' && u.generateShard + u.loadBatch + k.generateShard + k.loadBatch === 0) continue;
        log(
          `  ${w.padEnd(6)} ${String(u.generateShard).padStart(15)} ${String(u.loadBatch).padStart(11)}               ${String(k.generateShard).padStart(15)} ${String(k.loadBatch).padStart(11)}`,
        );
      }
      log(
        `  b SIGKILLed ${kill.killed_after_s.toFixed(1)} s after the start, while generating: ${kill.completed ? 'completed' : 'FAILED'} in ${kill.wall_s.toFixed(1)} s, ${kill.retried} activities retried, counts ${kill.exact ? 'exact' : 'NOT exact'}`,
      );
      log('  entity        generated      loaded   warehouse');
      for (const [entity, c] of Object.entries(kill.counts)) {
        log(`  ${entity.padEnd(13)} ${fmt(c.generated)} ${fmt(c.loaded)} ${fmt(c.warehouse)}`);
      }
    } finally {
      await client.connection.close();
    }
  }

  if (!skip.has('history')) {
    const days = Number(values['history-days']);
    if (!Number.isInteger(days) || days < 1)
      throw new Error('--history-days must be a whole number of days, 1 or more');
    const client = await connectClient(loadConfig());
    try {
      // 600 days past the other sections' dates, and at least `days` weekdays after 2000-01-01.
      result.history = await benchHistory(client, weekdayFrom(dayOfRun(600)), days, 'medium', log);
    } finally {
      await client.connection.close();
    }
  }

  if (!skip.has('reminders')) {
    const count = Number(values.reminders);
    if (!Number.isInteger(count) || count < 2) throw new Error('--reminders must be a whole number, 2 or more');
    result.reminders = await benchReminders(count, Math.min(50, count), log);
  }

  if (!skip.has('model')) {
    const days = Number(values['model-days']);
    log(`model: ${days} weekdays at ${values['model-scale']}…`);
    const model = await benchModel({ days, scale: values['model-scale'], from: '2026-01-05', skipLoad: false }, log);
    result.model = model;
    for (const [k, v] of Object.entries(model)) log(`  ${k.padEnd(28)} ${JSON.stringify(v)}`);
  }

  if (values.json) console.log(JSON.stringify(result));
}

/**
 * The run date of a bench pipeline run: distinct per `i`, so no load is skipped by the ledger; past days (run
 * dates after today are refused) in 2000-2009, where no test runs a workflow (10_957 is 2000-01-01 in days since 1970).
 */
function dayOfRun(i: number): string {
  const base = 10_957 + (Math.floor(Date.now() / 86_400_000) % 3_640);
  return new Date((base + i) * 86_400_000).toISOString().slice(0, 10);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

export type { EntityName };
