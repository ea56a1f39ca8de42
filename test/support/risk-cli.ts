/** Runs the real `healthsynth risk` command in-process, for the CLI test and the predict test. */
import { Command } from 'commander';
import { memoryIo, type MemoryIo } from '../../src/cli/command.js';
import { registerRiskCommands } from '../../src/cli/risk.js';
import type { Config } from '../../src/config.js';

/** `healthsynth risk <args>` with `config`; returns what it printed and its exit code. */
export async function risk(config: Config, args: string[]): Promise<MemoryIo> {
  const io = memoryIo();
  const program = new Command().exitOverride();
  registerRiskCommands(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', 'risk', ...args]);
  return io;
}
