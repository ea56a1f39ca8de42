/**
 * How runDbt invokes dbt: the project directory, the executable, the profile target and the environment variables
 * dbt/profiles.yml reads. Pure functions of the config and the environment; nothing here starts a process.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { dbtVenvBin } from '../stack/toolchain.js';

/** The dbt project directory (holds dbt_project.yml and profiles.yml), independent of the worker's cwd. */
export const DBT_PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dbt');

/**
 * The dbt executable: `config.dbt.bin` (DBT_BIN), else the DBT_BIN environment variable, else the virtualenv that
 * `npm run setup` builds for the pinned requirements ({@link dbtVenvBin}: the toolchain's own lookup, so no
 * environment variable is needed). A bare name (`dbt`) is looked up on PATH. Only looks: runDbt reports a missing
 * dbt as DbtNotInstalled and never installs one.
 */
export function resolveDbtBin(config: { dbt: Partial<Config['dbt']> }, env: NodeJS.ProcessEnv = process.env): string {
  return config.dbt.bin ?? (env.DBT_BIN?.trim() || undefined) ?? dbtVenvBin(env);
}

/** The dbt target in profiles.yml for the configured warehouse. */
export function dbtTarget(config: Pick<Config, 'warehouse'>): 'local' | 'redshift' {
  return config.warehouse.kind === 'redshift' ? 'redshift' : 'local';
}

/**
 * Environment variables read by dbt/profiles.yml, derived from the config: DATABASE_URL becomes DBT_PG_*,
 * the Redshift settings become DBT_REDSHIFT_*; PostgreSQL sessions get PGOPTIONS `-c jit=off`. Settings the app
 * config has no field for (the Redshift host, a password for method `database`) pass through from the worker's
 * environment unchanged.
 */
export function dbtProfileEnv(
  config: Pick<Config, 'warehouse' | 'dbt'>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {
    DBT_TARGET: dbtTarget(config),
    DBT_THREADS: String(config.dbt.threads),
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DBT_VERSION_CHECK: 'false',
  };
  const wh = config.warehouse;
  if (wh.kind === 'postgres') {
    const url = new URL(wh.databaseUrl);
    out.DBT_PG_HOST = url.hostname.replace(/^\[|\]$/g, '');
    out.DBT_PG_PORT = url.port || '5432';
    out.DBT_PG_USER = decodeURIComponent(url.username);
    out.DBT_PG_PASSWORD = decodeURIComponent(url.password);
    out.DBT_PG_DATABASE = decodeURIComponent(url.pathname.replace(/^\//, '')) || out.DBT_PG_USER;
    const sslmode = url.searchParams.get('sslmode');
    if (sslmode) out.DBT_PG_SSLMODE = sslmode;
    // dbt's sessions run without PostgreSQL's JIT compilation. The marts' plans cost far above jit_above_cost, so
    // every build compiled each query first: 2.1 of no_show_features' 7.1 s at 120 medium days, and slower with JIT
    // than without in every mart measured (README, "Cost with history"). An operator's PGOPTIONS is kept, and one
    // that sets jit itself wins.
    const own = (env.PGOPTIONS ?? '').trim();
    out.PGOPTIONS = /\bjit\s*=/.test(own) ? own : `${own} -c jit=off`.trim();
  } else {
    out.DBT_REDSHIFT_DATABASE = wh.database;
    out.DBT_REDSHIFT_REGION = wh.region;
    out.DBT_REDSHIFT_METHOD = env.DBT_REDSHIFT_METHOD ?? 'iam';
    if (wh.clusterId) out.DBT_REDSHIFT_CLUSTER_ID = wh.clusterId;
    if (wh.workgroup) out.DBT_REDSHIFT_WORKGROUP = wh.workgroup;
    if (wh.dbUser) out.DBT_REDSHIFT_USER = wh.dbUser;
  }
  // Pass-through (and explicit overrides) of every DBT_REDSHIFT_* / DBT_PG_* the operator set.
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && /^DBT_(REDSHIFT|PG)_/.test(name) && !(name in out)) out[name] = value;
  }
  return out;
}

