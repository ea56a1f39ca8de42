/**
 * What every local-stack service module gets and returns.
 */
import type { Toolchain } from './toolchain.js';
import type { Config } from '../config.js';
import { StackError } from './process.js';
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
