/**
 * The no-show model's Python: a virtualenv in the cache with the exact pins of ml/requirements.txt (scikit-learn,
 * skops), built like dbt's and keyed by the hash of its requirements, so a changed pin builds a fresh one.
 */
import path from 'node:path';
import { REPO_ROOT, runs, type ToolchainOptions } from './common.js';
import { ensurePythonVenv, venvDir, type PythonVenvSpec } from './python-venv.js';

/** The model toolchain's series: scikit-learn's minor version, which the saved models depend on. */
export const ML_SERIES = 'sklearn-1.9';

/** Path of the pinned model requirements. */
export const ML_REQUIREMENTS = path.join(REPO_ROOT, 'ml', 'requirements.txt');

/** The model script the predict activities run (a pure function from input files to output files). */
export const ML_SCRIPT = path.join(REPO_ROOT, 'ml', 'no_show.py');

/**
 * The environment the script runs with, in the activities and in tests. One OpenMP thread: on the shared 2-core
 * machine under load, scikit-learn's spinning threads made a 20k-row fit take 40 s instead of 2.8 s (measured
 * 2026-12-03 at load average 14), and a 12,000-row unit test 70 s in CI. A fixed hash seed.
 */
export const ML_SCRIPT_ENV = { OMP_NUM_THREADS: '1', PYTHONHASHSEED: '0' } as const;

const ML_VENV: PythonVenvSpec = {
  tool: 'ml',
  series: ML_SERIES,
  requirements: ML_REQUIREMENTS,
  binInVenv: path.join('bin', 'python'),
  works: (bin) => runs(bin, ['-c', 'import sklearn, skops']),
  alternative: 'or set ML_PYTHON to a Python with ml/requirements.txt installed',
};

/** The Python inside the model's virtualenv, whether or not it is built yet (the activity never installs). */
export function mlVenvPython(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(venvDir(ML_VENV, env), ML_VENV.binInVenv);
}

/** Finds or builds the model's virtualenv (see {@link ensurePythonVenv}); returns its Python. */
export async function ensureMl(opts: ToolchainOptions = {}): Promise<string> {
  return ensurePythonVenv(ML_VENV, opts);
}
