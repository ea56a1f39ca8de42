/**
 * `--worker auto|always|never`: the option every command that waits for a run takes, so they all behave alike
 * (see src/worker-watchdog.ts for what each mode does).
 */
import { Option } from 'commander';
import { WORKER_MODES } from '../worker-watchdog.js';

/** A new `--worker <mode>` option (default auto); commander needs a fresh Option per command. */
export function workerOption(): Option {
  return new Option(
    '--worker <mode>',
    'auto: start a worker in this process when none polls (also when the last one goes away while waiting); ' +
      'always: start one here; never: only use a running worker, and fail within seconds when none polls',
  )
    .choices(WORKER_MODES)
    .default('auto');
}