/**
 * What a build covers.
 * - `day` (the daily pipeline): selector `daily` in dbt/selectors.yml (every model the marts read, no unit tests),
 *   incremental models add the run date's batch, and data tests look at that batch only (dbt/macros/batch_tests.sql).
 * - `full` (the default: CI, `healthsynth` by hand, the weekly dbt-full-refresh): every model and every test,
 *   unit tests included; with `fullRefresh` the incremental models are rebuilt from raw.
 */
export type DbtScope = 'day' | 'full';

/** A `dbt build` command line: arguments, the variables it passes in the environment, and how to show it. */
export interface DbtBuildCommand {
  args: string[];
  env: Record<string, string>;
  /** The command as a person would type it (no secrets: those are only in the profile environment). */
  command: string;
}

/**
 * The `dbt build` for a run date and scope. A day's build passes the run date in the environment (DBT_RUN_DATE, read
 * by dbt/macros/run_date.sql at execution time) rather than as `--vars`: dbt re-parses the whole project whenever
 * `--vars` change, and a new run date every day would throw away the partial parse that keeps dbt's fixed cost down.
 */
export function dbtBuildCommand(
  target: string,
  {
    runDate,
    scope = 'full',
    select,
    fullRefresh,
  }: { runDate: string; scope?: DbtScope; select?: string; fullRefresh?: boolean },
): DbtBuildCommand {
  const selectArgs = select?.trim() ? ['--select', ...select.trim().split(/\s+/)] : [];
  const refreshArgs = fullRefresh ? ['--full-refresh'] : [];
  if (scope === 'day') {
    const env = { DBT_RUN_DATE: runDate, DBT_TEST_SCOPE: 'batch' };
    const args = ['build', '--target', target, ...(selectArgs.length > 0 ? selectArgs : ['--selector', 'daily'])];
    args.push(...refreshArgs);
    const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return { args, env, command: `${shown.join(' ')} dbt ${args.join(' ')}` };
  }
  // A full refresh keeps doctor_rating's past rankings (var keep_rankings): they cannot be rebuilt from one run.
  const vars = fullRefresh ? { run_date: runDate, keep_rankings: true } : { run_date: runDate };
  const args = ['build', '--target', target, '--vars', JSON.stringify(vars), ...selectArgs, ...refreshArgs];
  return { args, env: {}, command: `dbt ${args.join(' ')}` };
}

/**
 * A hash of the dbt project's files (models, macros, tests, YAML; not dbt's own output folders): the partial-parse
 * state of one version of the project never serves another.
 */
export async function dbtProjectHash(dir: string = DBT_PROJECT_DIR): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (folder: string): Promise<void> => {
    const entries = (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (!['target', 'logs', 'dbt_packages'].includes(entry.name)) await walk(full);
      } else if (entry.isFile()) {
        hash
          .update(path.relative(dir, full))
          .update('\0')
          .update(await readFile(full))
          .update('\0');
      }
    }
  };
  await walk(dir);
  return hash.digest('hex').slice(0, 12);
}

/**
 * Where dbt's partial-parse state is kept between runs: `<dataDir>/dbt/parse-<target>-<key>/partial_parse.msgpack`.
 * The key hashes everything dbt checks before it reuses a saved manifest: the project's files
 * ({@link dbtProjectHash}), the `--vars` of the command, the profile's settings (the connection: one state per
 * warehouse) and the dbt executable (its version). Every run writes its own target directory; runDbt seeds dbt with
 * this file (`--partial-parse-file-path`) and saves the run's back. Since a state found under its key matches the
 * project and settings exactly, the run also skips dbt's file diff (`--no-partial-parse-file-diff`).
 */
export function dbtParseStatePath(
  config: Pick<Config, 'warehouse' | 'dataDir'>,
  parts: { projectHash: string; args: readonly string[]; profileEnv: Record<string, string>; bin: string },
): string {
  const vars = parts.args[parts.args.indexOf('--vars') + 1] ?? '';
  const key = createHash('sha256')
    .update(JSON.stringify([parts.projectHash, parts.args.includes('--vars') ? vars : '', parts.bin]))
    .update(JSON.stringify(Object.entries(parts.profileEnv).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
  return path.join(config.dataDir, 'dbt', `parse-${dbtTarget(config)}-${key}`, 'partial_parse.msgpack');
}
