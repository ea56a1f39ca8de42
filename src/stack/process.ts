/**
 * Small process and network helpers for the local stack: detached spawning with output to a
 * log file, liveness checks that survive pid reuse, loopback port probes and polling.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/** A local-stack failure whose message says what went wrong and what to do; printed without a stack trace. */
export class StackError extends Error {
  override name = 'StackError';
}

/**
 * Starts `cmd` detached in its own process group with stdout and stderr appended to `logFile`,
 * so it keeps running after this process exits. Returns the child's pid and a promise that
 * settles with its exit code if it dies while we are still waiting for it to become ready.
 */
export async function spawnDetached(
  cmd: string,
  args: readonly string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ pid: number; exited: Promise<number | null> }> {
  await fs.mkdir(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env,
      cwd: opts.cwd,
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    if (child.pid === undefined) {
      const code = await exited;
      throw new StackError(`could not start ${cmd} (exit ${code}); see ${opts.logFile}`);
    }
    child.unref();
    return { pid: child.pid, exited };
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is alive and, where /proc exists, its command line mentions `expect`
 * (so a recycled pid of some other program is not mistaken for our server).
 */
export function processAlive(pid: number | undefined, expect?: string): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!expect) return true;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.length > 0 && !cmdline.includes(expect)) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // a zombie is dead
  } catch {
    return true; // no /proc (macOS): the signal check has to do
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every `intervalMs` until it returns true. Fails with `what` when `timeoutMs`
 * passes, or at once when `exited` settles (the server died during start-up).
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; exited?: Promise<number | null>; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exitCode: number | null | undefined;
  let hasExited = false;
  void opts.exited?.then((code) => {
    exitCode = code;
    hasExited = true;
  });
  for (;;) {
    if (await check().catch(() => false)) return;
    if (hasExited) {
      throw new StackError(
        `${what}: the process exited (code ${exitCode}) while starting${await logTail(opts.logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new StackError(`${what}: not ready after ${opts.timeoutMs / 1000} s${await logTail(opts.logFile)}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

/** The last lines of a log file, formatted for an error message. */
export async function logTail(logFile: string | undefined, lines = 15): Promise<string> {
  if (!logFile) return '';
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `\n--- last lines of ${logFile} ---\n${tail}` : `; see ${logFile}`;
}

/**
 * Stops a process group we started: SIGTERM, wait up to `graceMs`, then SIGKILL.
 * Resolves true when the process is gone.
 */
export async function stopProcess(pid: number, expect: string, graceMs = 15_000): Promise<boolean> {
  if (!processAlive(pid, expect)) return true;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // the whole group: the server and anything it spawned
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid, expect)) return true;
    await sleep(100);
  }
  signal('SIGKILL');
  await sleep(200);
  return !processAlive(pid, expect);
}
