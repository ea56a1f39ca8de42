/**
 * What `stack up` started, kept in `<dataDir>/stack/state.json`, so a later `stack up` reuses
 * our running servers and `stack down` stops exactly those and nothing else.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** The servers of the local stack. */
export type ServiceName = 'temporal' | 'postgres' | 's3' | 'telegram';
/** Every service, in the order they are reported. */
export const SERVICE_NAMES: readonly ServiceName[] = ['temporal', 'postgres', 's3', 'telegram'];

/** One service we started: its pid (the process group leader) and where it listens. */
export interface ServiceRecord {
  pid: number;
  port: number;
  startedAt: string;
  logFile: string;
  /** Temporal: Web UI and metrics ports. */
  uiPort?: number;
  metricsPort?: number;
  /** PostgreSQL: the cluster folder (pg_ctl -D). S3: the bucket root folder. Telegram: the journal folder. */
  dir?: string;
  /** PostgreSQL: the folder holding pg_ctl, for stopping it. */
  pgBinDir?: string;
  /** The binary, to recognise the process (pid reuse). */
  bin: string;
}

/** The contents of state.json (versioned so a future layout can be told apart). */
export interface StackState {
  version: 1;
  services: Partial<Record<ServiceName, ServiceRecord>>;
}

/** Where the state lives: `<dataDir>/stack/state.json`. */
export const stateFile = (dataDir: string): string => path.join(dataDir, 'stack', 'state.json');

/** Reads the state file; a missing or unreadable file means nothing of ours is running. */
export async function readState(dataDir: string): Promise<StackState> {
  try {
    const parsed = JSON.parse(await fs.readFile(stateFile(dataDir), 'utf8')) as StackState;
    if (parsed.version === 1 && typeof parsed.services === 'object') return parsed;
  } catch {
    /* no state yet */
  }
  return { version: 1, services: {} };
}

/** Writes the state atomically (temp file + rename) so a crash never leaves half a file. */
export async function writeState(dataDir: string, state: StackState): Promise<void> {
  const file = stateFile(dataDir);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await fs.rename(tmp, file);
}

let queue: Promise<unknown> = Promise.resolve();
/** Re-reads, applies `change` and writes back, one change at a time: services start in parallel and each records itself. */
export function updateState(dataDir: string, change: (state: StackState) => void): Promise<void> {
  const next = queue.then(async () => {
    const state = await readState(dataDir);
    change(state);
    await writeState(dataDir, state);
  });
  queue = next.catch(() => undefined);
  return next;
}
