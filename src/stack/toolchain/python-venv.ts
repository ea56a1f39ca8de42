/**
 * A Python virtualenv in the cache, keyed by the hash of a pinned requirements file: what dbt and the no-show model
 * both run in. A changed requirements file gets a fresh virtualenv; a finished one is found by its stamp.
 */
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
  runLogged,
  ToolchainError,
  which,
  writeStamp,
  type ToolchainOptions,
} from './common.js';

/** One pinned Python environment: its name in messages and the cache, the requirements, and how to check it works. */
export interface PythonVenvSpec {
  /** The tool's name in errors and the cache folder (`<tool>-<series>-<hash>`). */
  tool: string;
  series: string;
  requirements: string;
  /** The file inside the virtualenv that proves it is built (an executable). */
  binInVenv: string;
  /** True when the built virtualenv works (for example `dbt --version` exits 0). */
  works: (bin: string) => Promise<boolean>;
  /** What a user can do when the build fails besides running setup again (for example "or set DBT_BIN"). */
  alternative: string;
}

/** The sha256 of a requirements file: the cache key's source (its first 12 hex digits name the folder). */
export function requirementsHash(requirements: string): string {
  return createHash('sha256').update(readFileSync(requirements)).digest('hex');
}

/** The cache folder for a spec's current pins. */
export function venvDir(
  spec: Pick<PythonVenvSpec, 'tool' | 'series' | 'requirements'>,
  env: NodeJS.ProcessEnv,
): string {
  return path.join(cacheRoot(env), `${spec.tool}-${spec.series}-${requirementsHash(spec.requirements).slice(0, 12)}`);
}

async function findPython(env: NodeJS.ProcessEnv, tool: string): Promise<{ python?: string; problem: string }> {
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
    problem = `${python} is Python ${String(res.stdout).trim()}; ${tool} needs 3.10 or newer`;
  }
  return { problem };
}

/**
 * Finds or builds the virtualenv of `spec`: `python -m venv`, then `pip install -r <requirements>` (installing
 * Python with apt-get when run as root and it is missing). Idempotent and safe across processes: a finished build
 * is found by its stamp, and two builds of the same folder never run at once.
 */
export async function ensurePythonVenv(spec: PythonVenvSpec, opts: ToolchainOptions = {}): Promise<string> {
  const { env, log } = envAndLog(opts);
  const dir = venvDir(spec, env);
  const bin = path.join(dir, spec.binInVenv);
  const wanted = requirementsHash(spec.requirements);
  const rel = path.relative(path.dirname(path.dirname(spec.requirements)), spec.requirements);
  return buildOnce(
    dir,
    bin,
    (stamp) => stamp?.requirements === wanted,
    async () => {
      if (opts.noInstall)
        throw new ToolchainError(spec.tool, `no virtualenv at ${dir}`, 'Run `npm run setup` to create it');
      let { python, problem } = await findPython(env, spec.tool);
      const logFile = path.join(cacheRoot(env), 'logs', `${spec.tool}-${spec.series}.log`);
      if (!python && (await canAptInstall(env))) {
        log(`Installing Python with apt-get; log: ${logFile}`);
        await aptInstall(['python3', 'python3-venv'], logFile, env);
        ({ python, problem } = await findPython(env, spec.tool));
      }
      if (!python) {
        throw new ToolchainError(
          spec.tool,
          problem,
          `Install Python 3.10+ with its venv module (Debian: apt-get install python3-venv), ${spec.alternative}`,
        );
      }
      log(`Creating the ${spec.tool} ${spec.series} virtualenv with ${python} (about 1 min); log: ${logFile}`);
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
          spec.tool,
          `\`${python} -m venv\` failed (exit ${code})`,
          `Install the Python venv module (Debian: apt-get install python3-venv), ${spec.alternative}`,
          logFile,
        );
      }
      const pip = path.join(dir, 'bin', 'pip');
      code = await runLogged(
        pip,
        ['install', '--disable-pip-version-check', '--no-input', '-r', spec.requirements],
        logFile,
        { env: { ...env, PIP_NO_INPUT: '1' } },
      );
      if (code !== 0 || !(await spec.works(bin))) {
        throw new ToolchainError(
          spec.tool,
          `pip install -r ${rel} failed (exit ${code})`,
          `Read the log (network to PyPI, Python version), fix it and run \`npm run setup\` again, ${spec.alternative}`,
          logFile,
        );
      }
      await writeStamp(dir, { tool: spec.tool, series: spec.series, requirements: wanted });
      log(`Created ${spec.tool} virtualenv: ${bin}`);
      return bin;
    },
  );
}
