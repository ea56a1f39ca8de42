/**
 * `npm run demo`: the main job on the local default. Installs what is missing (`npm run demo` runs
 * scripts/ensure-deps.mjs first, so this works right after `git clone`), starts the local stack,
 * runs a worker in this process, runs dailyPipeline for today (or --date) at scale small (or --scale),
 * prints the summary, where the chart is and the Web UI URL, and exits. The stack stays up for the
 * Web UI; `npm run stack:down` stops it.
 *
 * `--days N` (N ≥ 2) runs the patient loop instead: dailyPipeline for the N weekdays ending at --date (default
 * today), one after another on the same worker, with the patients' bot in this process and simulated patients
 * (src/bot/patient-loop.ts) who link before each day's run and answer the reminders and rating requests after it;
 * then what the loop recorded and the rows of marts.reminder_effect. Its worker runs in a child process that is
 * started again if it dies (src/worker-supervisor.ts), so a crash of the worker costs minutes, not the demo.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL, loadConfig, parseScale, type Config } from '../src/config.js';
import { parseRunDate, todayIn } from '../src/cli/dates.js';
import { failureText, formatTable, terminalSummary } from '../src/cli/format.js';
import { DEFAULT_LINK_SHARE } from '../src/bot/demo-patients.js';
import { PatientLoop, type EffectRow, type LoopTotals } from '../src/bot/patient-loop.js';
import { weekdaysEndingAt } from '../src/domain/dates.js';
import type { PipelineSummary, ScaleInput } from '../src/domain/types.js';
import { awaitPipeline, startPipeline } from '../src/run-pipeline.js';
import { stackUp } from '../src/stack/index.js';
import { connectClient } from '../src/temporal.js';
import { WorkerWatchdog } from '../src/worker-watchdog.js';
import { SupervisedWorker } from '../src/worker-supervisor.js';

/** Most days one demo runs (about three months of weekdays). */
const MAX_DAYS = 60;
/** New links a day at most: a medium scale's schedule holds 65,000 patients, each link a message through the bot. */
const LINK_LIMIT = 1000;
/**
 * The link secret when TELEGRAM_LINK_SECRET is not set: the demo's links and buttons only ever go to the local
 * emulator, so a fixed, public secret is enough there (and never used with a real bot: see {@link loopConfig}).
 */
const DEMO_LINK_SECRET = 'healthsynth-local-demo-link-secret-not-for-real-patients';

function wholeNumber(option: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new Error(`${option} must be a whole number from ${min} to ${max}; got "${value}"`);
  }
  return n;
}

function share(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1))
    throw new Error(`${option} must be a number from 0 to 1; got "${value}"`);
  return n;
}

/**
 * The loop's config: Telegram on the stack's emulator. TELEGRAM_API_ROOT, TELEGRAM_BOT_TOKEN and TELEGRAM_LINK_SECRET
 * keep their values when set; when missing they get the emulator, its local bot token and {@link DEMO_LINK_SECRET}.
 * An API root elsewhere (real Telegram) is refused: simulated patients can only press buttons in the emulator.
 */
