/**
 * How runDbt invokes dbt: the project directory, the executable, the profile target and the environment variables
 * dbt/profiles.yml reads. Pure functions of the config and the environment; nothing here starts a process.
 */
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
export function resolveDbtBin(config: Pick<Config, 'dbt'>, env: NodeJS.ProcessEnv = process.env): string {
  return config.dbt.bin ?? (env.DBT_BIN?.trim() || undefined) ?? dbtVenvBin(env);
}

/** The dbt target in profiles.yml for the configured warehouse. */
export function dbtTarget(config: Pick<Config, 'warehouse'>): 'local' | 'redshift' {
  return config.warehouse.kind === 'redshift' ? 'redshift' : 'local';
}

/**
 * Environment variables read by dbt/profiles.yml, derived from the config: DATABASE_URL becomes DBT_PG_*,
 * the Redshift settings become DBT_REDSHIFT_*. Settings the app config has no field for (the Redshift host,
 * a password for method `database`) pass through from the worker's environment unchanged.
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
