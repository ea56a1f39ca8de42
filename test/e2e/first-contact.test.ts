/**
 * The README's first commands, run as a new user runs them: in a fresh `git clone` of this repository (its
 * committed HEAD) with no node_modules, and an environment holding only PATH, HOME and where the running test
 * stack listens (its ports and data folder, so the clone uses this stack instead of starting a second one). No
 * stack settings are exported: no DATABASE_URL, S3_*, DBT_BIN or TEMPORAL_CLI.
 *  1. `npm run demo` installs the locked packages itself, then runs the pipeline;
 *  2. `npx healthsynth run --date …` runs one (with a worker of its own), finding dbt without DBT_BIN;
 *  3. `npm run worker` plus `temporal workflow start …` (the temporal CLI setup built) runs one.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import type { PipelineSummary } from '../../src/domain/types.js';
import { freeLoopbackPort } from '../support/ports.js';
import { ensureTemporalCli, REPO_ROOT } from '../../src/stack/toolchain.js';
import { connectClient, workflowIds } from '../../src/temporal.js';
import { addDays, localDate } from '../../src/domain/dates.js';
import { startWorkerCommand, stopWorker, type WorkerProcess } from '../support/worker-process.js';

const run = promisify(execFile);

/**
 * A date `daysAgo` days before today (UTC, the default HEALTHSYNTH_TIMEZONE). These runs write to the stack's
 * default database, as a user's would, so they stay in the same few recent days: random dates years apart would
 * make one run's retention cleanup refuse to delete another's rows (RETENTION_MAX_DELETE_SHARE).
 */
const recentDate = (daysAgo: number): string => addDays(localDate(new Date(), 'UTC'), -daysAgo);

/** Runs `command` in `cwd` with `env`; resolves with its exit code and everything it printed. */
async function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const proc = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(proc, 'close')) as [number | null];
  return { code, out };
}

describe('first contact: a fresh clone, a clean environment', { timeout: 1_200_000 }, () => {
  const config = loadConfig();
  let dir: string;
  let clone: string;
  let env: NodeJS.ProcessEnv;
  let worker: WorkerProcess | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hs-first-contact-'));
    clone = path.join(dir, 'healthsynth');
    await run('git', ['clone', '--quiet', REPO_ROOT, clone]);
    const p = config.localPorts;
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Where the running test stack is: its ports and its data folder (state file, so it is reused, not restarted).
      HEALTHSYNTH_TEMPORAL_PORT: String(p.temporal),
      HEALTHSYNTH_TEMPORAL_UI_PORT: String(p.temporalUi),
      HEALTHSYNTH_TEMPORAL_METRICS_PORT: String(p.temporalMetrics),
      HEALTHSYNTH_POSTGRES_PORT: String(p.postgres),
      HEALTHSYNTH_S3_PORT: String(p.s3),
      HEALTHSYNTH_TELEGRAM_PORT: String(p.telegram),
      HEALTHSYNTH_DATA_DIR: path.resolve(config.dataDir),
      // Not the stack's: a free port, so the clone's worker never collides with another worker's metrics.
      WORKER_METRICS_PORT: String(await freeLoopbackPort()),
      ...(process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {}),
    };
  });
  after(async () => {
    if (worker) await stopWorker(worker);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('npm run demo installs the locked packages itself, then runs the pipeline', async () => {
    assert.equal(existsSync(path.join(clone, 'node_modules')), false, 'a fresh clone has no node_modules');
    const date = recentDate(1);
    const { code, out } = await sh('npm', ['run', 'demo', '--', '--date', date, '--scale', '300'], clone, env);
    assert.equal(code, 0, out);
    assert.match(out, /installing the locked packages \(node_modules is missing/);
    assert.doesNotMatch(out, /Starting (Temporal|PostgreSQL|versitygw)/, 'the running stack is used, not a second one');
    assert.match(out, new RegExp(`^run ${date} \\(scale 300\\)$`, 'm'));
    assert.match(out, /dbt: ok, \d+ models/);
  });

  test('npx healthsynth run --date … finds dbt without DBT_BIN and completes', async () => {
    const date = recentDate(2);
    const { code, out } = await sh(
      'npx',
      ['healthsynth', 'run', '--date', date, '--scale', '300', '--json'],
      clone,
      env,
    );
    assert.equal(code, 0, out);
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { summary?: PipelineSummary };
    assert.equal(result.summary?.runDate, date, out);
    assert.equal(result.summary?.dbt?.success, true);
  });

  test('npm run worker and temporal workflow start run the pipeline', async () => {
    worker = await startWorkerCommand('npm', ['run', 'worker'], { ...env });
    const temporal = await ensureTemporalCli({ noInstall: true });
    const date = recentDate(3);
    const workflowId = workflowIds.dailyPipeline(date);
    const address = `127.0.0.1:${config.localPorts.temporal}`;
    // prettier-ignore
    await run(temporal, [
      'workflow', 'start', '--address', address, '--type', 'dailyPipeline', '--task-queue', 'healthsynth',
      '--workflow-id', workflowId, '--input', JSON.stringify({ runDate: date, scale: 300 }),
    ]);
    const client = await connectClient(loadConfig({ TEMPORAL_ADDRESS: address }));
    try {
      const summary = (await client.workflow.getHandle(workflowId).result()) as PipelineSummary;
      assert.equal(summary.runDate, date);
      assert.equal(summary.dbt?.success, true);
    } finally {
      await client.connection.close();
    }
  });
});