function loopConfig(base: Config): { config: Config; env: NodeJS.ProcessEnv; emulatorUrl: string } {
  const emulatorUrl = `http://127.0.0.1:${base.localPorts.telegram}`;
  const env = {
    ...process.env,
    TELEGRAM_API_ROOT: process.env.TELEGRAM_API_ROOT || emulatorUrl,
    TELEGRAM_BOT_TOKEN: process.env.TELEGRAM_BOT_TOKEN || LOCAL.telegramBotToken,
    TELEGRAM_LINK_SECRET: process.env.TELEGRAM_LINK_SECRET || DEMO_LINK_SECRET,
  };
  if (env.TELEGRAM_API_ROOT.replace(/\/+$/, '') !== emulatorUrl) {
    throw new Error(
      `--days runs simulated patients on the local Telegram emulator (${emulatorUrl}); TELEGRAM_API_ROOT is ` +
        `${env.TELEGRAM_API_ROOT}. Unset it for the demo.`,
    );
  }
  return { config: loadConfig(env), env, emulatorUrl };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      date: { type: 'string' },
      scale: { type: 'string' },
      days: { type: 'string' },
      'link-share': { type: 'string' },
      'link-limit': { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      'usage: npm run demo [-- --date YYYY-MM-DD] [-- --scale small|medium|large|N]\n' +
        `       [-- --days N [--link-share 0..1 (default ${DEFAULT_LINK_SHARE})] [--link-limit N (default ${LINK_LIMIT})]]`,
    );
    return;
  }
  const scale = values.scale !== undefined ? parseScale(values.scale) : 'small';
  const days = values.days === undefined ? 1 : wholeNumber('--days', values.days, 1, MAX_DAYS);
  const linkShare =
    values['link-share'] === undefined ? DEFAULT_LINK_SHARE : share('--link-share', values['link-share']);
  const linkLimit =
    values['link-limit'] === undefined ? LINK_LIMIT : wholeNumber('--link-limit', values['link-limit'], 0, 1_000_000);
  // Checked before the stack starts, so a mistyped date costs nothing.
  const { timezone } = loadConfig();
  const today = todayIn(timezone);
  const runDate = values.date === undefined ? today : parseRunDate('--date', values.date, today, timezone);

  const stack = await stackUp();
  // The config defaults already point at the local stack; the dbt activity finds the dbt setup built by itself.
  const config = loadConfig();
  console.log(`Local stack up in ${(stack.elapsedMs / 1000).toFixed(1)} s; Temporal Web UI: ${stack.uiUrl}`);
  if (days > 1) {
    // The bot waits for the Updates of its last presses before the connection closes (PatientBot.settle).
    await patientLoop(config, { runDates: weekdaysEndingAt(runDate, days), scale, linkShare, linkLimit });
    return;
  }

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

