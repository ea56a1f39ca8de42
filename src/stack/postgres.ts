/**
 * The local PostgreSQL server: a cluster under the data folder, listening on 127.0.0.1 only
 * (no Unix socket), password authentication (scram-sha-256) for the `healthsynth` superuser.
 *
 * PostgreSQL refuses to run as root, so as root every server command runs as the `postgres`
 * OS user (runuser) and the cluster folder belongs to that user.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { LOCAL } from '../config.js';
import { logTail, portOpen, processAlive, StackError } from './process.js';
import { type ServiceContext, type ServiceUp, foreignServer, movedPort } from './service.js';
import { updateState } from './state.js';

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * runuser, by path when it is in one of `candidates`: it lives in /usr/sbin (or /sbin), which a root shell started by
 * cron or `env -i` leaves off PATH. Called by name there, the spawn failed and `stack up` said only "initdb failed".
 */
export function runuserCommand(candidates: readonly string[] = ['/usr/sbin/runuser', '/sbin/runuser']): string {
  return candidates.find((file) => existsSync(file)) ?? 'runuser';
}

/** Runs a PostgreSQL binary, as the `postgres` OS user when we are root. */
function pgExec(binDir: string, bin: string, args: readonly string[], opts: { timeout?: number } = {}) {
  const file = path.join(binDir, bin);
  const [cmd, argv] = isRoot() ? [runuserCommand(), ['-u', 'postgres', '--', file, ...args]] : [file, [...args]];
  return execa(cmd, argv, {
    reject: false,
    stdin: 'ignore',
    all: true,
    timeout: opts.timeout ?? 120_000,
    cwd: os.tmpdir(),
  });
}

async function chownToPostgres(target: string): Promise<void> {
  if (!isRoot()) return;
  const res = await execa('chown', ['-R', 'postgres:postgres', target], { reject: false, stdin: 'ignore' });
  if (res.exitCode !== 0) throw new StackError(`could not hand ${target} to the postgres user: ${String(res.stderr)}`);
}

/**
 * The cluster folder: `<dataDir>/postgres`. As root, when the `postgres` user cannot reach the
 * data folder (e.g. a checkout under /root), a folder under /var/tmp keyed by the data folder.
 */
export async function clusterDir(dataDir: string): Promise<string> {
  const preferred = path.join(dataDir, 'postgres');
  if (!isRoot()) return preferred;
  const reach = await execa(runuserCommand(), ['-u', 'postgres', '--', 'test', '-x', dataDir], {
    reject: false,
    stdin: 'ignore',
  });
  if (reach.exitCode === 0) return preferred;
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  return path.join('/var/tmp', `healthsynth-postgres-${key}`);
}

