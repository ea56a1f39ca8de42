/**
 * `npm run demo`: the main job on the local default. Installs what is missing (`npm run demo` runs
 * scripts/ensure-deps.mjs first, so this works right after `git clone`), starts the local stack,
 * runs a worker in this process, runs dailyPipeline for today (or --date) at scale small (or --scale),
 * prints the summary, where the chart is and the Web UI URL, and exits. The stack stays up for the
 * Web UI; `npm run stack:down` stops it.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, parseScale } from '../src/config.js';
import { parseRunDate, todayIn } from '../src/cli/dates.js';
import { failureText, terminalSummary } from '../src/cli/format.js';
import { awaitPipeline, startPipeline } from '../src/run-pipeline.js';
import { stackUp } from '../src/stack/index.js';
import { connectClient } from '../src/temporal.js';
import { WorkerWatchdog } from '../src/worker-watchdog.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { date: { type: 'string' }, scale: { type: 'string' }, help: { type: 'boolean' } },
    allowPositionals: false,
  });
  if (values.help) {
    console.log('usage: npm run demo [-- --date YYYY-MM-DD] [-- --scale small|medium|large|N]');
    return;
  }
  const scale = values.scale !== undefined ? parseScale(values.scale) : 'small';
  // Checked before the stack starts, so a mistyped date costs nothing.
  const { timezone } = loadConfig();
  const today = todayIn(timezone);
  const runDate = values.date === undefined ? today : parseRunDate('--date', values.date, today, timezone);

  const stack = await stackUp();
  // The config defaults already point at the local stack; the dbt activity finds the dbt setup built by itself.
  const config = loadConfig();
  console.log(`Local stack up in ${(stack.elapsedMs / 1000).toFixed(1)} s; Temporal Web UI: ${stack.uiUrl}`);

  const client = await connectClient(config);
  // The demo always brings its own worker, so it works whatever else is (or was just) polling.
  const watchdog = new WorkerWatchdog({ client, config, mode: 'always' });
  try {
    await watchdog.beforeStart();
    console.log(`Running dailyPipeline for ${runDate} at scale ${scale}…`);
    const handle = await startPipeline(client, config, { runDate, scale });
    await watchdog.attach(handle);
    const outcome = await awaitPipeline(config, handle);
    if (!outcome.summary) {
      console.error(`The run failed: ${failureText(outcome.error)}\nSee ${outcome.webUiUrl}`);
      process.exitCode = 1;
      return;
    }
    console.log(terminalSummary(outcome.summary));
    const report = outcome.summary.report;
    if (report && 'reportKey' in report) {
      console.log(`Chart: s3://${config.s3.bucket}/${report.reportKey}`);
      if (config.s3.local) console.log(`       ${path.join(config.dataDir, 's3', config.s3.bucket, report.reportKey)}`);
    }
    console.log(`Web UI: ${outcome.webUiUrl}`);
    console.log('The stack keeps running for the Web UI; `npm run stack:down` stops it.');
  } finally {
    await watchdog.close();
    await client.connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