async function patientLoop(
  base: Config,
  opts: { runDates: string[]; scale: ScaleInput; linkShare: number; linkLimit: number },
): Promise<void> {
  const { config, env, emulatorUrl } = loopConfig(base);
  const { runDates, scale } = opts;
  const client = await connectClient(config);
  let worker: SupervisedWorker | undefined;
  let loop: PatientLoop | undefined;
  const started = Date.now();
  try {
    worker = await SupervisedWorker.start({
      env,
      logFile: path.join(config.dataDir, 'logs', 'demo-worker.log'),
      log: (line) => console.log(line),
    });
    loop = await PatientLoop.start({
      config,
      temporal: client,
      emulatorUrl,
      seed: config.seed,
      linkShare: opts.linkShare,
      linkLimit: opts.linkLimit,
      log: (line) => console.log(line),
    });
    console.log(
      `Patient loop over ${runDates.length} weekdays, ${runDates[0]} to ${runDates.at(-1)}, at scale ${scale}: the bot ` +
        `polls the Telegram emulator (${emulatorUrl}); before each run, ${Math.round(opts.linkShare * 100)}% of the ` +
        `patients of the next weekday's schedule open their deep link (seed ${config.seed}, at most ${opts.linkLimit} a day).`,
    );
    let last: PipelineSummary | undefined;
    let webUiUrl = '';
    for (const [i, runDate] of runDates.entries()) {
      const t0 = Date.now();
      const linked = await loop.linkBefore(runDate, scale);
      const handle = await startPipeline(client, config, { runDate, scale });
      const outcome = await awaitPipeline(config, handle);
      webUiUrl = outcome.webUiUrl;
      if (!outcome.summary) {
        console.error(`The run of ${runDate} failed: ${failureText(outcome.error)}\nSee ${outcome.webUiUrl}`);
        process.exitCode = 1;
        return;
      }
      last = outcome.summary;
      const remind = last.remind && 'reminded' in last.remind ? last.remind : undefined;
      const ratings = last.ratings && 'requested' in last.ratings ? last.ratings : undefined;
      // Reminders this run started: one started by an earlier demo on another warehouse (the same appointment id in
      // the same Temporal) is never sent again, by design.
      const day = await loop.answerAfter(runDate, {
        reminded: remind?.started ?? 0,
        ratings: ratings?.requested ?? 0,
      });
      const r = day.reminders;
      const predict = last.predict && !('error' in last.predict) ? last.predict : undefined;
      const noModel = predict?.skipped ? ` (no model yet: ${predict.skipped}, fewer than 1000)` : '';
      console.log(
        `day ${i + 1}/${runDates.length} ${runDate}: ${linked} new links; ` +
          `reminders ${remind?.reminded ?? 0} sent + ${remind?.holdout ?? 0} held out${noModel}` +
          `${remind?.skipped ? ` (${remind.skipped})` : ''}; patients pressed confirm ${r.confirm}, cancel ${r.cancel}, ` +
          `left ${r.ignore}; rating requests ${day.ratings.received}, ${day.ratings.answered} rated, ` +
          `${day.ratings.commented} commented; ` +
          `${day.expired} reminder presses refused as expired; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
    }
    if (last) console.log(`\n${terminalSummary(last)}`);
    console.log(`\n${loopReport(await loop.totals(runDates), runDates)}`);
    console.log(`\n${effectReport(await loop.effect())}`);
    console.log(
      `\n${runDates.length} days in ${((Date.now() - started) / 1000).toFixed(0)} s. Web UI (last run): ${webUiUrl}`,
    );
    console.log('The stack keeps running for the Web UI; `npm run stack:down` stops it.');
  } finally {
    await loop?.stop();
    const restarts = (await worker?.stop())?.restarts ?? 0;
    if (restarts > 0) console.log(`The worker died ${restarts} time(s) and was started again each time.`);
    await client.connection.close();
  }
}

/** What the loop recorded, for the terminal. */
function loopReport(t: LoopTotals, runDates: string[]): string {
  const r = t.reminders;
  const q = t.ratingRequests;
  const lines = [
    `Patient loop (raw.patient_contacts, raw.reminder_events, raw.rating_requests):`,
    `  links            ${t.linked} patients linked to the bot (${t.linkedThisRun} by this demo)`,
    `  reminders        ${r.selected} chosen for the days after ${runDates[0]} to ${runDates.at(-1)}: ` +
      `${r.selected - r.holdout} reminded, ${r.holdout} held out`,
    `                   ${r.sent} sent: ${r.confirmed} confirmed, ${r.cancelled} cancelled, ${r.noAnswer} no answer, ` +
      `${r.waiting} waiting for an answer until their appointment starts; ${r.undeliverable} undeliverable`,
    `  rating requests  ${q.sent} sent: ${q.rated} rated${q.meanStars !== undefined ? ` (mean ${q.meanStars.toFixed(2)} stars)` : ''}, ` +
      `${q.noResponse} no response, ${q.undeliverable} undeliverable; the rest wait up to 72 hours for an answer`,
    `                   ${q.commented} comments received (replies to the invitation sent after a rating)`,
  ];
  if (t.pressesExpired > 0) {
    lines.push(
      `  note             ${t.pressesExpired} reminder presses were refused as expired: a reminder waits only until its ` +
        `appointment starts, so the reminders of past days end as no answer as soon as they are sent; only ` +
        `reminders for appointments still ahead (the last day's, when it is today) can be confirmed or cancelled`,
    );
  }
  return lines.join('\n');
}

/** marts.reminder_effect for the terminal: relative risk of a no-show, reminded against held out, and its CI. */
function effectReport(rows: EffectRow[]): string {
  if (rows.length === 0) {
    return 'Reminder effect (marts.reminder_effect): no rows yet; it needs a day whose appointments were reminded.';
  }
  const f = (x: number | null, digits = 2) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
  return formatTable(
    ['PERIOD', 'DAYS', 'REMINDED', 'NO-SHOWS', 'HELD OUT', 'NO-SHOWS', 'CANCELLED', 'RR', '95% CI', 'PREVENTED'],
    rows.map((e) => [
      e.period,
      `${e.period_start}..${e.period_end}`,
      String(e.reminded),
      String(e.reminded_no_shows),
      String(e.holdout),
      String(e.holdout_no_shows),
      String(e.cancelled),
      f(e.relative_risk),
      `${f(e.relative_risk_low)}–${f(e.relative_risk_high)}`,
      f(e.prevented_no_shows, 1),
    ]),
  )
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
    .replace(
      /^/,
      'Reminder effect (marts.reminder_effect: no-show relative risk, reminded vs held out, Mantel-Haenszel):\n',
    );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
