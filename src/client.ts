/**
 * `healthsynth`: the command-line interface. Each command group lives in src/cli/ and
 * registers itself here; every command has --help.
 */
import { Command } from 'commander';
import { registerBackfillCommands } from './cli/backfill.js';
import { registerBotCommands } from './cli/bot.js';
import { registerCodecServerCommands } from './cli/codec-server.js';
import { registerFollowCommands } from './cli/follow.js';
import { registerNoticeCommands } from './cli/notice.js';
import { registerRiskCommands } from './cli/risk.js';
import { registerRunCommands } from './cli/run.js';
import { registerScheduleCommands } from './cli/schedules.js';
import { registerStatusCommands } from './cli/status.js';
import { registerStackCommands } from './cli/stack.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('healthsynth')
    .description('Health Synth: a daily healthcare data pipeline on Temporal.')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  registerRunCommands(program);
  registerStackCommands(program);
  registerScheduleCommands(program);
  registerBackfillCommands(program);
  registerFollowCommands(program);
  registerStatusCommands(program);
  registerCodecServerCommands(program);
  registerNoticeCommands(program);
  registerBotCommands(program);
  registerRiskCommands(program);
  return program;
}

async function main(): Promise<void> {
  await buildProgram().parseAsync(process.argv);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `healthsynth: ${err.message}` : err);
  process.exit(1);
});
