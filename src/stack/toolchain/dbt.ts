/** dbt: a Python virtualenv in the cache, keyed by the hash of dbt/requirements.txt. */
import path from 'node:path';
import { REPO_ROOT, runs, toolFromVariable, type ToolchainOptions } from './common.js';
import { ensurePythonVenv, venvDir, type PythonVenvSpec } from './python-venv.js';

/**
 * dbt 1.11 is pinned in dbt/requirements.txt. dbt-core 1.12 cannot be installed here: its
 * dependency dbt-core-experimental-parser is published as an sdist only, and its build step
 * downloads a prebuilt wheel from GitHub, which the build machines cannot reach.
 */
export const DBT_SERIES = '1.11';

/** Path of the pinned dbt requirements. */
export const DBT_REQUIREMENTS = path.join(REPO_ROOT, 'dbt', 'requirements.txt');

const DBT_VENV: PythonVenvSpec = {
  tool: 'dbt',
  series: DBT_SERIES,
  requirements: DBT_REQUIREMENTS,
  binInVenv: path.join('bin', 'dbt'),
  works: (bin) => runs(bin),
  alternative: 'or set DBT_BIN',
};

/** The cache folder for the current pins: a changed requirements.txt gets a fresh virtualenv. */
export function dbtVenvDir(env: NodeJS.ProcessEnv = process.env): string {
  return venvDir(DBT_VENV, env);
}

/**
 * The dbt executable inside {@link dbtVenvDir}, whether or not it is built yet: the one place that says where
 * setup's dbt lives, read by {@link ensureDbt} and by the dbt activity (which never installs anything).
 */
export function dbtVenvBin(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dbtVenvDir(env), DBT_VENV.binInVenv);
}

/**
 * Finds or builds dbt: DBT_BIN when set, else a virtualenv under the cache folder with the exact
 * pins from dbt/requirements.txt (dbt-core, dbt-postgres and dbt-redshift 1.11.x).
 */
export async function ensureDbt(opts: ToolchainOptions = {}): Promise<string> {
  const chosen = await toolFromVariable(opts.env ?? process.env, {
    tool: 'dbt',
    variable: 'DBT_BIN',
    works: (bin) => runs(bin),
    problem: 'does not run',
    remedy: 'Point DBT_BIN at a working dbt, or unset it',
  });
  return chosen ?? ensurePythonVenv(DBT_VENV, opts);
}
