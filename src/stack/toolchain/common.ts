/**
 * What every tool in the toolchain shares: the cache folder and its stamp files, the error users see, logged
 * builds, PATH lookup, apt-get, and the lock that keeps two clones from building the same tool at once.
 */
import { constants as fsConstants, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The repository root (this file lives in src/stack/toolchain/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The tools {@link ensureToolchain} can resolve. */
export type ToolName = 'temporal' | 'versitygw' | 'postgres' | 'dbt' | 'ml';

/** Options for the ensure* functions. */
export interface ToolchainOptions {
  /** Which tools to resolve; default all. Tools not asked for are absent from the result. */
  tools?: readonly ToolName[];
  /** Environment to read overrides from (TEMPORAL_CLI, VERSITYGW_BIN, PG_BIN_DIR, DBT_BIN, XDG_CACHE_HOME). */
  env?: NodeJS.ProcessEnv;
  /** Progress lines (what is being built and where its log is); default console.error. */
  log?: (line: string) => void;
  /** Only look: never build or install. Missing tools then throw {@link ToolchainError}. */
  noInstall?: boolean;
}

/** A tool could not be found or installed: names the tool, the reason and what the user can do. */
export class ToolchainError extends Error {
  override name = 'ToolchainError';
  constructor(
    readonly tool: string,
    readonly reason: string,
    readonly remedy: string,
    readonly logFile?: string,
  ) {
    super(`${tool}: ${reason}. ${remedy}${logFile ? ` (build log: ${logFile})` : ''}`);
  }
}

/** `$XDG_CACHE_HOME/healthsynth`, else `~/.cache/healthsynth`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'healthsynth');
}

/** The environment and progress log an ensure* call works with (defaults: process.env, console.error). */
export function envAndLog(opts: ToolchainOptions): { env: NodeJS.ProcessEnv; log: (line: string) => void } {
  return { env: opts.env ?? process.env, log: opts.log ?? ((l: string) => console.error(l)) };
}

const STAMP = '.complete';

/** Root may install system packages; the PostgreSQL server refuses to run as root. */
export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

export async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The stamp a finished install wrote last into its cache folder; undefined for a half-finished build. */
async function readStamp(dir: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, STAMP), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function writeStamp(dir: string, info: Record<string, unknown>): Promise<void> {
  await fs.writeFile(path.join(dir, STAMP), JSON.stringify({ ...info, at: new Date().toISOString() }, null, 2) + '\n');
}

/** Runs `cmd` with output appended to `logFile`; resolves with the exit code, never rejects on failure. */
export async function runLogged(
  cmd: string,
  args: readonly string[],
  logFile: string,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<number> {
  await fs.mkdir(path.dirname(logFile), { recursive: true });
  const out = createWriteStream(logFile, { flags: 'a' });
  await new Promise<void>((resolve) => out.once('open', () => resolve()));
  out.write(`\n$ ${[cmd, ...args].join(' ')}\n`);
  const res = await execa(cmd, args, {
    env: opts.env,
    cwd: opts.cwd,
    reject: false,
    stdin: 'ignore',
    stdout: out,
    stderr: out,
  });
  const code = res.exitCode ?? 1;
  await new Promise<void>((resolve) => out.end(`exit ${code}\n`, () => resolve()));
  return code;
}

/** What a tool's variable (DBT_BIN, PG_BIN_DIR, TEMPORAL_CLI_BIN…) must pass, and what to say when it does not. */
export interface ToolVariable {
  tool: string;
  variable: string;
  works: (value: string) => Promise<boolean>;
  /** Follows `<variable>=<value> ` in the error. */
  problem: string | ((value: string) => string);
  remedy: string;
}

/**
 * The tool a variable points at: undefined when the variable is unset, its absolute path when it works, else a
 * ToolchainError, because a path the user set is a choice we must not silently replace with another tool.
 */
export async function toolFromVariable(env: NodeJS.ProcessEnv, v: ToolVariable): Promise<string | undefined> {
  const value = env[v.variable];
  if (!value) return undefined;
  if (await v.works(value)) return path.resolve(value);
  const problem = typeof v.problem === 'string' ? v.problem : v.problem(value);
  throw new ToolchainError(v.tool, `${v.variable}=${value} ${problem}`, v.remedy);
}

/**
 * True when `bin --version` (or the given args) runs and exits 0. The limit is generous: `dbt --version` imports
 * all of dbt, which took over 30 s on a busy 2-core machine, and a slow answer is not a broken tool.
 */
export async function runs(bin: string, args: readonly string[] = ['--version']): Promise<boolean> {
  const res = await execa(bin, args, { reject: false, stdin: 'ignore', timeout: 120_000 });
  return res.exitCode === 0;
}

/** Resolves a command name on PATH to an absolute path, or undefined. */
export async function which(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when system packages can be installed here: we are root and apt-get exists (and `noInstall` is off). */
export async function canAptInstall(
  env: NodeJS.ProcessEnv,
  opts: Pick<ToolchainOptions, 'noInstall'> = {},
): Promise<boolean> {
  return !opts.noInstall && isRoot() && (await which('apt-get', env)) !== undefined;
}

/**
 * `apt-get update`, then (when it worked) `apt-get install -y --no-install-recommends <packages>`, both logged to
 * `logFile`, non-interactively. Resolves with the failing step's exit code, 0 when both worked.
 */
export async function aptInstall(
  packages: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  const code = await runLogged('apt-get', ['update'], logFile, { env: aptEnv });
  if (code !== 0) return code;
  return runLogged('apt-get', ['install', '-y', '--no-install-recommends', ...packages], logFile, { env: aptEnv });
}

/**
 * Returns `bin` when cache folder `dir` holds a finished build of it (its stamp passes `stamped`), else runs `build`
 * under the folder's lock, after looking once more: another process may have finished the build meanwhile.
 */
export async function buildOnce(
  dir: string,
  bin: string,
  stamped: (stamp: Record<string, unknown> | undefined) => boolean,
  build: () => Promise<string>,
): Promise<string> {
  const built = async () => stamped(await readStamp(dir)) && (await isExecutable(bin));
  if (await built()) return bin;
  return withLock(`${dir}.lock`, async () => ((await built()) ? bin : build()));
}

/**
 * Serialises installs of one cache entry across processes (two clones running setup at once)
 * with an exclusive lock file; a lock whose owner process is gone is taken over.
 */
async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      await fs.writeFile(lockPath, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await fs.readFile(lockPath, 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (owner > 0) {
          process.kill(owner, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (!alive) {
        await fs.rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockPath} (held by pid ${owner})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}
