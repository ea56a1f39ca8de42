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
