/**
 * A worker in a child process that is started again whenever it dies, for commands that run many days on one
 * worker (`npm run demo -- --days N`). A worker in the command's own process takes the command with it when it
 * crashes: a ten-day medium demo died on its eighth day with Node's fatal "async hook stack has become corrupted"
 * in the SDK's workflow thread (README, the patient loop). In a child, a crash costs the seconds until Temporal
 * hands its tasks to the next worker (sticky queue timeout, activity heartbeats); every run goes on from its history.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { workerNodeFlags, workerProcessEnv } from './worker-process.js';

const BIN = fileURLToPath(new URL('../bin/healthsynth.js', import.meta.url));
/** How long a started worker may take to print that it polls (it may build dist/ first). */
const START_TIMEOUT_MS = 120_000;
/** The pause before starting a worker again, so a worker that dies at start does not spin. */
const RESTART_DELAY_MS = 1_000;

export interface SupervisorOptions {
  /** The worker's environment (its settings); WORKER_METRICS_PORT defaults to 0 here (no metrics server). */
  env: NodeJS.ProcessEnv;
  /** The file the worker's stdout and stderr go to (appended). */
  logFile: string;
  /** Lines for the person running the command. */
  log: (line: string) => void;
}

/** What {@link SupervisedWorker.stop} reports: how many times the worker died and was started again. */
export interface SupervisorSummary {
  restarts: number;
  exits: string[];
}

export class SupervisedWorker {
  private child: ChildProcess | undefined;
  private stopping = false;
  private readonly exits: string[] = [];
  private restarting: Promise<void> | undefined;

  private constructor(private readonly opts: SupervisorOptions) {}

  /** Starts the worker and resolves once it polls its task queue. */
  static async start(opts: SupervisorOptions): Promise<SupervisedWorker> {
    const supervisor = new SupervisedWorker(opts);
    await supervisor.spawnOne();
    return supervisor;
  }

  /** Stops the worker cleanly (SIGTERM: it finishes its tasks in flight) and stops starting it again. */
  async stop(): Promise<SupervisorSummary> {
    this.stopping = true;
    await this.restarting?.catch(() => undefined);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    return { restarts: this.exits.length, exits: [...this.exits] };
  }

  private async spawnOne(): Promise<void> {
    mkdirSync(path.dirname(this.opts.logFile), { recursive: true });
    const fd = openSync(this.opts.logFile, 'a');
    const env = workerProcessEnv({ WORKER_METRICS_PORT: '0', ...this.opts.env });
    // The worker's process settings are given here, so `healthsynth worker` does not relaunch itself and the child
    // is the worker. The IPC channel makes it stop when this process dies, even by SIGKILL (stopWithParent).
    const child = spawn(process.execPath, [...workerNodeFlags([]), BIN, 'worker'], {
      env,
      stdio: ['ignore', 'pipe', fd, 'ipc'],
    });
    closeSync(fd);
    this.child = child;
    // Only the output before the polling line is kept and searched; the listener goes once it is found.
    let out = '';
    const polling = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Not left running: the next start would otherwise make it a second worker.
        child.kill('SIGKILL');
        reject(new Error(`the worker did not poll within ${START_TIMEOUT_MS / 1000} s (log: ${this.opts.logFile})`));
      }, START_TIMEOUT_MS);
      const onData = (d: Buffer): void => {
        out += d.toString();
        const pid = /polling task queue.*\bpid (\d+)/.exec(out)?.[1];
        if (pid !== undefined) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          out = '';
          resolve(Number(pid));
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the worker exited with ${signal ?? code} before it polled (log: ${this.opts.logFile})`));
      });
    });
    // Everything it prints goes to its log file (stdout after a look for its polling line).
    child.stdout?.pipe(createWriteStream(this.opts.logFile, { flags: 'a' }));
    const pid = await polling;
    this.opts.log(`worker: pid ${pid}, polling (its log: ${this.opts.logFile})`);
    child.once('exit', (code, signal) => {
      if (this.stopping || this.child !== child) return;
      const how = signal ?? `exit code ${code}`;
      this.exits.push(how);
      this.opts.log(
        `worker: pid ${pid} died (${how}); starting another, and Temporal hands it the open runs from their histories`,
      );
      this.restarting = this.restart();
    });
  }

  private async restart(): Promise<void> {
    for (;;) {
      await sleep(RESTART_DELAY_MS);
      if (this.stopping) return;
      try {
        await this.spawnOne();
        return;
      } catch (err) {
        this.opts.log(`worker: could not start again (${(err as Error).message}); trying again`);
      }
    }
  }
}
