/**
 * Worker processes for tests: started as people start them (`bin/healthsynth.js worker`, `npm run worker`…), found
 * by the pid in their start line (the command may relaunch itself with the worker's memory settings, so the
 * spawned process is not always the worker), and stopped by signalling that worker.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface WorkerProcess {
  /** The spawned command. */
  proc: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
  /** The pid of the process that runs the worker (from its start line). */
  workerPid: number;
}

/** Starts `command args` (a worker) and waits for its "polling task queue" line. */
export async function startWorkerCommand(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<WorkerProcess> {
  const proc = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', () => {
      const m = /healthsynth worker: polling task queue[^\n]*/.exec(out);
      if (m) resolve(m[0]);
    });
    proc.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${out}`)));
  });
  proc.removeAllListeners('exit');
  const workerPid = Number(/\bpid (\d+)/.exec(line)?.[1]);
  assert.ok(workerPid > 0, `no pid in "${line}"`);
  return { proc, output: () => out, workerPid };
}

/** A worker process as `npm run worker` starts it, on `env`'s task queue, without a metrics endpoint. */
export function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  return startWorkerCommand(process.execPath, ['bin/healthsynth.js', 'worker'], { ...env, WORKER_METRICS_PORT: '0' });
}

/** Sends `signal` to the worker itself and waits until the spawned command has exited; returns its exit code. */
export async function stopWorker(w: WorkerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (w.proc.exitCode !== null || w.proc.signalCode !== null) return w.proc.exitCode;
  const exited = once(w.proc, 'exit');
  try {
    process.kill(w.workerPid, signal);
  } catch {
    // already gone
  }
  const [code] = (await exited) as [number | null];
  return code;
}
