/**
 * The local stack: Temporal dev server, PostgreSQL, an S3-compatible server and a Telegram Bot API emulator, all on loopback,
 * with data under the data folder (`.data/` by default), logs under `.data/logs/` and what we
 * started in `.data/stack/state.json`. Servers run detached and outlive the command that started
 * them; `stackDown` stops only what `stackUp` started.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureFullToolchain, ensurePostgresBinaries, ensureToolchain, type Toolchain } from './toolchain.js';
import { type Config, LOCAL, loadConfig } from '../config.js';
import { portOpen, processAlive, stopProcess, StackError } from './process.js';
import { clusterDir, postgresDown, postgresRunning, postgresUp } from './postgres.js';
import { s3Up } from './s3.js';
import type { ServiceContext, ServiceUp } from './service.js';
import { readState, SERVICE_NAMES, type ServiceName, updateState } from './state.js';
import { TELEGRAM_EMULATOR_MARK, telegramUp } from './telegram.js';
import { temporalUp } from './temporal.js';

export { StackError } from './process.js';
export type { ServiceUp } from './service.js';
export type { ServiceName } from './state.js';

/** Options every stack function takes. */
export interface StackOptions {
  /** Default: loadConfig() (ports follow HEALTHSYNTH_*_PORT, data under HEALTHSYNTH_DATA_DIR). */
  config?: Config;
  /** Progress lines; default console.error. */
  log?: (line: string) => void;
}

/** Options for `stackUp`. */
export interface StackUpOptions extends StackOptions {
  /**
   * Use a compatible server that already listens on a port (started by hand, not by us) instead
   * of failing. The test harness sets this; `healthsynth stack up` does not.
   */
  adoptForeign?: boolean;
}

/** What `stackUp` did per service, plus the environment and tools that go with the stack. */
export interface StackUpResult {
  services: ServiceUp[];
  /** The environment that points a worker, the CLI or the tests at this stack. */
  env: Record<string, string>;
  uiUrl: string;
  tools: Toolchain;
  elapsedMs: number;
}

/**
 * Brings the local stack up: resolves (and if needed builds) the toolchain, then starts or reuses
 * Temporal, PostgreSQL, S3 and the Telegram emulator in parallel and waits until each answers. If one fails, the servers
 * this call started are stopped again before the error is thrown.
 */
export async function stackUp(opts: StackUpOptions = {}): Promise<StackUpResult> {
  const started = Date.now();
  const config = opts.config ?? loadConfig();
  const log = opts.log ?? ((l: string) => console.error(l));
  const tools = await ensureFullToolchain({ log });
  const logsDir = path.join(config.dataDir, 'logs');
  await fs.mkdir(logsDir, { recursive: true });
  const startedNow: ServiceName[] = [];
  const ctx: ServiceContext = {
    config,
    tools,
    state: await readState(config.dataDir),
    logsDir,
    log,
    adoptForeign: opts.adoptForeign ?? false,
    mkdir: async (dir) => void (await fs.mkdir(dir, { recursive: true })),
    onStarted: (name) => startedNow.push(name),
  };
  const results = await Promise.allSettled([temporalUp(ctx), postgresUp(ctx), s3Up(ctx), telegramUp(ctx)]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length > 0) {
    if (startedNow.length > 0) {
      log(`Stopping what this attempt started: ${startedNow.join(', ')}`);
      await stackDown({ config, log, only: startedNow }).catch((err: unknown) =>
        log(`  (cleanup failed: ${String(err)})`),
      );
    }
    if (failures.length === 1) throw failures[0];
    throw new StackError(failures.map((f) => f.message).join('\n'));
  }
  const services = results.map((r) => (r as PromiseFulfilledResult<ServiceUp>).value);
  return {
    services,
    env: localStackEnv(config, tools),
    uiUrl: `http://127.0.0.1:${config.localPorts.temporalUi}`,
    tools,
    elapsedMs: Date.now() - started,
  };
}

/** What each service's process has in its command line, to tell it from a recycled pid. */
const processMark: Record<Exclude<ServiceName, 'postgres'>, string> = {
  temporal: 'temporal',
  s3: 'versitygw',
  telegram: TELEGRAM_EMULATOR_MARK,
};

/** Options for `stackDown`. */
export interface StackDownOptions extends StackOptions {
  /** Stop only these services (the test harness stops only what it started). Default: all of ours. */
  only?: readonly ServiceName[];
  /** Stop PostgreSQL with `pg_ctl stop -m immediate` (a crash: no shutdown checkpoint) instead of `-m fast`. */
  immediate?: boolean;
}

/**
 * Stops the servers recorded in the state file (SIGTERM to the process group, then SIGKILL after
 * a grace period; PostgreSQL through `pg_ctl stop -m fast`, or `-m immediate` when asked). Never touches a
 * process it did not start.
 * Returns the services that were running and are now stopped.
 */
