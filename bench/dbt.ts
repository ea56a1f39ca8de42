/**
 * dbt benchmark: the dbt step of a 1,000-row day (scale small), as the daily pipeline runs it (runDbt, scope `day`)
 * and as every run ran it before the day's build existed (scope `full`: every model, every test, unit tests).
 *
 * In a database of its own, three consecutive days are generated and loaded (real generator, object store, loader
 * and publish step). Day 1 is built in full first (the tables exist from then on, as in a running warehouse). Then:
 *  - `full_cold_s`: the full build of day 2 in a dbt process without dbt's partial-parse state (the old way, every
 *    run);
 *  - `day_cold_s`: the day's build of day 2 in a new dbt daemon without partial-parse state (the first run after a
 *    deploy: Python imports dbt, dbt parses the project, then builds);
 *  - `day_warm_s`: the day's build of day 3 in the same daemon (every other day: the manifest is reused);
 *  - `day_warm_process_s`: day 3's build again in a dbt process of its own with the saved partial-parse state (how
 *    every other day ran before the daemon, and what runDbt falls back to).
 * Times are runDbt's wall time (the daemon's or dbt process's start, parse, models and tests, and the activity
 * around it).
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createDbtActivities, type RunDbtInput } from '../src/activities/dbt.js';
import { DBT_DAEMONS } from '../src/activities/dbt-daemon.js';
import type { Config } from '../src/config.js';
import { addDays } from '../src/domain/dates.js';
import type { DbtSummary } from '../src/domain/types.js';
import { loadDays } from './load-days.js';

export interface DbtBenchRun {
  wall_s: number;
  dbt_s: number;
  nodes: number;
}

export interface DbtBench {
  full_cold_s: DbtBenchRun;
  day_cold_s: DbtBenchRun;
  day_warm_s: DbtBenchRun;
  day_warm_process_s: DbtBenchRun;
  threads: number;
}

/** Runs the dbt benchmark in the warehouse `config` points at (give it a fresh database) for days from `firstDay`. */
export async function benchDbt(config: Config, firstDay: string): Promise<DbtBench> {
  const days = [0, 1, 2].map((i) => addDays(firstDay, i));
  await loadDays(config, days, 'small');

  const { runDbt } = createDbtActivities({ config });
  const inProcess = createDbtActivities({ config: { ...config, dbt: { ...config.dbt, daemon: false } } });
  // Every saved parse state of this benchmark's warehouse (one per --vars), so the next run parses in full.
  const forgetParse = async () => {
    for (const dir of await readdir(path.join(config.dataDir, 'dbt')).catch(() => [] as string[])) {
      if (dir.startsWith('parse-')) await rm(path.join(config.dataDir, 'dbt', dir), { recursive: true, force: true });
    }
  };
  const timed = async (input: RunDbtInput, run = runDbt): Promise<DbtBenchRun> => {
    const started = Date.now();
    const summary: DbtSummary = await run(input);
    const nodes = summary.modelsBuilt + summary.testsPassed + summary.unitTestsPassed;
    return { wall_s: (Date.now() - started) / 1000, dbt_s: summary.elapsedSeconds, nodes };
  };
  await inProcess.runDbt({ runDate: days[0]!, scope: 'full' });
  await forgetParse();
  const full = await timed({ runDate: days[1]!, scope: 'full' }, inProcess.runDbt);
  await forgetParse();
  await DBT_DAEMONS.stopAll(); // a new worker: no daemon yet
  const cold = await timed({ runDate: days[1]!, scope: 'day' });
  const warm = await timed({ runDate: days[2]!, scope: 'day' });
  const warmProcess = await timed({ runDate: days[2]!, scope: 'day' }, inProcess.runDbt);
  await DBT_DAEMONS.stopAll();
  return {
    full_cold_s: full,
    day_cold_s: cold,
    day_warm_s: warm,
    day_warm_process_s: warmProcess,
    threads: config.dbt.threads,
  };
}
