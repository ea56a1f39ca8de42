/**
 * `npm run bench [-- --json] [-- --skip e2e,load,dbt] [-- --scales medium,large]`
 *
 * Every number is a ratio against a baseline measured in the same run (naive faker generator,
 * psql \copy) or a wall time on this machine; nothing here asserts a target. The local stack is
 * brought up if needed; the benchmark writes only to its own database and key prefixes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, parseScale } from '../src/config.js';
import type { EntityName } from '../src/domain/entities.js';
import { stackUp } from '../src/stack/index.js';
import { recreateDatabase } from '../src/stack/postgres.js';
import { connectClient } from '../src/temporal.js';
import { workerProcessEnv } from '../src/worker.js';
import { benchDbt } from './dbt.js';
import { benchE2e, type E2eResult } from './e2e.js';
import { benchGeneration } from './generation.js';
import { benchLoad } from './load.js';

/** Peak resident set size of a process, from /proc (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/** A worker in its own process, so its peak memory is the worker's alone; launched with the settings it is deployed with. */
async function spawnWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    env: workerProcessEnv(env),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('polling task queue')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`bench worker exited with ${code}: ${out}`)));
  });
  return proc;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean' },
      skip: { type: 'string', default: '' },
      scales: { type: 'string', default: 'medium,large' },
    },
  });
  const skip = new Set(values.skip.split(',').filter(Boolean));
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
    // Distinct dates per run, so no load is skipped by the ledger: past days (run dates after today are refused)
    // in 2000-2009, where no test runs a workflow (10_957 is 2000-01-01 in days since 1970).
    const base = 10_957 + (Math.floor(Date.now() / 86_400_000) % 3_640);
    let i = 0;
    for (const name of values.scales.split(',')) {
      const scale = parseScale(name);
      const runDate = new Date((base + i++) * 86_400_000).toISOString().slice(0, 10);
      const worker = await spawnWorker(env);
      try {
        log(`e2e: dailyPipeline at ${name} for ${runDate}…`);
        e2e[name] = await benchE2e(client, config, runDate, scale);
        rss[name] = await peakRssMb(worker.pid as number);
        log(
          `  wall ${e2e[name].wall_s.toFixed(1)} s, outside activities ${e2e[name].overhead_s.toFixed(2)} s, worker peak RSS ${rss[name]} MB`,
        );
      } finally {
        worker.kill('SIGTERM');
        if (worker.exitCode === null) await once(worker, 'exit');
      }
    }
    await client.connection.close();
    result.e2e = Object.fromEntries(
      Object.entries(e2e).map(([k, v]) => [k, { wall_s: v.wall_s, overhead_s: v.overhead_s }]),
    );
    result.peak_rss_mb = rss;
  }

  if (values.json) console.log(JSON.stringify(result));
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

export type { EntityName };
