/**
 * Finds or installs the outside tools Health Synth needs locally: the Temporal CLI (dev server),
 * versitygw (S3-compatible server), the PostgreSQL server binaries and dbt.
 *
 * Builds are cached per user under `$XDG_CACHE_HOME/healthsynth/<tool>-<version>/` (default
 * `~/.cache/healthsynth/`), so a second clone reuses them. A finished install writes a stamp file
 * last; a folder without its stamp is treated as a half-finished build and redone. With
 * everything present a call takes well under a second: stamps are trusted, nothing is run.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, createWriteStream, readFileSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** Pinned tool versions: the cache folder names carry them, so a bump builds afresh. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const VERSITYGW_VERSION = '1.7.0';
/** Go needed to build the two Go tools above (their go.mod files ask for 1.25). */
export const MIN_GO = [1, 25] as const;
/**
 * dbt 1.11 is pinned in dbt/requirements.txt. dbt-core 1.12 cannot be installed here: its
 * dependency dbt-core-experimental-parser is published as an sdist only, and its build step
 * downloads a prebuilt wheel from GitHub, which the build machines cannot reach.
 */
export const DBT_SERIES = '1.11';

/** The repository root (this file lives in src/stack/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The tools {@link ensureToolchain} can resolve. */
export type ToolName = 'temporal' | 'versitygw' | 'postgres' | 'dbt';
/** Every tool, in resolution order. */
export const ALL_TOOLS: readonly ToolName[] = ['temporal', 'versitygw', 'postgres', 'dbt'];

/** Absolute paths of every resolved tool. */
export interface Toolchain {
  /** The `temporal` CLI binary. */
  temporal: string;
  /** The `versitygw` binary. */
  versitygw: string;
  /** Folder holding `initdb`, `pg_ctl` and `postgres`. */
  pgBinDir: string;
  /** The `dbt` executable (inside the cached virtualenv unless DBT_BIN is set). */
  dbt: string;
}

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

const STAMP = '.complete';
const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function readStamp(dir: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, STAMP), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function writeStamp(dir: string, info: Record<string, unknown>): Promise<void> {
  await fs.writeFile(path.join(dir, STAMP), JSON.stringify({ ...info, at: new Date().toISOString() }, null, 2) + '\n');
}

