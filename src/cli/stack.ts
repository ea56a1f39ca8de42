/**
 * `healthsynth stack up|down|env|status`: the local stack (Temporal, PostgreSQL, S3) on loopback.
 */
import type { Command } from 'commander';
import { stackDown, stackEnv, stackStatus, stackUp } from '../stack/index.js';

/** Registers the `stack` command group on the program (called by src/client.ts). */
export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description('Run the local stack: Temporal dev server, PostgreSQL and an S3 server, on 127.0.0.1 only.');

  stack
    .command('up')
    .description('Start the local stack (builds missing tools first), or reuse what is already running.')
    .action(async () => {
      const res = await stackUp({ log: (l) => console.log(l) });
      for (const s of res.services) {
        console.log(`${s.name.padEnd(9)} ${s.status.padEnd(8)} ${s.endpoint}${s.pid ? ` (pid ${s.pid})` : ''}`);
      }
      console.log(`Temporal Web UI: ${res.uiUrl}`);
      console.log(
        `Stack ready in ${(res.elapsedMs / 1000).toFixed(1)} s. \`healthsynth stack env\` prints its settings.`,
      );
    });

  stack
    .command('down')
    .description('Stop the servers `stack up` started (never anything else).')
    .action(async () => {
      const stopped = await stackDown({ log: (l) => console.log(l) });
      if (stopped.length === 0) console.log('Nothing of ours was running.');
    });

  stack
    .command('env')
    .description('Print KEY=VALUE lines that point a shell, a worker or the tests at the local stack.')
    .option('--export', 'prefix each line with `export ` for `eval "$(healthsynth stack env --export)"`')
    .action(async (opts: { export?: boolean }) => {
      const env = await stackEnv();
      for (const [k, v] of Object.entries(env)) console.log(`${opts.export ? 'export ' : ''}${k}=${v}`);
    });

  stack
    .command('status')
    .description('Show which local servers are running.')
    .action(async () => {
      const status = await stackStatus();
      for (const s of status) {
        const note = s.state === 'foreign' ? 'port held by a process this stack did not start' : '';
        console.log(
          `${s.name.padEnd(9)} ${s.state.padEnd(8)} ${s.endpoint}${s.pid ? ` (pid ${s.pid})` : ''} ${note}`.trimEnd(),
        );
      }
    });
}
