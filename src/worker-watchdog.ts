/**
 * The one place that makes sure a worker serves the runs a command waits for (`run`, `backfill`, `notice`,
 * `schedules trigger`, `follow`, the demo). A command either gets a worker (one polls the task queue, or it starts
 * one in its own process) or fails within seconds saying so; while it waits, the watchdog notices when the last
 * worker goes away and says so on stderr (and in auto mode starts one).
 *
 * Why not just count pollers: the server keeps a poller listed for minutes after its worker died, with the time of
 * its last poll. A live worker polls again at least once a minute (the server's long poll lasts 60 s; measured:
 * the age of a live idle worker's lastAccessTime never passed 58 s), so a poller older than
 * {@link LIVE_POLLER_WINDOW_MS} is dead. A worker that died less than that ago still looks alive; two more signals
 * catch it sooner: the run's workflow task is not picked up within {@link PICKUP_GRACE_MS}, or no worker answers a
 * query to the run within {@link QUERY_PROBE_TIMEOUT_MS} (queries are answered by a worker, never by the server).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isGrpcDeadlineError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Config } from './config.js';
import { installQuietRuntime, startWorker, type RunningWorker } from './worker.js';

/**
 * auto: use a worker that polls, else start one in this process; always: start one in this process; never: only
 * use a worker that polls, and fail fast when there is none.
 */
export type WorkerMode = 'auto' | 'always' | 'never';

/** The allowed --worker values, for option parsers. */
export const WORKER_MODES: readonly WorkerMode[] = ['auto', 'always', 'never'];

/** A poller whose last poll is older than this belongs to a worker that has stopped (see the file comment). */
export const LIVE_POLLER_WINDOW_MS = 75_000;
/** How long a run's pending workflow task may wait before we conclude that no worker is really polling. */
export const PICKUP_GRACE_MS = 10_000;
/**
 * With `--worker never`, how long to look again before concluding nobody polls: a worker started a moment ago
 * (`npm run worker &` just before the command) prints that it polls before the server lists its first poll.
 */
export const NEW_POLLER_GRACE_MS = 3_000;
/** How long a worker may take to answer the probe query. */
export const QUERY_PROBE_TIMEOUT_MS = 5_000;
/** How often a waiting command checks that a worker still serves its runs. */
export const WATCH_INTERVAL_MS = 5_000;

/** What to tell a person who has no worker. */
export const START_A_WORKER = 'Start one with `npm run worker` (or `npx healthsynth worker`) in another terminal';

/** No worker serves the task queue and the command was told not to start one (`--worker never`). */
export class NoWorkerError extends Error {
  override name = 'NoWorkerError';
  constructor(
    readonly taskQueue: string,
    readonly reason: string,
  ) {
    super(
      `no worker polls task queue "${taskQueue}" (${reason}). ${START_A_WORKER}, ` +
        'or leave out `--worker never` so this command starts one itself.',
    );
  }
}

/** Pollers of a task queue's workflow tasks: how many the server lists, how many polled recently. */
export interface PollerState {
  listed: number;
  live: number;
  /** Milliseconds since the most recent poll of any listed poller (undefined when none is listed). */
  lastPollAgoMs?: number;
}

/** Reads the workflow-task pollers of `taskQueue` and sorts them into live and stale ({@link LIVE_POLLER_WINDOW_MS}). */
export async function pollerState(
  client: Client,
  namespace: string,
  taskQueue: string,
  now = Date.now(),
): Promise<PollerState> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW: every worker of ours polls workflow and activity tasks alike
  });
  const ages = (res.pollers ?? []).map((p) => {
    const t = p.lastAccessTime;
    return t ? now - (Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)) : Infinity;
  });
  const lastPollAgoMs = ages.length > 0 ? Math.min(...ages) : undefined;
  return { listed: ages.length, live: ages.filter((a) => a < LIVE_POLLER_WINDOW_MS).length, lastPollAgoMs };
}