/** Reads `postmaster.pid`: the server's pid and port, when a server is running in `dir`. */
async function postmaster(dir: string): Promise<{ pid: number; port: number } | undefined> {
  const text = await fs.readFile(path.join(dir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return processAlive(pid, 'postgres') ? { pid, port } : undefined;
}

/** A connection string for the local server as the `healthsynth` superuser. */
export function localPgUrl(port: number, database: string = LOCAL.postgresDatabase): string {
  return `postgres://${LOCAL.postgresUser}:${LOCAL.postgresPassword}@127.0.0.1:${port}/${database}`;
}

/** Runs `fn` with a client connected to `database` on the local server; always disconnects. */
export async function withPg<T>(port: number, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: localPgUrl(port, database), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function canLogin(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  return withPg(port, 'postgres', async (c) => (await c.query('select 1')).rowCount === 1).catch(() => false);
}

/** Creates `name` unless it exists (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(port: number, name: string): Promise<void> {
  await withPg(port, 'postgres', async (c) => {
    const exists = await c.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await c.query(`create database ${pg.escapeIdentifier(name)}`);
  });
}

/**
 * Drops database `name` on the server `serverUrl` points at (closing its sessions) and creates it empty; returns
 * the new database's URL. For tests and benchmarks whose counts must see no one else's rows.
 */
export async function recreateDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function initCluster(ctx: ServiceContext, dir: string): Promise<void> {
  const binDir = ctx.tools.pgBinDir;
  const scratch = `${dir}.init`;
  await fs.rm(scratch, { recursive: true, force: true });
  await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
  await chownToPostgres(scratch);
  // initdb reads the password from a file; it must be readable by the postgres user. It is the
  // fixed local-stack password, so nothing secret is exposed, and the file is removed right after.
  const pwfile = path.join(os.tmpdir(), `healthsynth-pw-${process.pid}-${Date.now()}`);
  await fs.writeFile(pwfile, `${LOCAL.postgresPassword}\n`, { mode: 0o644 });
  const logFile = path.join(ctx.logsDir, 'postgres-initdb.log');
  ctx.log(`Creating the PostgreSQL cluster in ${dir} (log: ${logFile})`);
  try {
    // prettier-ignore
    const res = await pgExec(binDir, 'initdb', [
      '-D', scratch, '-U', LOCAL.postgresUser, `--pwfile=${pwfile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale',
    ]);
    await fs.writeFile(logFile, res.all ?? '');
    if (res.exitCode !== 0) {
      // No exit code: the command did not start (res.shortMessage names it, e.g. "spawn runuser ENOENT").
      const why = res.exitCode === undefined ? res.shortMessage : `exit ${res.exitCode}`;
      throw new StackError(`initdb failed (${why})${await logTail(logFile)}`);
    }
  } finally {
    await fs.rm(pwfile, { force: true });
  }
  await fs.appendFile(
    path.join(scratch, 'postgresql.conf'),
    [
      '',
      '# Health Synth local stack: loopback TCP only, no Unix socket (its folder may not be writable).',
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      '',
    ].join('\n'),
  );
  await chownToPostgres(scratch);
  await fs.rename(scratch, dir); // only a finished cluster gets the real name
}

/**
 * Starts PostgreSQL (creating the cluster on first use), or reuses ours when it already runs,
 * then makes sure the `healthsynth` database exists.
 */
export async function postgresUp(ctx: ServiceContext): Promise<ServiceUp> {
  const port = ctx.config.localPorts.postgres;
  const endpoint = `127.0.0.1:${port}`;
  const dir = await clusterDir(ctx.config.dataDir);
  // Outside the data folder (root with an unreachable checkout) the server log lives in the cluster folder.
  const inDataDir = dir.startsWith(ctx.config.dataDir + path.sep);
  const logFile = inDataDir ? path.join(ctx.logsDir, 'postgres.log') : path.join(dir, 'postgres.log');

  // What the stack's state file records of our server (`stack status`, `stack down`).
  const serviceRecord = (pid: number) => ({
    pid,
    port,
    dir,
    pgBinDir: ctx.tools.pgBinDir,
    startedAt: new Date().toISOString(),
    logFile,
    bin: 'postgres' as const,
  });

  const running = await postmaster(dir);
  if (running) {
    if (running.port !== port) throw movedPort('PostgreSQL', running.port, port);
    await updateState(ctx.config.dataDir, (s) => {
      s.services.postgres ??= serviceRecord(running.pid);
    });
    await ensureDatabase(port, LOCAL.postgresDatabase);
    return { name: 'postgres', status: 'reused', pid: running.pid, endpoint };
  }

  const foreign = await foreignServer(ctx, {
    name: 'postgres',
    port,
    endpoint,
    envName: 'HEALTHSYNTH_POSTGRES_PORT',
    answers: canLogin,
    prepare: () => ensureDatabase(port, LOCAL.postgresDatabase),
  });
  if (foreign) return foreign;

  if (!existsSync(path.join(dir, 'PG_VERSION'))) await initCluster(ctx, dir);

  // The server writes its own log; as root it runs as postgres, so the file must belong to that user.
  await fs.appendFile(logFile, '');
  await chownToPostgres(logFile);
  ctx.log(`Starting PostgreSQL on ${endpoint} (log: ${logFile})`);
  // pg_ctl starts the server in its own session, so it outlives this process.
  const res = await pgExec(ctx.tools.pgBinDir, 'pg_ctl', [
    'start',
    '-D',
    dir,
    '-l',
    logFile,
    '-w',
    '-t',
    '90',
    '-o',
    `-p ${port}`,
  ]);
  const started = await postmaster(dir);
  if (started) {
    await updateState(ctx.config.dataDir, (s) => {
      s.services.postgres = serviceRecord(started.pid);
    });
    ctx.onStarted('postgres');
  }
  if (res.exitCode !== 0 || !started) {
    throw new StackError(
      `PostgreSQL did not start (pg_ctl exit ${res.exitCode}): ${res.all ?? ''}${await logTail(logFile)}`,
    );
  }
  await ensureDatabase(port, LOCAL.postgresDatabase);
  return { name: 'postgres', status: 'started', pid: started.pid, endpoint };
}

/**
 * Stops our PostgreSQL with `pg_ctl stop -m fast` (rolls back open transactions, no recovery needed), or with
 * `-m immediate`: every server process quits at once, as in a crash, and the next start replays the WAL.
 */
export async function postgresDown(
  dir: string,
  pgBinDir: string,
  mode: 'fast' | 'immediate' = 'fast',
): Promise<boolean> {
  if (!(await postmaster(dir))) return false;
  const res = await pgExec(pgBinDir, 'pg_ctl', ['stop', '-D', dir, '-m', mode, '-w', '-t', '60']);
  if (res.exitCode !== 0) throw new StackError(`pg_ctl stop failed: ${res.all ?? ''}`);
  return true;
}

/** Whether our cluster is running, and on which port. */
export async function postgresRunning(dataDir: string): Promise<{ pid: number; port: number } | undefined> {
  return postmaster(await clusterDir(dataDir));
}