/** Runs `cmd` with output appended to `logFile`; resolves with the exit code, never rejects on failure. */
async function runLogged(
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

/** True when `bin --version` (or the given args) runs and exits 0. */
async function runs(bin: string, args: readonly string[] = ['--version']): Promise<boolean> {
  const res = await execa(bin, args, { reject: false, stdin: 'ignore', timeout: 30_000 });
  return res.exitCode === 0;
}

/** Resolves a command name on PATH to an absolute path, or undefined. */
async function which(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
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

// ---------------------------------------------------------------------------------------------
// Go-built tools: Temporal CLI and versitygw

interface GoTool {
  /** Human name used in messages. */
  label: string;
  /** Cache folder prefix and binary name. */
  name: string;
  binary: string;
  version: string;
  /** Go package to `go install`. */
  pkg: string;
  /** Go module whose version `go version -m` must report. */
  module: string;
  envVar: string;
  minutes: number;
}

const TEMPORAL_TOOL: GoTool = {
  label: 'Temporal CLI',
  name: 'temporal-cli',
  binary: 'temporal',
  version: TEMPORAL_CLI_VERSION,
  pkg: 'github.com/temporalio/cli/cmd/temporal',
  module: 'github.com/temporalio/cli',
  envVar: 'TEMPORAL_CLI',
  minutes: 3,
};

const VERSITYGW_TOOL: GoTool = {
  label: 'versitygw',
  name: 'versitygw',
  binary: 'versitygw',
  version: VERSITYGW_VERSION,
  pkg: 'github.com/versity/versitygw/cmd/versitygw',
  module: 'github.com/versity/versitygw',
  envVar: 'VERSITYGW_BIN',
  minutes: 2,
};

/** Finds a Go toolchain at least {@link MIN_GO}; returns its path, or a reason why not. */
async function findGo(env: NodeJS.ProcessEnv): Promise<{ go?: string; problem?: string }> {
  const candidates = [await which('go', env), '/usr/local/go/bin/go', path.join(os.homedir(), 'go', 'bin', 'go')];
  let problem = 'Go is not installed';
  for (const go of candidates) {
    if (!go || !(await isExecutable(go))) continue;
    const res = await execa(go, ['env', 'GOVERSION'], { reject: false, stdin: 'ignore' });
    const m = /^go(\d+)\.(\d+)/.exec(String(res.stdout).trim());
    if (!m) continue;
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major > MIN_GO[0] || (major === MIN_GO[0] && minor >= MIN_GO[1])) return { go };
    problem = `Go ${major}.${minor} at ${go} is too old`;
  }
  return { problem };
}

/** When go is at hand, confirms a cached binary was built from the expected module version. */
async function goBuildMatches(bin: string, tool: GoTool, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { go } = await findGo(env);
  if (!go) return true; // cannot check; the binary runs, which is what matters
  const res = await execa(go, ['version', '-m', bin], { reject: false, stdin: 'ignore' });
  return new RegExp(
    `\\bmod\\s+${tool.module.replace(/[.]/g, '\\.')}\\s+v${tool.version.replace(/[.]/g, '\\.')}\\b`,
  ).test(String(res.stdout));
}

async function ensureGoTool(tool: GoTool, opts: ToolchainOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => console.error(l));

  const fromEnv = env[tool.envVar];
  if (fromEnv) {
    if (await runs(fromEnv)) return path.resolve(fromEnv);
    throw new ToolchainError(
      tool.label,
      `${tool.envVar}=${fromEnv} does not run (\`${fromEnv} --version\` failed)`,
      `Point ${tool.envVar} at a working ${tool.binary} binary, or unset it to use the cached build`,
    );
  }
  const onPath = await which(tool.binary, env);
  if (onPath && (await runs(onPath))) return onPath;

  const dir = path.join(cacheRoot(env), `${tool.name}-${tool.version}`);
  const bin = path.join(dir, tool.binary);
  const stamp = await readStamp(dir);
  if (stamp?.version === tool.version && (await isExecutable(bin))) return bin;

  return withLock(`${dir}.lock`, async () => {
    if ((await readStamp(dir))?.version === tool.version && (await isExecutable(bin))) return bin;
    // A binary without a stamp was built by hand or by an older setup: adopt it only if it runs and is the right version.
    if ((await isExecutable(bin)) && (await runs(bin)) && (await goBuildMatches(bin, tool, env))) {
      await writeStamp(dir, { tool: tool.name, version: tool.version, source: 'adopted existing build' });
      return bin;
    }
    if (opts.noInstall) {
      throw new ToolchainError(
        tool.label,
        `not found (no ${tool.envVar}, no \`${tool.binary}\` on PATH, no build in ${dir})`,
        'Run `npm run setup` to build it',
      );
    }
    const { go, problem } = await findGo(env);
    if (!go) {
      throw new ToolchainError(
        tool.label,
        `${problem}`,
        `Go >= ${MIN_GO.join('.')} is needed to build the ${tool.label}, or put \`${tool.binary}\` on PATH / set ${tool.envVar}`,
      );
    }
    const logFile = path.join(cacheRoot(env), 'logs', `${tool.name}-${tool.version}.log`);
    log(`Building ${tool.label} v${tool.version} with ${go} (about ${tool.minutes} min); log: ${logFile}`);
    // Build into a scratch folder, then move the finished binary into place and stamp it.
    await fs.mkdir(cacheRoot(env), { recursive: true });
    const scratch = await fs.mkdtemp(path.join(cacheRoot(env), `.build-${tool.name}-`));
    try {
      const code = await runLogged(go, ['install', `${tool.pkg}@v${tool.version}`], logFile, {
        env: { ...env, GOBIN: scratch, CGO_ENABLED: '0', GOFLAGS: env.GOFLAGS ?? '' },
        cwd: os.tmpdir(),
      });
      const built = path.join(scratch, tool.binary);
      if (code !== 0 || !(await isExecutable(built))) {
        throw new ToolchainError(
          tool.label,
          `\`go install ${tool.pkg}@v${tool.version}\` failed (exit ${code})`,
          `Read the log, fix the cause (network to the Go module proxy, disk space) and run \`npm run setup\` again, or set ${tool.envVar}`,
          logFile,
        );
      }
      await fs.rm(dir, { recursive: true, force: true });
      await fs.mkdir(dir, { recursive: true });
      await fs.rename(built, bin);
      await writeStamp(dir, {
        tool: tool.name,
        version: tool.version,
        source: `go install ${tool.pkg}@v${tool.version}`,
      });
      log(`Built ${tool.label} v${tool.version}: ${bin}`);
      return bin;
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  });
}

/** Finds or builds the Temporal CLI: TEMPORAL_CLI, else `temporal` on PATH, else the cache, else `go install`. */
export function ensureTemporalCli(opts: ToolchainOptions = {}): Promise<string> {
  return ensureGoTool(TEMPORAL_TOOL, opts);
}

/** Finds or builds versitygw: VERSITYGW_BIN, else `versitygw` on PATH, else the cache, else `go install`. */
export function ensureVersitygw(opts: ToolchainOptions = {}): Promise<string> {
  return ensureGoTool(VERSITYGW_TOOL, opts);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL server binaries

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
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => console.error(l));
  if (env.PG_BIN_DIR) {
    if (await isPgBinDir(env.PG_BIN_DIR)) return path.resolve(env.PG_BIN_DIR);
    throw new ToolchainError(
      'PostgreSQL',
      `PG_BIN_DIR=${env.PG_BIN_DIR} does not hold initdb, pg_ctl and postgres`,
      'Point PG_BIN_DIR at the server bin folder (e.g. /usr/lib/postgresql/16/bin) or unset it',
    );
  }
  let dir = await findPgBinDir(env);
  if (!dir) {
    const remedy =
      'Install the PostgreSQL server (Debian/Ubuntu: `sudo apt-get install postgresql`; Fedora: `sudo dnf install postgresql-server`; macOS: `brew install postgresql@16`) or set PG_BIN_DIR to the folder holding initdb';
    const reason = 'initdb, pg_ctl and postgres were not found (PG_BIN_DIR, PATH, /usr/lib/postgresql/*/bin)';
    if (opts.noInstall || !isRoot() || !(await which('apt-get', env))) {
      throw new ToolchainError('PostgreSQL', reason, remedy);
    }
    const logFile = path.join(cacheRoot(env), 'logs', 'postgresql-apt.log');
    log(`Installing PostgreSQL with apt-get (about 1 min); log: ${logFile}`);
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    let code = await runLogged('apt-get', ['update'], logFile, { env: aptEnv });
    if (code === 0)
      code = await runLogged('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], logFile, {
        env: aptEnv,
      });
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

// ---------------------------------------------------------------------------------------------
// dbt (a Python virtualenv keyed by the hash of dbt/requirements.txt)

/** Path of the pinned dbt requirements. */
export const DBT_REQUIREMENTS = path.join(REPO_ROOT, 'dbt', 'requirements.txt');

/** The cache folder for the current pins: a changed requirements.txt gets a fresh virtualenv. */
export function dbtVenvDir(env: NodeJS.ProcessEnv = process.env): string {
  const hash = createHash('sha256').update(readFileSync(DBT_REQUIREMENTS)).digest('hex').slice(0, 12);
  return path.join(cacheRoot(env), `dbt-${DBT_SERIES}-${hash}`);
}

/**
 * The dbt executable inside {@link dbtVenvDir}, whether or not it is built yet: the one place that says where
 * setup's dbt lives, read by {@link ensureDbt} and by the dbt activity (which never installs anything).
 */
export function dbtVenvBin(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dbtVenvDir(env), 'bin', 'dbt');
}

