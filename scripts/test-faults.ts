/**
 * `npm run test:faults [files...]`: the fault suite (test/faults) on a local stack of its own.
 *
 * The faults stop and start PostgreSQL, the S3 server and Temporal, so they never run on the stack `npm test` and
 * everyone else use: this script points `npm test`'s runner (scripts/test.ts) at a second stack with its data under
 * `<data folder>/faults/` and every port FAULT_PORT_OFFSET above the configured one. That runner brings the stack
 * up, runs the files and stops what it started. Each scenario records what it measured in
 * `<data folder>/faults/fault-results.json` (emptied first); the table printed at the end is the one README.md
 * shows.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { REPO_ROOT } from '../src/stack/toolchain.js';
import { faultResultsFile, faultTable, readFaultResults } from '../test/support/fault-results.js';

/** Added to each configured port, so the fault stack never meets the regular one (nor the defaults' neighbours). */
const FAULT_PORT_OFFSET = 5;

async function main(): Promise<number> {
  const base = loadConfig();
  const p = base.localPorts;
  const dataDir = path.join(base.dataDir, 'faults');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HEALTHSYNTH_DATA_DIR: dataDir,
    HEALTHSYNTH_TEMPORAL_PORT: String(p.temporal + FAULT_PORT_OFFSET),
    HEALTHSYNTH_TEMPORAL_UI_PORT: String(p.temporalUi + FAULT_PORT_OFFSET),
    HEALTHSYNTH_TEMPORAL_METRICS_PORT: String(p.temporalMetrics + FAULT_PORT_OFFSET),
    HEALTHSYNTH_POSTGRES_PORT: String(p.postgres + FAULT_PORT_OFFSET),
    HEALTHSYNTH_S3_PORT: String(p.s3 + FAULT_PORT_OFFSET),
    HEALTHSYNTH_TELEGRAM_PORT: String(p.telegram + FAULT_PORT_OFFSET),
    HEALTHSYNTH_TEST_DATABASE: 'healthsynth_faults',
    HEALTHSYNTH_TEST_BUCKET: 'healthsynth-faults',
    // The scenarios' workers are separate processes; none of them serves metrics.
    WORKER_METRICS_PORT: '0',
  };
  const results = faultResultsFile(dataDir);
  await fs.mkdir(dataDir, { recursive: true });
  await fs.rm(results, { force: true });

  const args = process.argv.slice(2);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'test.ts'), ...(args.length > 0 ? args : ['test/faults'])],
    { stdio: 'inherit', env, cwd: REPO_ROOT },
  );
  const forward = (sig: NodeJS.Signals) => () => void child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  const code = await new Promise<number>((resolve) => {
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 130 : 1)));
    child.once('error', () => resolve(1));
  });

  const rows = await readFaultResults(results);
  if (rows.length > 0) {
    console.log(`\nFaults measured (${results}):\n`);
    console.log(faultTable(rows));
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
