/** dbt: a Python virtualenv in the cache, keyed by the hash of dbt/requirements.txt. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import {
  aptInstall,
  buildOnce,
  cacheRoot,
  canAptInstall,
  envAndLog,
  REPO_ROOT,
  runLogged,
  runs,
  ToolchainError,
  toolFromVariable,
  which,
  writeStamp,
  type ToolchainOptions,
} from './common.js';

/**
 * dbt 1.11 is pinned in dbt/requirements.txt. dbt-core 1.12 cannot be installed here: its
 * dependency dbt-core-experimental-parser is published as an sdist only, and its build step
 * downloads a prebuilt wheel from GitHub, which the build machines cannot reach.
 */
export const DBT_SERIES = '1.11';

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
  const { env, log } = envAndLog(opts);
  const chosen = await toolFromVariable(env, {
    tool: 'dbt',
    variable: 'DBT_BIN',
    works: (bin) => runs(bin),
    problem: 'does not run',
    remedy: 'Point DBT_BIN at a working dbt, or unset it',
  });
  if (chosen) return chosen;
  const dir = dbtVenvDir(env);
  const dbt = dbtVenvBin(env);
  const wanted = createHash('sha256').update(readFileSync(DBT_REQUIREMENTS)).digest('hex');
  return buildOnce(
    dir,
    dbt,
    (stamp) => stamp?.requirements === wanted,
    async () => {
      if (opts.noInstall)
        throw new ToolchainError('dbt', `no virtualenv at ${dir}`, 'Run `npm run setup` to create it');
      let { python, problem } = await findPython(env);
      const logFile = path.join(cacheRoot(env), 'logs', `dbt-${DBT_SERIES}.log`);
      if (!python && (await canAptInstall(env))) {
        log(`Installing Python with apt-get; log: ${logFile}`);
        await aptInstall(['python3', 'python3-venv'], logFile, env);
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
      if (code !== 0 && (await canAptInstall(env))) {
        // Debian splits ensurepip into python3-venv.
        await aptInstall(['python3-venv'], logFile, env);
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
    },
  );
}