async function findPython(env: NodeJS.ProcessEnv): Promise<{ python?: string; problem: string }> {
  let problem = 'python3 is not installed';
  for (const name of ['python3', 'python3.13', 'python3.12', 'python3.11', 'python3.10']) {
    const python = await which(name, env);
    if (!python) continue;
    const res = await execa(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      reject: false,
      stdin: 'ignore',
    });
    const [major, minor] = String(res.stdout).trim().split('.').map(Number);
    if (major === 3 && minor !== undefined && minor >= 10) return { python, problem: '' };
    problem = `${python} is Python ${String(res.stdout).trim()}; dbt ${DBT_SERIES} needs 3.10 or newer`;
  }
  return { problem };
}

/**
 * Finds or builds dbt: DBT_BIN when set, else a virtualenv under the cache folder with the exact
 * pins from dbt/requirements.txt (dbt-core, dbt-postgres and dbt-redshift 1.11.x).
 */
export async function ensureDbt(opts: ToolchainOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => console.error(l));
  if (env.DBT_BIN) {
    if (await runs(env.DBT_BIN)) return path.resolve(env.DBT_BIN);
    throw new ToolchainError(
      'dbt',
      `DBT_BIN=${env.DBT_BIN} does not run`,
      'Point DBT_BIN at a working dbt, or unset it',
    );
  }
  const dir = dbtVenvDir(env);
  const dbt = dbtVenvBin(env);
  const wanted = createHash('sha256').update(readFileSync(DBT_REQUIREMENTS)).digest('hex');
  const ok = async () => (await readStamp(dir))?.requirements === wanted && (await isExecutable(dbt));
  if (await ok()) return dbt;

  return withLock(`${dir}.lock`, async () => {
    if (await ok()) return dbt;
    if (opts.noInstall) throw new ToolchainError('dbt', `no virtualenv at ${dir}`, 'Run `npm run setup` to create it');
    let { python, problem } = await findPython(env);
    const logFile = path.join(cacheRoot(env), 'logs', `dbt-${DBT_SERIES}.log`);
    if (!python && isRoot() && (await which('apt-get', env))) {
      log(`Installing Python with apt-get; log: ${logFile}`);
      const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
      await runLogged('apt-get', ['update'], logFile, { env: aptEnv });
      await runLogged('apt-get', ['install', '-y', '--no-install-recommends', 'python3', 'python3-venv'], logFile, {
        env: aptEnv,
      });
      ({ python, problem } = await findPython(env));
    }
    if (!python) {
      throw new ToolchainError(
        'dbt',
        problem,
        'Install Python 3.10+ with its venv module (Debian: apt-get install python3-venv), or set DBT_BIN',
      );
    }
    log(`Creating the dbt ${DBT_SERIES} virtualenv with ${python} (about 1 min); log: ${logFile}`);
    await fs.rm(dir, { recursive: true, force: true });
    let code = await runLogged(python, ['-m', 'venv', dir], logFile, { env });
    if (code !== 0 && isRoot() && (await which('apt-get', env))) {
      // Debian splits ensurepip into python3-venv.
      const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
      await runLogged('apt-get', ['update'], logFile, { env: aptEnv });
      await runLogged('apt-get', ['install', '-y', '--no-install-recommends', 'python3-venv'], logFile, {
        env: aptEnv,
      });
      await fs.rm(dir, { recursive: true, force: true });
      code = await runLogged(python, ['-m', 'venv', dir], logFile, { env });
    }
    if (code !== 0) {
      throw new ToolchainError(
        'dbt',
        `\`${python} -m venv\` failed (exit ${code})`,
        'Install the Python venv module (Debian: apt-get install python3-venv), or set DBT_BIN',
        logFile,
      );
    }
    const pip = path.join(dir, 'bin', 'pip');
    code = await runLogged(
      pip,
      ['install', '--disable-pip-version-check', '--no-input', '-r', DBT_REQUIREMENTS],
      logFile,
      {
        env: { ...env, PIP_NO_INPUT: '1' },
      },
    );
    if (code !== 0 || !(await runs(dbt))) {
      throw new ToolchainError(
        'dbt',
        `pip install -r dbt/requirements.txt failed (exit ${code})`,
        'Read the log (network to PyPI, Python version), fix it and run `npm run setup` again, or set DBT_BIN',
        logFile,
      );
    }
    await writeStamp(dir, { tool: 'dbt', series: DBT_SERIES, requirements: wanted });
    log(`Created dbt virtualenv: ${dbt}`);
    return dbt;
  });
}

