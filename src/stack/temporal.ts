/**
 * The local Temporal server: `temporal server start-dev` with a SQLite file under the data
 * folder, so workflow runs survive a restart, bound to loopback only.
 */
import path from 'node:path';
import { execa } from 'execa';
import { portOpen, processAlive, spawnDetached, StackError, waitFor } from './process.js';
import { type ServiceContext, type ServiceUp, portInUse } from './service.js';
import { updateState } from './state.js';

/** True when the frontend answers `temporal operator cluster health` with SERVING. */
export async function temporalHealthy(cli: string, port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const res = await execa(cli, ['operator', 'cluster', 'health', '--address', `127.0.0.1:${port}`], {
    reject: false,
    stdin: 'ignore',
    timeout: 10_000,
  });
  return res.exitCode === 0 && /SERVING/.test(String(res.stdout));
}

async function uiAnswers(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
  await res.body?.cancel();
  return res.status < 500;
}

/**
 * Starts the Temporal dev server, or reuses the one this stack started earlier. Waits until the
 * frontend reports SERVING and the Web UI answers.
 */
export async function temporalUp(ctx: ServiceContext): Promise<ServiceUp> {
  const { temporal: port, temporalUi: uiPort, temporalMetrics: metricsPort } = ctx.config.localPorts;
  const cli = ctx.tools.temporal;
  const endpoint = `127.0.0.1:${port}`;
  const rec = ctx.state.services.temporal;
  const logFile = path.join(ctx.logsDir, 'temporal.log');

  if (rec && processAlive(rec.pid, 'temporal')) {
    if (rec.port !== port || rec.uiPort !== uiPort) {
      throw new StackError(
        `Temporal of this stack runs on port ${rec.port} (UI ${rec.uiPort}), but ${port} (UI ${uiPort}) is configured; run \`healthsynth stack down\` first`,
      );
    }
    await waitFor('Temporal', () => temporalHealthy(cli, port), { timeoutMs: 60_000, intervalMs: 500, logFile });
    return { name: 'temporal', status: 'reused', pid: rec.pid, endpoint };
  }

  const ports: [number, string][] = [
    [port, 'HEALTHSYNTH_TEMPORAL_PORT'],
    [uiPort, 'HEALTHSYNTH_TEMPORAL_UI_PORT'],
    [metricsPort, 'HEALTHSYNTH_TEMPORAL_METRICS_PORT'],
  ];
  if (ctx.adoptForeign && (await temporalHealthy(cli, port))) {
    return { name: 'temporal', status: 'external', endpoint };
  }
  for (const [p, envName] of ports) if (await portOpen(p)) throw portInUse(p, envName);

  const dbFile = path.join(ctx.config.dataDir, 'temporal', 'temporal.db');
  await ctx.mkdir(path.dirname(dbFile));
  ctx.log(`Starting Temporal on ${endpoint} (log: ${logFile})`);
  // prettier-ignore
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--metrics-port', String(metricsPort),
    '--db-filename', dbFile,
    // Write-ahead log, synced at checkpoints rather than every commit: a crashed process loses nothing, a power cut
    // at most the last transactions of a local dev server. Measured 10.9 → 15.5 reminders sent/s (bench reminders).
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    // The activity a workflow task schedules goes back in that task's response when the worker has a free slot,
    // instead of a round trip through the task queue (Temporal Cloud and self-hosted 1.2x: set the same key).
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    '--log-level', 'warn',
  ];
  const { pid, exited } = await spawnDetached(cli, args, { logFile, cwd: ctx.config.dataDir });
  await updateState(ctx.config.dataDir, (s) => {
    s.services.temporal = {
      pid,
      port,
      uiPort,
      metricsPort,
      startedAt: new Date().toISOString(),
      logFile,
      bin: cli,
    };
  });
  ctx.onStarted('temporal');
  await waitFor('Temporal', () => temporalHealthy(cli, port), { timeoutMs: 90_000, intervalMs: 500, exited, logFile });
  await waitFor('Temporal Web UI', () => uiAnswers(uiPort), { timeoutMs: 60_000, intervalMs: 500, exited, logFile });
  return { name: 'temporal', status: 'started', pid, endpoint };
}
