/**
 * Worker processes for the benchmarks: each in its own process, so its peak memory is the worker's alone and
 * it can be killed like a deployed worker; launched with the settings it is deployed with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { workerNodeFlags, workerProcessEnv } from '../src/worker.js';

/** Peak resident set size of a process, from /proc (VmHWM), in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/**
 * Starts a worker as it is deployed (`node bin/healthsynth.js worker`, the Docker image's command: the CLI
 * compiled to dist/) with `env`, and resolves once it polls its task queue. The worker's process settings are
 * given at spawn, so the command does not relaunch itself and the spawned process is the worker.
 */
export async function spawnWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [...workerNodeFlags([]), 'bin/healthsynth.js', 'worker'], {
    env: workerProcessEnv(env),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const pid = /polling task queue.*\bpid (\d+)/.exec(out)?.[1];
      if (pid === undefined) return;
      if (Number(pid) === proc.pid) resolve();
      else
        reject(new Error(`bench worker relaunched itself (pid ${pid}, not ${proc.pid}): its memory is not measured`));
    });
    proc.once('exit', (code) => reject(new Error(`bench worker exited with ${code}: ${out}`)));
  });
  return proc;
}

/** Stops a worker started by {@link spawnWorker} (SIGTERM: a clean shutdown) and waits for it to exit. */
export async function stopWorker(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  await once(proc, 'exit');
}
