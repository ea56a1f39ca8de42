/**
 * What every local-stack service module gets and returns.
 */
import type { Toolchain } from './toolchain.js';
import type { Config } from '../config.js';
import { portOpen, StackError } from './process.js';
import type { ServiceName, StackState } from './state.js';

/** Everything a service's `up` function needs: settings, tool paths, prior state and callbacks. */
export interface ServiceContext {
  config: Config;
  tools: Toolchain;
  /** The state as read when `stack up` began. */
  state: StackState;
  logsDir: string;
  log: (line: string) => void;
  /** Use a compatible server already listening on the port (not started by us) instead of failing. */
  adoptForeign: boolean;
  /** Creates a folder (recursive). */
  mkdir: (dir: string) => Promise<void>;
  /** Called right after a server was spawned, so a later failure can stop it again. */
  onStarted: (name: ServiceName) => void;
}

/**
 * How `stack up` left one service: `started` now, `reused` (ours, already running) or
 * `external` (a compatible server we did not start; only with adoptForeign).
 */
export interface ServiceUp {
  name: ServiceName;
  status: 'started' | 'reused' | 'external';
  pid?: number;
  endpoint: string;
}

/** The error for a port held by a process that is not ours. */
export function portInUse(port: number, envName: string): StackError {
  return new StackError(`port ${port} is in use by another process; stop it or set ${envName}`);
}

/** The error for a server of ours that runs on another port than the configured one. */
export function movedPort(server: string, running: number, configured: number): StackError {
  return new StackError(
    `${server} of this stack runs on port ${running}, but ${configured} is configured; run \`healthsynth stack down\` first`,
  );
}

/**
 * A service's port held by a server this stack did not start: undefined when the port is free; with
 * adoptForeign, a server that `answers` is prepared (database, bucket) and used as `external`; else the
 * port-in-use error naming the variable that moves our server elsewhere.
 */
export async function foreignServer(
  ctx: ServiceContext,
  s: {
    name: ServiceName;
    port: number;
    endpoint: string;
    envName: string;
    answers: (port: number) => Promise<boolean>;
    prepare: () => Promise<void>;
  },
): Promise<ServiceUp | undefined> {
  if (!(await portOpen(s.port))) return undefined;
  if (ctx.adoptForeign && (await s.answers(s.port))) {
    await s.prepare();
    return { name: s.name, status: 'external', endpoint: s.endpoint };
  }
  throw portInUse(s.port, s.envName);
}
