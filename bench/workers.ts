/**
 * Two workers on one task queue: how a pipeline's shards and loads spread over them (from the ActivityTaskStarted
 * events' worker identity), then a run in which one of them is killed with SIGKILL while it generates a shard,
 * which the other must finish with every entity's loaded count equal to its generated count.
 */
import type { ChildProcess } from 'node:child_process';
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
import { collectRuns, measureRun, type StepRun } from './e2e.js';
import { spawnWorker, stopWorker } from './spawn-worker.js';

const PendingState = proto.temporal.api.enums.v1.PendingActivityState;

/** Activities per worker ('a', 'b') and type; the identity the SDK gives a worker by default is `<pid>@<host>`. */
type Split = Record<'a' | 'b' | 'other', { generateShard: number; loadBatch: number }>;

function split(runs: StepRun[], a: ChildProcess, b: ChildProcess): Split {
  const out: Split = {
    a: { generateShard: 0, loadBatch: 0 },
    b: { generateShard: 0, loadBatch: 0 },
    other: { generateShard: 0, loadBatch: 0 },
  };
  for (const r of runs) {
    if (r.type !== 'generateShard' && r.type !== 'loadBatch') continue;
    const who = r.identity.startsWith(`${a.pid}@`) ? 'a' : r.identity.startsWith(`${b.pid}@`) ? 'b' : 'other';
    out[who][r.type] += 1;
  }
  return out;
}

/** Resolves once worker `proc` is running a generateShard attempt of the run for `runDate`. */
async function generatingOn(client: Client, runDate: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const entity of ENTITY_NAMES) {
      const desc = await client.workflow
        .getHandle(workflowIds.ingest(entity, runDate))
        .describe()
        .catch(() => undefined);
      const running = desc?.raw.pendingActivities?.some(
        (p) =>
          p.activityType?.name === 'generateShard' &&
          p.state === PendingState.PENDING_ACTIVITY_STATE_STARTED &&
          (p.lastWorkerIdentity ?? '').startsWith(`${proc.pid}@`),
      );
      if (running) return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`worker ${proc.pid} ran no generateShard of ${runDate} within ${timeoutMs / 1000} s`);
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
    const firstSplit = split((await collectRuns(client, first)).runs, a, b);

    const started = Date.now();
    const second = await startPipeline(client, config, { runDate: runDates[1], scale });
    await generatingOn(client, runDates[1], b, 120_000);
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
        activities: split(runs, a, b),
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
