/**
 * What every command is built on: exit codes, where output goes ({@link CliIo}), the injected dependencies
 * ({@link CliDeps}), usage errors, `--json`, and a connected client that is always closed. Text formatting
 * (tables, durations, summaries) is in format.ts.
 *
 * Every command writes through a {@link CliIo} instead of `console`, so tests can run the real
 * commander program in-process and read exactly what a person would see.
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { ObjectStore } from '../activities/storage.js';
import { createWarehouse, type Warehouse } from '../activities/warehouse/index.js';
import { loadConfig, type Config } from '../config.js';
import { connectClient } from '../temporal.js';

/** Exit codes shared by every operator command, so scripts can branch on them. */
export const EXIT = {
  /** The command did what was asked and every workflow it waited for completed. */
  ok: 0,
  /** A workflow the command started or followed failed, or was cancelled, terminated or timed out. */
  failed: 1,
  /** Bad arguments or configuration: nothing was started. */
  usage: 2,
} as const;

/** Where a command writes, and how it reports its exit code. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is an interactive terminal (progress bars instead of plain lines). */
  isTTY: boolean;
  /** The stream progress bars draw on (cli-progress needs a real stream). */
  stream: NodeJS.WritableStream;
  setExitCode(code: number): void;
}

/** The process's own stdout/stderr; exit codes go to `process.exitCode` so pending output flushes. */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  stream: process.stdout,
  setExitCode: (code) => {
    // Never downgrade: a failure reported earlier in the same command must survive a later success.
    if (code > (process.exitCode === undefined ? 0 : Number(process.exitCode))) process.exitCode = code;
  },
};

/**
 * What the operator commands need from their surroundings. The defaults read configuration from
 * the environment and talk to the process's stdout; tests pass their own config and a capturing io.
 */
export interface CliDeps {
  io?: CliIo;
  config?: () => Config;
}

/** A usage error: printed without a stack trace and exits with {@link EXIT.usage}. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Resolves {@link CliDeps} with defaults filled in. */
export function resolveDeps(deps: CliDeps = {}): Required<CliDeps> {
  return { io: deps.io ?? processIo, config: deps.config ?? (() => loadConfig()) };
}

/**
 * Connects a client from `config`, runs `fn`, and closes the connection whatever happens, so a
 * command never leaves the process hanging on an open gRPC channel.
 */
export async function withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(config);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/**
 * Opens the configured warehouse, runs `fn`, and releases its connections whatever happens: for commands that read
 * marts (such as `risk`) without Temporal. Nothing is created or written.
 */
export async function withWarehouse<T>(config: Config, fn: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const warehouse = createWarehouse(config, ObjectStore.fromConfig(config.s3));
  try {
    return await fn(warehouse);
  } finally {
    await warehouse.close();
  }
}

/**
 * Runs a command's action, turning a {@link UsageError} into a message plus exit code 2. Other
 * errors propagate to the entry point, which prints them and exits 1.
 */
export async function runAction(io: CliIo, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`healthsynth: ${err.message}`);
      io.setExitCode(EXIT.usage);
      return;
    }
    throw err;
  }
}

/** Checks a `--limit` option: a whole number from 1 to 1000, else a {@link UsageError} naming the value. */
export function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
    throw new UsageError(`--limit must be a whole number from 1 to 1000, got "${value}"`);
  }
  return Number(value);
}

/** Prints `value` as indented JSON: the whole output of a command run with `--json`. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** Adds the shared `--json` option to a command. */
export function jsonOption(command: Command): Command {
  return command.option('--json', 'print machine-readable JSON instead of text');
}

/** A {@link CliIo} that keeps everything in memory: for tests and for embedding commands in other tools. */
export interface MemoryIo extends CliIo {
  stdout: string[];
  stderr: string[];
  exitCode: number;
  /** Everything written to stdout, joined. */
  text(): string;
}

/** Creates a {@link MemoryIo}; `isTTY` is false, so progress is written as plain lines. */
export function memoryIo(): MemoryIo {
  const io: MemoryIo = {
    stdout: [],
    stderr: [],
    exitCode: 0,
    isTTY: false,
    stream: process.stderr,
    out: (text) => void io.stdout.push(text),
    err: (text) => void io.stderr.push(text),
    setExitCode: (code) => {
      if (code > io.exitCode) io.exitCode = code;
    },
    text: () => io.stdout.join('\n'),
  };
  return io;
}
