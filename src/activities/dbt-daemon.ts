/**
 * A long-lived dbt process for runDbt (src/activities/dbt.ts): the Python program beside this file
 * (dbt-daemon.py) imports dbt once, keeps the manifest it parsed, and serves one build at a time over JSON lines.
 * It spares each build Python importing dbt and dbt checking and writing its manifest (about 6 s of a 1,000-row
 * day's build here); see the Python file for the protocol and why each build compiles from a fresh copy.
 *
 * runDbt keeps one per worker and dbt target (a {@link DbtDaemons}), and falls back to a `dbt` process per build
 * whenever the daemon cannot serve: no Python beside the dbt executable, a daemon that will not start, or one busy
 * with another build. A daemon that dies or is killed (a cancelled build) is forgotten and the next build starts a
 * new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DBT_PROJECT_DIR } from './dbt-command.js';

/** The Python program the daemon runs. */
export const DBT_DAEMON_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dbt-daemon.py');

/** One build for the daemon: what `dbt build` would get as arguments and environment. */
export interface DbtDaemonRequest {
  /** Everything the parsed manifest depends on (runDbt's partial-parse key); a new key parses again. */
  key: string;
  /** The `dbt parse` to run when the key changed (same settings as the build, the saved parse state). */
  parseArgs: string[];
  /** The `dbt build` arguments. */
  args: string[];
  /** Where the daemon writes run_results.json itself (for a build with `--no-write-json`). */
  runResults?: string;
  /** dbt's whole environment for this build (the profile, DBT_RUN_DATE, …): it replaces the daemon's. */
  env: Record<string, string>;
}

/** How a build in the daemon ended: the dbt CLI's exit code, and dbt's console output. */
export interface DbtDaemonResult {
  exitCode: number;
  /** Whether this build parsed the project first (a new daemon, or a changed key). */
  parsed: boolean;
  error?: string;
  output: string;
}

/** The daemon could not serve the build (did not start, or died): runDbt falls back to a `dbt` process. */
export class DbtDaemonUnavailable extends Error {}

/** The dbt virtualenv's Python beside the dbt executable, when there is one (the daemon needs dbt importable). */
export async function daemonPython(bin: string): Promise<string | undefined> {
  if (!bin.includes(path.sep)) return undefined;
  const python = path.join(path.dirname(bin), 'python');
  try {
    await access(python, constants.X_OK);
    await access(DBT_DAEMON_SCRIPT, constants.R_OK);
    return python;
  } catch {
    return undefined;
  }
}

/** How long a daemon may take to import dbt before runDbt gives up on it and runs a `dbt` process instead. */
const START_TIMEOUT_MS = 120_000;

/** One dbt-daemon.py process; builds run one at a time (`busy`). */
export class DbtDaemon {
  readonly child: ChildProcess;
  busy = false;
  /** Builds answered, and how many of them parsed the project first. */
  builds = 0;
  parses = 0;
  private ready: Promise<void>;
  private exited = false;
  private pending?: { resolve: (line: string) => void; reject: (err: Error) => void };
  private onOutput?: (chunk: string) => void;

