/**
 * `healthsynth stack up|down|env|status`: the local stack (Temporal, PostgreSQL, S3, Telegram emulator) on loopback.
 */
import type { Command } from 'commander';
import { stackDown, stackEnv, stackStatus, stackUp } from '../stack/index.js';
import { resolveDeps, runAction, type CliDeps } from './command.js';

/** Registers the `stack` command group on the program (called by src/client.ts). */
export function registerStackCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  const log = (line: string) => io.out(line);
  const stack = program
    .command('stack')
    .description(
      'Run the local stack: Temporal dev server, PostgreSQL, an S3 server and a Telegram Bot API emulator, on 127.0.0.1 only.',
    );

  stack
    .command('up')
    .description('Start the local stack (builds missing tools first), or reuse what is already running.')
    .action(() =>
      runAction(io, async () => {
        const res = await stackUp({ config: getConfig(), log });
        for (const s of res.services) {
          io.out(`${s.name.padEnd(9)} ${s.status.padEnd(8)} ${s.endpoint}${s.pid ? ` (pid ${s.pid})` : ''}`);
        }
        io.out(`Temporal Web UI: ${res.uiUrl}`);
        io.out(`Stack ready in ${(res.elapsedMs / 1000).toFixed(1)} s. \`healthsynth stack env\` prints its settings.`);
      }),
    );

  stack
    .command('down')
    .description('Stop the servers `stack up` started (never anything else).')
    .action(() =>
      runAction(io, async () => {
        const stopped = await stackDown({ config: getConfig(), log });
        if (stopped.length === 0) io.out('Nothing of ours was running.');
      }),
    );

  stack
    .command('env')
    .description('Print KEY=VALUE lines that point a shell, a worker or the tests at the local stack.')
    .option('--export', 'prefix each line with `export ` for `eval "$(healthsynth stack env --export)"`')
    .action((opts: { export?: boolean }) =>
      runAction(io, async () => {
        const env = await stackEnv({ config: getConfig() });
        for (const [k, v] of Object.entries(env)) io.out(`${opts.export ? 'export ' : ''}${k}=${v}`);
      }),
    );

  stack
    .command('status')
    .description('Show which local servers are running.')
    .action(() =>
      runAction(io, async () => {
        for (const s of await stackStatus({ config: getConfig() })) {
          const note = s.state === 'foreign' ? 'port held by a process this stack did not start' : '';
          io.out(
            `${s.name.padEnd(9)} ${s.state.padEnd(8)} ${s.endpoint}${s.pid ? ` (pid ${s.pid})` : ''} ${note}`.trimEnd(),
          );
        }
      }),
    );
}
