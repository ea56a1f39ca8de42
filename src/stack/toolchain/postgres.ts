/** The PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) the local warehouse runs on. */
import { realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import {
  aptInstall,
  cacheRoot,
  canAptInstall,
  envAndLog,
  isExecutable,
  isRoot,
  ToolchainError,
  toolFromVariable,
  which,
  type ToolchainOptions,
} from './common.js';

const PG_BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;

async function isPgBinDir(dir: string): Promise<boolean> {
  for (const b of PG_BINARIES) if (!(await isExecutable(path.join(dir, b)))) return false;
  return true;
}

async function findPgBinDir(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const candidates: string[] = [];
  const initdb = await which('initdb', env);
  if (initdb) candidates.push(path.dirname(realpathSync(initdb)), path.dirname(initdb));
  for (const root of ['/usr/lib/postgresql', '/usr/local/pgsql']) {
    const versions = await fs.readdir(root).catch(() => [] as string[]);
    versions.sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
    for (const v of versions) candidates.push(path.join(root, v, 'bin'));
  }
  candidates.push('/usr/local/pgsql/bin');
  const rhel = await fs.readdir('/usr').catch(() => [] as string[]);
  for (const d of rhel
    .filter((d) => d.startsWith('pgsql-'))
    .sort()
    .reverse())
    candidates.push(path.join('/usr', d, 'bin'));
  for (const dir of candidates) if (await isPgBinDir(dir)) return dir;
  return undefined;
}

/**
 * Finds a folder with `initdb`, `pg_ctl` and `postgres`: PG_BIN_DIR, else PATH, else
 * /usr/lib/postgresql/<newest>/bin. When none exists and we are root, installs Debian's
 * `postgresql` package. As root it also makes sure the `postgres` OS user exists, because
 * the server refuses to run as root.
 */
export async function ensurePostgresBinaries(opts: ToolchainOptions = {}): Promise<string> {
  const { env, log } = envAndLog(opts);
  const chosen = await toolFromVariable(env, {
    tool: 'PostgreSQL',
    variable: 'PG_BIN_DIR',
    works: isPgBinDir,
    problem: 'does not hold initdb, pg_ctl and postgres',
    remedy: 'Point PG_BIN_DIR at the server bin folder (e.g. /usr/lib/postgresql/16/bin) or unset it',
  });
  if (chosen) return chosen;
  let dir = await findPgBinDir(env);
  if (!dir) {
    const remedy =
      'Install the PostgreSQL server (Debian/Ubuntu: `sudo apt-get install postgresql`; Fedora: `sudo dnf install postgresql-server`; macOS: `brew install postgresql@16`) or set PG_BIN_DIR to the folder holding initdb';
    const reason = 'initdb, pg_ctl and postgres were not found (PG_BIN_DIR, PATH, /usr/lib/postgresql/*/bin)';
    if (!(await canAptInstall(env, opts))) throw new ToolchainError('PostgreSQL', reason, remedy);
    const logFile = path.join(cacheRoot(env), 'logs', 'postgresql-apt.log');
    log(`Installing PostgreSQL with apt-get (about 1 min); log: ${logFile}`);
    const code = await aptInstall(['postgresql'], logFile, env);
    dir = await findPgBinDir(env);
    if (code !== 0 || !dir) {
      throw new ToolchainError('PostgreSQL', `apt-get install postgresql failed (exit ${code})`, remedy, logFile);
    }
  }
  if (isRoot()) await ensurePostgresOsUser(env);
  return dir;
}

/** The server will not run as root; as root we run it as the `postgres` user, creating it when missing. */
async function ensurePostgresOsUser(env: NodeJS.ProcessEnv): Promise<void> {
  if ((await execa('id', ['-u', 'postgres'], { reject: false, stdin: 'ignore' })).exitCode === 0) return;
  const res = await execa(
    'useradd',
    ['--system', '--user-group', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/sh', 'postgres'],
    {
      reject: false,
      stdin: 'ignore',
      env,
    },
  );
  if (res.exitCode !== 0) {
    throw new ToolchainError(
      'PostgreSQL',
      `the server cannot run as root and creating the \`postgres\` OS user failed: ${String(res.stderr).trim()}`,
      'Create a `postgres` user (useradd --system postgres) or run as a normal user',
    );
  }
}
