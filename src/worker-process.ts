/**
 * Process-level settings of the standalone worker (`healthsynth worker`, `npm run worker`, the Docker image) and
 * the relaunch that applies them. Kept free of heavy imports: `bin/healthsynth.js` loads it before the CLI, so
 * the short-lived parent of a relaunch stays small.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * Process settings the standalone worker runs with, because they only take effect at process start. Measured
 * with `npm run bench -- --skip generation,load` (peak RSS of the worker process, medium / large): 382 / 463 MB
 * without the first two, 307 / 371 MB with them, wall time unchanged; `--optimize-for-size` then took the large
 * peak from about 350 to about 270 MB (see the README's end-to-end table).
 * - `--max-semi-space-size=2` (MB; Node 20's default grows to 16): memory outside the JS heap (Buffers the SDK,
 *   pg and the S3 client allocate; the generator's chunk and the upload's part buffers are now reused) is freed
 *   only when a young-generation collection finds its small wrapper dead. A smaller young generation collects
 *   more often, so such Buffers are returned within a few MB instead of piling up, and it is itself smaller.
 * - `--optimize-for-size` (a V8 flag Node refuses in NODE_OPTIONS, so it goes on the command line): V8 grows the
 *   old generation by a smaller factor after each full collection. Without it the heap of a large day's ingest
 *   grew to about 130 MB, nearly all garbage (under 60 MB live), before V8 collected it.
 * - `MALLOC_ARENA_MAX=2`: Buffers are allocated by glibc malloc from several threads (JS, libuv, the SDK's Rust
 *   core); with the default of 8 arenas per core their freed memory stays spread over many arenas as RSS.
 */
export const WORKER_PROCESS_SETTINGS = {
  nodeOptions: '--max-semi-space-size=2',
  nodeFlags: ['--optimize-for-size'],
  mallocArenaMax: '2',
} as const;

/** `env` with {@link WORKER_PROCESS_SETTINGS} added (explicit MALLOC_ARENA_MAX or semi-space settings win). */
export function workerProcessEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const nodeOptions = env.NODE_OPTIONS ?? '';
  return {
    ...env,
    NODE_OPTIONS: nodeOptions.includes('--max-semi-space-size')
      ? nodeOptions
      : `${nodeOptions} ${WORKER_PROCESS_SETTINGS.nodeOptions}`.trim(),
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? WORKER_PROCESS_SETTINGS.mallocArenaMax,
  };
}

/** The Node command-line flags of {@link WORKER_PROCESS_SETTINGS} that `execArgv` lacks, to put before it. */
export function workerNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return WORKER_PROCESS_SETTINGS.nodeFlags.filter((flag) => !execArgv.includes(flag));
}

/**
 * True when this process was started with the worker settings: Node read NODE_OPTIONS (or the flag on its
 * command line) and glibc read MALLOC_ARENA_MAX at start, so what the environment held then is what is in effect.
 */
export function workerSettingsInEffect(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): boolean {
  const semiSpace = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) =>
    a.startsWith('--max-semi-space-size'),
  );
  return semiSpace && env.MALLOC_ARENA_MAX !== undefined && workerNodeFlags(execArgv).length === 0;
}

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Unless {@link workerSettingsInEffect}, runs this same command again (same Node, flags and arguments, plus
 * {@link workerNodeFlags}) in a child process with {@link workerProcessEnv}, and resolves with the exit code to leave with; resolves undefined when
 * the settings are already in effect and the caller should go on. The parent forwards SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT to the child (which is in its own process group, so a Ctrl-C reaches it once) and holds an IPC channel
 * to it: if the parent dies, even by SIGKILL, the child sees the channel close and shuts down (see
 * {@link stopWithParent}).
 */
export async function relaunchUnlessWorkerSettings(): Promise<number | undefined> {
  if (workerSettingsInEffect()) return undefined;
  const child = spawn(process.execPath, [...workerNodeFlags(), ...process.execArgv, ...process.argv.slice(1)], {
    env: workerProcessEnv(process.env),
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const forward = (signal: NodeJS.Signals) => () => void child.kill(signal);
  const handlers = FORWARDED_SIGNALS.map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 1)));
    });
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}

/**
 * In a child started by {@link relaunchUnlessWorkerSettings}: when the parent goes away, send ourselves SIGTERM,
 * which the worker treats as a request to shut down cleanly. Without a parent channel it does nothing.
 */
export function stopWithParent(): void {
  if (!process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