export async function stackDown(opts: StackDownOptions = {}): Promise<ServiceName[]> {
  const config = opts.config ?? loadConfig();
  const log = opts.log ?? ((l: string) => console.error(l));
  const state = await readState(config.dataDir);
  const wanted = new Set(opts.only ?? SERVICE_NAMES);
  const stopped: ServiceName[] = [];
  await Promise.all(
    SERVICE_NAMES.filter((n) => wanted.has(n)).map(async (name) => {
      const rec = state.services[name];
      let wasRunning = false;
      if (name === 'postgres') {
        // Our cluster folder is known even without a state entry (e.g. the state file was deleted).
        const dir = rec?.dir ?? (await clusterDir(config.dataDir));
        const binDir = rec?.pgBinDir ?? (await ensurePostgresBinaries({ noInstall: true }).catch(() => undefined));
        if (binDir) wasRunning = await postgresDown(dir, binDir, opts.immediate ? 'immediate' : 'fast');
      } else if (rec && processAlive(rec.pid, processMark[name])) {
        wasRunning = true;
        const gone = await stopProcess(rec.pid, processMark[name]);
        if (!gone) throw new StackError(`${name} (pid ${rec.pid}) did not stop after SIGKILL`);
      }
      await updateState(config.dataDir, (s) => void delete s.services[name]);
      if (wasRunning) {
        stopped.push(name);
        log(`Stopped ${name}`);
      }
    }),
  );
  return stopped;
}

/** One line of `stack status`. */
export interface ServiceStatus {
  name: ServiceName;
  /** running: ours and answering; stopped: nothing on the port; foreign: the port is held by a process we did not start. */
  state: 'running' | 'stopped' | 'foreign';
  pid?: number;
  endpoint: string;
}

/** Reports each service of the local stack without changing anything. */
export async function stackStatus(opts: StackOptions = {}): Promise<ServiceStatus[]> {
  const config = opts.config ?? loadConfig();
  const state = await readState(config.dataDir);
  const p = config.localPorts;
  const pgRun = await postgresRunning(config.dataDir);
  const check = async (
    name: ServiceName,
    port: number,
    endpoint: string,
    pid: number | undefined,
  ): Promise<ServiceStatus> => {
    const open = await portOpen(port);
    if (pid !== undefined && open) return { name, state: 'running', pid, endpoint };
    return { name, state: open ? 'foreign' : 'stopped', endpoint };
  };
  const alive = (name: 'temporal' | 's3' | 'telegram', expect: string) => {
    const rec = state.services[name];
    return rec && processAlive(rec.pid, expect) ? rec.pid : undefined;
  };
  return Promise.all([
    check(
      'temporal',
      p.temporal,
      `127.0.0.1:${p.temporal} (Web UI http://127.0.0.1:${p.temporalUi})`,
      alive('temporal', 'temporal'),
    ),
    check('postgres', p.postgres, `127.0.0.1:${p.postgres}`, pgRun?.port === p.postgres ? pgRun.pid : undefined),
    check('s3', p.s3, `http://127.0.0.1:${p.s3}`, alive('s3', 'versitygw')),
    check('telegram', p.telegram, `http://127.0.0.1:${p.telegram}`, alive('telegram', TELEGRAM_EMULATOR_MARK)),
  ]);
}

/**
 * The environment variables that point at the local stack on `config`'s ports. DBT_BIN and
 * TEMPORAL_CLI are the toolchain's paths (empty when a tool is not installed yet).
 */
export function localStackEnv(config: Config, tools: Partial<Toolchain>): Record<string, string> {
  const p = config.localPorts;
  return {
    TEMPORAL_ADDRESS: `127.0.0.1:${p.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_UI_URL: `http://127.0.0.1:${p.temporalUi}`,
    DATABASE_URL: `postgres://${LOCAL.postgresUser}:${LOCAL.postgresPassword}@127.0.0.1:${p.postgres}/${LOCAL.postgresDatabase}`,
    S3_ENDPOINT: `http://127.0.0.1:${p.s3}`,
    S3_BUCKET: LOCAL.s3Bucket,
    S3_REGION: LOCAL.s3Region,
    S3_ACCESS_KEY_ID: LOCAL.s3AccessKey,
    S3_SECRET_ACCESS_KEY: LOCAL.s3SecretKey,
    S3_FORCE_PATH_STYLE: 'true',
    DBT_BIN: tools.dbt ?? '',
    TEMPORAL_CLI: tools.temporal ?? '',
  };
}

/** {@link localStackEnv} with whatever tools are already installed (builds nothing). */
export async function stackEnv(opts: StackOptions = {}): Promise<Record<string, string>> {
  const config = opts.config ?? loadConfig();
  const tools: Partial<Toolchain> = {};
  for (const tool of ['temporal', 'dbt'] as const) {
    Object.assign(tools, await ensureToolchain({ tools: [tool], noInstall: true }).catch(() => ({})));
  }
  return localStackEnv(config, tools);
}