/**
 * The report chart draws its text with a system font (DejaVu Sans). Without any font, labels come
 * out as empty boxes; as root with apt-get we install fonts-dejavu-core, otherwise we only warn,
 * because everything else works without it.
 */
export async function ensureChartFonts(opts: ToolchainOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => console.error(l));
  const fcList = await which('fc-list', env);
  if (fcList) {
    const { stdout } = await execa(fcList, [':family=DejaVu Sans'], { env, reject: false });
    if (stdout.trim() !== '') return;
  }
  if (opts.noInstall || !isRoot() || !(await which('apt-get', env))) {
    log('Warning: no DejaVu Sans font found; the report chart needs one (Debian: apt-get install fonts-dejavu-core).');
    return;
  }
  const logFile = path.join(cacheRoot(env), 'logs', 'fonts-apt.log');
  await fs.mkdir(path.dirname(logFile), { recursive: true });
  log(`Installing fonts-dejavu-core with apt-get for the report chart; log: ${logFile}`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  let code = await runLogged('apt-get', ['update'], logFile, { env: aptEnv });
  if (code === 0) {
    code = await runLogged(
      'apt-get',
      ['install', '-y', '--no-install-recommends', 'fonts-dejavu-core', 'fontconfig'],
      logFile,
      {
        env: aptEnv,
      },
    );
  }
  if (code !== 0) log(`Warning: installing fonts failed (exit ${code}); see ${logFile}. The chart may lack text.`);
}