  constructor(python: string, env: Record<string, string>) {
    this.child = spawn(python, ['-u', DBT_DAEMON_SCRIPT, String(process.pid)], {
      cwd: DBT_PROJECT_DIR,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: this.child.stdout! });
    let markReady: () => void = () => {};
    let failStart: (err: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {}); // observed by whoever builds; a daemon nobody asked anything of may fail quietly
    let started = false;
    lines.on('line', (line) => {
      if (!started) {
        started = true;
        markReady();
        return;
      }
      const pending = this.pending;
      this.pending = undefined;
      pending?.resolve(line);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.onOutput?.(chunk.toString()));
    const gone = (why: string): void => {
      if (this.exited) return;
      this.exited = true;
      const err = new DbtDaemonUnavailable(`the dbt daemon ${why}`);
      failStart(err);
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(err);
    };
    this.child.on('error', (err) => gone(`could not start: ${err.message}`));
    this.child.on('exit', (code, signal) => gone(`exited (${signal ?? `code ${code}`})`));
    this.child.stdin!.on('error', () => {}); // a write to a dead daemon: reported by `exit`
    this.idle();
  }

  /** Whether the process is still there to serve. */
  get alive(): boolean {
    return !this.exited;
  }

  /**
   * Runs one build. Rejects with {@link DbtDaemonUnavailable} when the daemon does not start within
   * {@link START_TIMEOUT_MS} or dies before it answers (then it is of no further use), and with the signal's reason
   * when `signal` aborts (the daemon is killed: dbt's queries end with its connections).
   */
  async build(
    request: DbtDaemonRequest,
    { signal, onOutput }: { signal?: AbortSignal; onOutput?: (chunk: string) => void } = {},
  ): Promise<DbtDaemonResult> {
    if (this.busy) throw new DbtDaemonUnavailable('the dbt daemon is busy');
    this.busy = true;
    this.child.ref();
    (this.child.stdout as unknown as { ref?: () => void }).ref?.();
    (this.child.stderr as unknown as { ref?: () => void }).ref?.();
    let output = '';
    this.onOutput = (chunk) => {
      output += chunk;
      if (output.length > 1_000_000) output = output.slice(-500_000);
      onOutput?.(chunk);
    };
    const abort = (): void => this.kill();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      signal?.throwIfAborted();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.kill();
            reject(new DbtDaemonUnavailable(`the dbt daemon did not start in ${START_TIMEOUT_MS / 1000} s`));
          }, START_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      const answer = new Promise<string>((resolve, reject) => {
        this.pending = { resolve, reject };
      });
      if (!this.alive) throw new DbtDaemonUnavailable('the dbt daemon exited');
      this.child.stdin!.write(`${JSON.stringify({ id: 1, ...request })}\n`);
      const response = JSON.parse(await answer) as { exitCode: number; parsed: boolean; error?: string };
      this.builds += 1;
      if (response.parsed) this.parses += 1;
      return {
        exitCode: response.exitCode,
        parsed: response.parsed,
        output,
        ...(response.error ? { error: response.error } : {}),
      };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      signal?.removeEventListener('abort', abort);
      this.onOutput = undefined;
      this.busy = false;
      this.idle();
    }
  }

  /** Ends the process: SIGTERM, then SIGKILL after 10 s if it is still there. */
  kill(): void {
    if (this.exited) return;
    this.child.ref(); // whoever kills it may wait for its exit
    this.child.kill('SIGTERM');
    setTimeout(() => {
      if (!this.exited) this.child.kill('SIGKILL');
    }, 10_000).unref();
  }

  /** An idle daemon does not keep the worker (or a test, a CLI run) alive; it exits when its stdin closes. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stderr as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }
}

/** The daemons of one createDbtActivities (one worker): one per Python and dbt target. */
export class DbtDaemons {
  private readonly daemons = new Map<string, DbtDaemon>();

  /** The live daemon for `python` and `target`, started with `env` when there is none. */
  get(python: string, target: string, env: Record<string, string>): DbtDaemon {
    const name = `${python}\0${target}`;
    const existing = this.daemons.get(name);
    if (existing?.alive) return existing;
    const daemon = new DbtDaemon(python, env);
    this.daemons.set(name, daemon);
    return daemon;
  }

  /** Kills every daemon and waits until they are gone (a benchmark timing a new worker's first build). */
  async stopAll(): Promise<void> {
    const stopping = this.live().map(
      (daemon) =>
        new Promise<void>((resolve) => {
          daemon.child.once('exit', () => resolve());
          daemon.kill();
        }),
    );
    this.daemons.clear();
    await Promise.all(stopping);
  }

  /** The daemons started so far that are still running. */
  live(): DbtDaemon[] {
    return [...this.daemons.values()].filter((daemon) => daemon.alive);
  }
}

/** This process's daemons (a worker's), shared by every createDbtActivities in it. */
export const DBT_DAEMONS = new DbtDaemons();