function describePollers(p: PollerState): string {
  if (p.listed === 0) return 'the server lists no poller';
  return `its last poller polled ${Math.round((p.lastPollAgoMs ?? 0) / 1000)} s ago, so that worker has stopped`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a {@link WorkerWatchdog} watches, for whom, and how it starts a worker when it must. */
export interface WatchdogOptions {
  client: Client;
  config: Config;
  mode: WorkerMode;
  /** The task queue the runs use; default TEMPORAL_TASK_QUEUE (a schedule's action may name another). */
  taskQueue?: string;
  /** Where notices for people go (default stderr). */
  warn?: (line: string) => void;
  /** Check interval while waiting; default {@link WATCH_INTERVAL_MS}. */
  intervalMs?: number;
}

/**
 * Watches the runs one command waits for. Call {@link beforeStart} before starting runs, {@link attach} with each
 * run's handle, and {@link close} at the end (or use {@link withWorkerWatchdog}).
 */
export class WorkerWatchdog {
  readonly taskQueue: string;
  private own?: RunningWorker;
  private readonly runs = new Map<string, WorkflowHandle>();
  private loop?: Promise<void>;
  private closed = false;
  private readonly stop = new AbortController();
  private lost = false;
  private probeMisses = 0;
  private readonly warn: (line: string) => void;

  constructor(private readonly opts: WatchdogOptions) {
    this.taskQueue = opts.taskQueue ?? opts.config.temporal.taskQueue;
    this.warn = opts.warn ?? ((line) => console.error(line));
  }

  /** The worker this command started in its own process, if any. */
  get worker(): RunningWorker | undefined {
    return this.own;
  }

  /**
   * Before a command starts runs: `always` starts a worker here; `auto` starts one unless a live worker polls;
   * `never` throws {@link NoWorkerError} at once when none does, so nothing is started that no worker would run.
   */
  async beforeStart(): Promise<void> {
    if (this.own) return;
    if (this.opts.mode === 'always') return this.startOwn();
    const pollers = await this.pollers();
    if (pollers.live > 0) return;
    if (this.opts.mode === 'auto') return this.startOwn();
    throw new NoWorkerError(this.taskQueue, describePollers(pollers));
  }

  /**
   * A run the command waits for (started by it or already running). Checks within {@link PICKUP_GRACE_MS} that a
   * worker serves it: when none does, `auto` starts one here and `never` throws {@link NoWorkerError}. Then keeps
   * watching it until {@link close}. A run that is no longer running needs nothing.
   */
  async attach(handle: WorkflowHandle): Promise<void> {
    if (this.closed) return;
    this.runs.set(handle.workflowId, handle);
    if (!this.own && this.opts.mode === 'always') await this.startOwn();
    if (!this.own) {
      const problem = (await this.problem(handle, { waitForPickup: true, probe: false }))?.reason;
      if (problem) {
        if (this.opts.mode === 'never') throw new NoWorkerError(this.taskQueue, problem);
        this.warn(`healthsynth: no worker serves task queue "${this.taskQueue}" (${problem}); starting one here`);
        await this.startOwn();
      }
    }
    this.loop ??= this.watch();
  }

  /** Stops watching and stops the worker this command started (after its in-flight tasks, see startWorker). */
  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    await this.loop;
    await this.own?.shutdown();
  }

  /** The queue's pollers; in `never` mode, when none is live, looks again for up to {@link NEW_POLLER_GRACE_MS}. */
  private async pollers(): Promise<PollerState> {
    const read = () => pollerState(this.opts.client, this.opts.config.temporal.namespace, this.taskQueue);
    let state = await read();
    const deadline = Date.now() + (this.opts.mode === 'never' ? NEW_POLLER_GRACE_MS : 0);
    while (state.live === 0 && Date.now() < deadline && !this.closed) {
      await sleep(500);
      state = await read();
    }
    return state;
  }

  private async startOwn(): Promise<void> {
    installQuietRuntime();
    const own = await startWorker(this.opts.config, { taskQueue: this.taskQueue });
    this.own = own;
    own.done.catch((err: unknown) => {
      if (this.own !== own) return;
      this.own = undefined;
      this.warn(`healthsynth: the worker in this process stopped: ${(err as Error).message}`);
    });
  }

  /**
   * Why no worker serves `handle`'s run, or undefined when one does (or the run is closed): no live poller; its
   * pending workflow task waited {@link PICKUP_GRACE_MS} (waiting for it when `waitForPickup`); no answer to a
   * query (only when `probe`; `unanswered` then, since one miss can be a busy worker).
   */
  private async problem(
    handle: WorkflowHandle,
    { waitForPickup, probe }: { waitForPickup: boolean; probe: boolean },
  ): Promise<{ reason: string; unanswered?: boolean } | undefined> {
    const pollers = await this.pollers();
    if (pollers.live === 0) return { reason: describePollers(pollers) };
    for (;;) {
      const desc = await handle.describe();
      if (desc.status.name !== 'RUNNING') return undefined;
      const task = desc.raw.pendingWorkflowTask;
      if (!task || task.startedTime) break; // no workflow task waiting, or a worker has it
      const t = task.scheduledTime;
      const waited = t ? Date.now() - (Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)) : 0;
      if (waited >= PICKUP_GRACE_MS) {
        return {
          reason: `${handle.workflowId} has waited ${Math.round(waited / 1000)} s for a worker to pick up its task`,
        };
      }
      if (!waitForPickup || this.closed) break;
      await sleep(250);
    }
    if (probe) {
      try {
        // Built into every TypeScript workflow; only a worker can answer it.
        await this.opts.client.withDeadline(Date.now() + QUERY_PROBE_TIMEOUT_MS, () =>
          handle.query('__temporal_workflow_metadata'),
        );
      } catch (err) {
        if (isGrpcDeadlineError(err)) {
          const reason = `no worker answered a query to ${handle.workflowId} within ${QUERY_PROBE_TIMEOUT_MS / 1000} s`;
          return { reason, unanswered: true };
        }
      }
    }
    return undefined;
  }

  private async watch(): Promise<void> {
    const interval = this.opts.intervalMs ?? WATCH_INTERVAL_MS;
    while (!this.closed) {
      await delay(interval, undefined, { signal: this.stop.signal }).catch(() => undefined);
      if (this.closed) break;
      try {
        await this.check();
      } catch {
        // Temporal briefly unreachable, a run deleted…: the command's own wait reports what matters.
      }
    }
  }

  private async check(): Promise<void> {
    if (this.own) return;
    let running: WorkflowHandle | undefined;
    for (const [id, handle] of this.runs) {
      if ((await handle.describe()).status.name === 'RUNNING') {
        running ??= handle;
      } else {
        this.runs.delete(id);
      }
    }
    if (!running) return;
    const found = await this.problem(running, { waitForPickup: false, probe: true });
    if (!found) {
      this.probeMisses = 0;
      if (this.lost) this.warn(`healthsynth: a worker polls task queue "${this.taskQueue}" again`);
      this.lost = false;
      return;
    }
    // One unanswered query can be a busy worker: it takes two in a row.
    this.probeMisses = found.unanswered ? this.probeMisses + 1 : 0;
    if (found.unanswered && this.probeMisses < 2) return;
    const problem = found.reason;
    if (this.lost) return;
    this.lost = true;
    const waiting = [...this.runs.keys()].join(', ');
    if (this.opts.mode === 'auto') {
      this.warn(
        `healthsynth: no worker polls task queue "${this.taskQueue}" any more (${problem}); ` +
          `starting one in this process for ${waiting}`,
      );
      try {
        await this.startOwn();
      } catch (err) {
        this.warn(`healthsynth: could not start a worker here (${(err as Error).message}); trying again shortly`);
      }
      this.lost = false; // with our own worker there is nothing to watch; without one, the next check says so again
    } else {
      this.warn(
        `healthsynth: no worker polls task queue "${this.taskQueue}" any more (${problem}); ` +
          `${waiting} waits until one does. ${START_A_WORKER}.`,
      );
    }
  }
}

/** Runs `fn` with a {@link WorkerWatchdog} and closes it afterwards, whatever happens. */
export async function withWorkerWatchdog<T>(
  opts: WatchdogOptions,
  fn: (watchdog: WorkerWatchdog) => Promise<T>,
): Promise<T> {
  const watchdog = new WorkerWatchdog(opts);
  try {
    return await fn(watchdog);
  } finally {
    await watchdog.close();
  }
}