// ---------------------------------------------------------------------------------------------

/**
 * Resolves every requested tool, building or installing what is missing (unless `noInstall`).
 * The Go builds run one after the other (they share two cores); PostgreSQL and dbt alongside.
 * Idempotent: a second call with everything present only checks stamps and paths.
 */
export async function ensureToolchain(opts: ToolchainOptions = {}): Promise<Partial<Toolchain>> {
  const want = new Set(opts.tools ?? ALL_TOOLS);
  const out: Partial<Toolchain> = {};
  const goTools = (async () => {
    if (want.has('temporal')) out.temporal = await ensureTemporalCli(opts);
    if (want.has('versitygw')) out.versitygw = await ensureVersitygw(opts);
  })();
  const pg = want.has('postgres') ? ensurePostgresBinaries(opts).then((d) => (out.pgBinDir = d)) : undefined;
  const dbt = want.has('dbt') ? ensureDbt(opts).then((d) => (out.dbt = d)) : undefined;
  const fonts = ensureChartFonts(opts);
  const results = await Promise.allSettled([goTools, pg, dbt, fonts]);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join('\n'));
  return out;
}

/** Like {@link ensureToolchain} for all tools, typed as complete. */
export async function ensureFullToolchain(opts: Omit<ToolchainOptions, 'tools'> = {}): Promise<Toolchain> {
  return (await ensureToolchain({ ...opts, tools: ALL_TOOLS })) as Toolchain;
}
