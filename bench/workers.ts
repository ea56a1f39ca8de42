/**
 * Two workers on one task queue: how a pipeline's shards and loads spread over them (from the ActivityTaskStarted
 * events' worker identity), then a run in which one of them is killed with SIGKILL while it generates a shard,
 * which the other must finish with every entity's loaded count equal to its generated count.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import pg from 'pg';
import { rawTable } from '../src/activities/warehouse/ddl.js';
import type { Config } from '../src/config.js';
import { failureText } from '../src/cli/format.js';
import { ENTITY_NAMES, type EntityName } from '../src/domain/entities.js';
import type { ScaleInput } from '../src/domain/types.js';
import { awaitPipeline, startPipeline } from '../src/run-pipeline.js';
import { workflowIds } from '../src/temporal.js';
import { activityRuns, collectRuns, measureRun, type ActivityRun } from './e2e.js';
import { spawnWorker, stopWorker } from './spawn-worker.js';

const PendingState = proto.temporal.api.enums.v1.PendingActivityState;

/** Activities per worker ('a', 'b') and type; the identity the SDK gives a worker by default is `<pid>@<host>`. */
export type Split = Record<'a' | 'b' | 'other', { generateShard: number; loadBatch: number }>;

/** How many generateShard and loadBatch executions of `runs` the worker with pid `a`, `b` or another one ran. */
export function split(runs: readonly ActivityRun[], a: number, b: number): Split {
  const out: Split = {
    a: { generateShard: 0, loadBatch: 0 },
    b: { generateShard: 0, loadBatch: 0 },
    other: { generateShard: 0, loadBatch: 0 },
  };
  for (const r of runs) {
    if (r.type !== 'generateShard' && r.type !== 'loadBatch') continue;
    const who = r.identity.startsWith(`${a}@`) ? 'a' : r.identity.startsWith(`${b}@`) ? 'b' : 'other';
    out[who][r.type] += 1;
  }
  return out;
}

/**
 * Resolves once the worker with pid `pid` is running a generateShard attempt of the run for `runDate` and has
 * completed at least `completedFirst` of them (so a kill then cuts its work short in the middle of the run, not
 * at its first shard); resolves with how many it had completed.
 */
export async function generatingOn(
  client: Client,
  runDate: string,
  pid: number,
  timeoutMs: number,
  completedFirst = 0,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const mine = (identity: string | null | undefined): boolean => (identity ?? '').startsWith(`${pid}@`);
  let completed = 0;
  while (Date.now() < deadline) {
    let running = false;
    completed = 0;
    for (const entity of ENTITY_NAMES) {
      const handle = client.workflow.getHandle(workflowIds.ingest(entity, runDate));
      const desc = await handle.describe().catch(() => undefined);
      running ||= (desc?.raw.pendingActivities ?? []).some(
        (p) =>
          p.activityType?.name === 'generateShard' &&
          p.state === PendingState.PENDING_ACTIVITY_STATE_STARTED &&
          mine(p.lastWorkerIdentity),
      );
      if (desc && completed < completedFirst) {
        const events = (await handle.fetchHistory()).events ?? [];
        completed += activityRuns(events).filter((r) => r.type === 'generateShard' && mine(r.identity)).length;
      }
    }
    if (running && completed >= completedFirst) return completed;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(
    `worker ${pid} was not generating a shard of ${runDate} after ${completedFirst} done within ${timeoutMs / 1000} s ` +
      `(${completed} done)`,
  );
}

export interface WorkersResult {
  /** The first run, both workers up: its wall time and the activities each ran. */
  split: { wall_s: number; activities: Split };
  /** The second run: worker b SIGKILLed while generating; a finished it. */
  kill: {
    completed: boolean;
    wall_s: number;
    killed_after_s: number;
    activities: Split;
    /** Activities whose last attempt was not their first (the killed worker's attempts, retried on a). */
    retried: number;
    counts: Record<EntityName, { generated: number; loaded: number; warehouse: number }>;
    exact: boolean;
  };
}

/**
 * Runs the two-worker benchmark on `config`'s task queue and warehouse (which it expects to be its own) for two
 * days, `runDates[0]` with both workers up and `runDates[1]` with one killed. `env` is the workers' environment.
 */
export async function benchWorkers(
  client: Client,
  config: Config,
  env: NodeJS.ProcessEnv,
  runDates: [string, string],
  scale: ScaleInput,
): Promise<WorkersResult> {
  const a = await spawnWorker(env);
  const b = await spawnWorker(env).catch(async (err: unknown) => {
    await stopWorker(a);
    throw err;
  });
  try {
    const first = await startPipeline(client, config, { runDate: runDates[0], scale });
    const firstOutcome = await awaitPipeline(config, first);
    if (firstOutcome.error) throw new Error(`workers run ${runDates[0]} failed: ${failureText(firstOutcome.error)}`);
    const firstRun = await measureRun(client, first);
    const firstSplit = split((await collectRuns(client, first)).runs, a.pid as number, b.pid as number);

    const started = Date.now();
    const second = await startPipeline(client, config, { runDate: runDates[1], scale });
    // Killed once it has done a few of the run's shards, while it generates another.
    await generatingOn(client, runDates[1], b.pid as number, 120_000, 3);
    b.kill('SIGKILL');
    const killedAfter = (Date.now() - started) / 1000;
    const outcome = await awaitPipeline(config, second);
    const secondRun = await measureRun(client, second);
    const { runs } = await collectRuns(client, second);
    const counts = {} as WorkersResult['kill']['counts'];
    const db = new pg.Client({
      connectionString: config.warehouse.kind === 'postgres' ? config.warehouse.databaseUrl : '',
    });
    await db.connect();
    try {
      for (const r of outcome.summary?.ingest ?? []) {
        const q = await db.query<{ n: string }>(
          `select count(*) as n from ${rawTable(r.entity)} where batch_date = $1`,
          [runDates[1]],
        );
        counts[r.entity] = { generated: r.rowsGenerated, loaded: r.rowsLoaded, warehouse: Number(q.rows[0]?.n) };
      }
    } finally {
      await db.end();
    }
    return {
      split: { wall_s: firstRun.wall_s, activities: firstSplit },
      kill: {
        completed: outcome.error === undefined,
        wall_s: secondRun.wall_s,
        killed_after_s: killedAfter,
        activities: split(runs, a.pid as number, b.pid as number),
        retried: runs.filter((r) => r.attempt > 1).length,
        counts,
        exact:
          Object.keys(counts).length === ENTITY_NAMES.length &&
          Object.values(counts).every((c) => c.loaded === c.generated && c.warehouse === c.generated),
      },
    };
  } finally {
    if (b.exitCode === null && b.signalCode === null) b.kill('SIGKILL');
    await stopWorker(a);
  }
}
