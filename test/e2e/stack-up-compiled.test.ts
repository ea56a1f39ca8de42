/**
 * `npm run stack:up` and `npm run stack:down` as a user runs them: `healthsynth` runs the compiled JavaScript in
 * dist/, so every service the stack starts must start from there too (the Telegram emulator's entry file once only
 * existed as .ts beside the source, and `stack up` failed with ERR_MODULE_NOT_FOUND). A stack of its own: a fresh
 * data folder and free ports, so it never meets the test run's stack.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../src/stack/toolchain.js';
import { freeLoopbackPort } from '../support/ports.js';

const run = promisify(execFile);
let dataDir: string | undefined;
let env: NodeJS.ProcessEnv = {};

after(async () => {
  if (!dataDir) return;
  await run(process.execPath, ['bin/healthsynth.js', 'stack', 'down'], { cwd: REPO_ROOT, env }).catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

test('npm run stack:up starts every service from the compiled CLI, and stack:down stops them', async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-stack-compiled-'));
  env = { ...process.env, HEALTHSYNTH_DATA_DIR: dataDir };
  for (const name of ['TEMPORAL', 'TEMPORAL_UI', 'TEMPORAL_METRICS', 'POSTGRES', 'S3', 'TELEGRAM']) {
    env[`HEALTHSYNTH_${name}_PORT`] = String(await freeLoopbackPort());
  }
  const up = await run('npm', ['run', 'stack:up'], { cwd: REPO_ROOT, env });
  for (const service of ['temporal', 'postgres', 's3', 'telegram']) {
    assert.match(up.stdout, new RegExp(`^${service}\\s+started\\s`, 'm'), up.stdout + up.stderr);
  }
  const down = await run('npm', ['run', 'stack:down'], { cwd: REPO_ROOT, env });
  for (const service of ['temporal', 'postgres', 's3', 'telegram']) {
    assert.match(down.stdout + down.stderr, new RegExp(`Stopped ${service}`, 'i'), down.stdout + down.stderr);
  }
});
