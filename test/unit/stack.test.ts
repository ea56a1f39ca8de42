import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { memoryIo } from '../../src/cli/command.js';
import { registerStackCommands } from '../../src/cli/stack.js';
import { loadConfig } from '../../src/config.js';
import { localStackEnv, stackStatus, stackUp } from '../../src/stack/index.js';
import { runuserCommand } from '../../src/stack/postgres.js';
import { readState } from '../../src/stack/state.js';

/** Listens on a free loopback port and keeps it, standing in for "another process". */
async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function freePort(): Promise<number> {
  const held = await holdPort();
  await held.close();
  return held.port;
}

describe('local stack', () => {
  let dataDir: string;
  let blocker: Awaited<ReturnType<typeof holdPort>>;
  let env: Record<string, string>;

  before(async () => {
    dataDir = path.join(os.tmpdir(), `hs-stack-unit-${randomUUID().slice(0, 8)}`);
    blocker = await holdPort();
    env = {
      HEALTHSYNTH_DATA_DIR: dataDir,
      HEALTHSYNTH_TEMPORAL_PORT: String(blocker.port),
      HEALTHSYNTH_TEMPORAL_UI_PORT: String(await freePort()),
      HEALTHSYNTH_TEMPORAL_METRICS_PORT: String(await freePort()),
      HEALTHSYNTH_POSTGRES_PORT: String(await freePort()),
      HEALTHSYNTH_S3_PORT: String(await freePort()),
      HEALTHSYNTH_TELEGRAM_PORT: String(await freePort()),
    };
  });

  after(async () => {
    await blocker.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  test('stack env points every client at the configured ports', () => {
    const config = loadConfig(env);
    const vars = localStackEnv(config, { dbt: '/x/dbt', temporal: '/x/temporal' });
    assert.deepEqual(Object.keys(vars), [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_UI_URL',
      'DATABASE_URL',
      'S3_ENDPOINT',
      'S3_BUCKET',
      'S3_REGION',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'S3_FORCE_PATH_STYLE',
      'DBT_BIN',
      'TEMPORAL_CLI',
    ]);
    // The printed settings load back into the same configuration the stack listens on.
    const back = loadConfig({ ...env, ...vars });
    assert.equal(back.temporal.address, config.temporal.address);
    assert.equal(back.s3.endpoint, config.s3.endpoint);
    assert.equal(back.warehouse.kind === 'postgres' && back.warehouse.databaseUrl, vars.DATABASE_URL);
    assert.equal(back.dbt.bin, '/x/dbt');
  });

  test('status tells a port held by someone else from a stopped service', async () => {
    const status = await stackStatus({ config: loadConfig(env) });
    assert.deepEqual(
      status.map((s) => [s.name, s.state]),
      [
        ['temporal', 'foreign'],
        ['postgres', 'stopped'],
        ['s3', 'stopped'],
        ['telegram', 'stopped'],
      ],
    );
  });

  test('`healthsynth stack status` and `stack env --export` print through the injected io and config', async () => {
    const io = memoryIo();
    const program = new Command().exitOverride();
    registerStackCommands(program, { io, config: () => loadConfig(env) });
    await program.parseAsync(['node', 'healthsynth', 'stack', 'status']);
    assert.deepEqual(
      io.stdout.map((line) => line.split(/\s+/).slice(0, 3)),
      [
        ['temporal', 'foreign', `127.0.0.1:${blocker.port}`],
        ['postgres', 'stopped', `127.0.0.1:${env.HEALTHSYNTH_POSTGRES_PORT}`],
        ['s3', 'stopped', `http://127.0.0.1:${env.HEALTHSYNTH_S3_PORT}`],
        ['telegram', 'stopped', `http://127.0.0.1:${env.HEALTHSYNTH_TELEGRAM_PORT}`],
      ],
    );
    assert.match(io.stdout[0] ?? '', /port held by a process this stack did not start$/);
    io.stdout.length = 0;
    await program.parseAsync(['node', 'healthsynth', 'stack', 'env', '--export']);
    assert.ok(io.stdout.includes(`export TEMPORAL_ADDRESS=127.0.0.1:${blocker.port}`), io.text());
    assert.ok(
      io.stdout.every((line) => /^export [A-Z0-9_]+=/.test(line)),
      io.text(),
    );
    assert.equal(io.exitCode, 0);
  });

  test('stack up fails naming the busy port and its setting, and leaves nothing running', async () => {
    const config = loadConfig(env);
    await assert.rejects(
      stackUp({ config, log: () => undefined }),
      new RegExp(`port ${blocker.port} is in use by another process; stop it or set HEALTHSYNTH_TEMPORAL_PORT`),
    );
    // PostgreSQL, S3 and the Telegram emulator may have started alongside; the failed attempt must have stopped them.
    const status = await stackStatus({ config });
    assert.deepEqual(
      status.map((s) => s.state),
      ['foreign', 'stopped', 'stopped', 'stopped'],
    );
    assert.deepEqual((await readState(dataDir)).services, {});
  });
});

test('runuser is called by its path when it is in sbin, which a root shell from cron or env -i leaves off PATH', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hs-runuser-'));
  try {
    const file = path.join(dir, 'runuser');
    await fs.writeFile(file, '', { mode: 0o755 });
    assert.equal(runuserCommand([path.join(dir, 'missing'), file]), file);
    assert.equal(runuserCommand([path.join(dir, 'missing')]), 'runuser', 'not found: by name, from PATH');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
