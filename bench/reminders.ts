/**
 * `reminders` (`npm run bench -- --with reminders [--reminders N]`): the patient loop's two rates on the local stack,
 * through the real path: `appointmentReminder` workflows on a worker with its real activities, the Telegram
 * emulator, and the bot (long polling) turning presses into Updates.
 *
 *  - sends: N reminders started at once (N linked patients, one appointment each); the sustained rate is the
 *    emulator's count of their messages over the time from the first to the last, as a ratio to the 25 messages/s
 *    the sender is throttled to (issue 12: at least 0.9×);
 *  - callback to answer: presses of the Confirm button, one at a time, each timed from the press to the bot's
 *    answerCallbackQuery as the emulator records it (the bot answers once the Update is accepted); p50 and p95.
 *
 * Its own database and task queue; the reminders' appointments start 10 minutes after the bench starts, so their
 * durable timers are still open when the presses come, and the bench confirms every one it sends (the rest are
 * terminated at the end). Nothing here asserts a target.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { startBot } from '../src/bot/run.js';
import { createContactStore } from '../src/bot/contacts.js';
import { callbackAnswers, SimulatedPatient, simulatedReminderFacts } from '../src/bot/simulator.js';
import { loadConfig } from '../src/config.js';
import { recreateDatabase } from '../src/stack/postgres.js';
import { connectClient } from '../src/temporal.js';
import { startWorker } from '../src/worker.js';
import { WORKFLOW_TYPES, workflowIds } from '../src/workflow-ids.js';
import { peakRssMb } from './spawn-worker.js';

/** The sender's throttle: Telegram's 30 messages/s per bot, kept at 25 (src/activities/patient-sender.ts). */
export const SEND_LIMIT_PER_S = 25;

export interface RemindersBench {
  reminders: number;
  sends_per_s: number;
  throttle_per_s: number;
  /** sends_per_s over the throttle (goal ≥ 0.9). */
  ratio: number;
  presses: number;
  callback_p50_ms: number;
  callback_p95_ms: number;
  /** The worker's workflow cache once every reminder was sent, and its bound (WORKER_MAX_CACHED_WORKFLOWS). */
  cached_workflows: number;
  max_cached_workflows: number;
  /**
   * Peak RSS of this process (worker, bot and bench in one; VmHWM) when the reminders run first in it
   * (`--skip generation,load,dbt,e2e,predict`); otherwise earlier benches' peaks are in it too.
   */
  peak_rss_mb: number;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench reminders: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function benchReminders(
  count: number,
  presses: number,
  log: (line: string) => void,
): Promise<RemindersBench> {
  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres') throw new Error('the reminders benchmark needs the PostgreSQL warehouse');
  const emulatorUrl = `http://127.0.0.1:${base.localPorts.telegram}`;
  const botToken = `${randomInt(100_000, 999_999)}:bench-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: await recreateDatabase(base.warehouse.databaseUrl, 'healthsynth_bench_reminders'),
    TEMPORAL_TASK_QUEUE: `bench-reminders-${process.pid}`,
    WORKER_METRICS_PORT: '0',
    TELEGRAM_API_ROOT: emulatorUrl,
    TELEGRAM_BOT_TOKEN: botToken,
    TELEGRAM_LINK_SECRET: randomBytes(24).toString('hex'),
  });
  const client: Client = await connectClient(config);
  const contacts = createContactStore(config);
  const worker = await startWorker(config);
  const bot = await startBot(config, { mode: 'polling', temporal: client, log: () => undefined });
  // Ids of their own per run: reminder-<id> workflow ids outlive the bench in the Temporal server.
  const firstId = randomInt(1, 1_000_000) * 10_000 + 8_000_000_000;
  const patients = Array.from({ length: count }, (_, i) => new SimulatedPatient(emulatorUrl, botToken, firstId + i));
  const startsAt = new Date(Date.now() + 10 * 60_000);
  try {
    await contacts.ensureTable();
    for (const p of patients) await contacts.link(p.patientId, String(p.chatId));

    log(`reminders: ${count} appointmentReminder workflows started at once, sends throttled to ${SEND_LIMIT_PER_S}/s…`);
    await Promise.all(
      patients.map((p) =>
        client.workflow.start(WORKFLOW_TYPES.appointmentReminder, {
          taskQueue: config.temporal.taskQueue,
          workflowId: workflowIds.reminder(p.patientId),
          args: [
            simulatedReminderFacts(p.patientId, startsAt, { doctorName: 'Dra. Bench', clinicName: 'Clínica Bench' }),
          ],
        }),
      ),
    );
    const ours = async () => {
      const res = await fetch(`${emulatorUrl}/_emulator/sent?botToken=${encodeURIComponent(botToken)}`);
      const { result } = (await res.json()) as { result: { at: number; botToken: string }[] };
      return result;
    };
    // The rate comes from the emulator's own arrival times, so polling seldom costs no precision, only less CPU
    // taken from the worker in this process.
    const sent = await until(
      `${count} reminders in the emulator`,
      count * 1000,
      async () => {
        const messages = await ours();
        return messages.length >= count ? messages : undefined;
      },
      1_000,
    );
    const cachedWorkflows = worker.worker.getStatus().numCachedWorkflows;
    const at = sent.map((m) => m.at).sort((a, b) => a - b);
    const spanS = ((at.at(-1) ?? 0) - (at[0] ?? 0)) / 1000;
    const sendsPerS = spanS > 0 ? (at.length - 1) / spanS : Number.NaN;
    log(
      `  ${at.length} messages in ${spanS.toFixed(1)} s: ${sendsPerS.toFixed(1)}/s (${(sendsPerS / SEND_LIMIT_PER_S).toFixed(2)}× the throttle)`,
    );

    log(`reminders: ${presses} Confirm presses, one at a time, press → the bot's answer…`);
    const latencies: number[] = [];
    for (const p of patients.slice(0, presses)) {
      const [confirm] = await p.buttons();
      if (!confirm) throw new Error(`bench reminders: no buttons for chat ${p.chatId}`);
      const before = (await callbackAnswers(emulatorUrl, botToken)).length;
      const pressedAt = Date.now();
      await p.press(confirm);
      const answer = await until('the bot to answer a press', 30_000, async () => {
        const all = await callbackAnswers(emulatorUrl, botToken);
        return all.length > before ? all[before] : undefined;
      });
      latencies.push(answer.at - pressedAt);
    }
    latencies.sort((a, b) => a - b);
    const result: RemindersBench = {
      reminders: at.length,
      sends_per_s: sendsPerS,
      throttle_per_s: SEND_LIMIT_PER_S,
      ratio: sendsPerS / SEND_LIMIT_PER_S,
      presses: latencies.length,
      callback_p50_ms: quantile(latencies, 0.5),
      callback_p95_ms: quantile(latencies, 0.95),
      cached_workflows: cachedWorkflows,
      max_cached_workflows: worker.worker.options.maxCachedWorkflows,
      peak_rss_mb: await peakRssMb(process.pid),
    };
    log(`  callback to answer: p50 ${result.callback_p50_ms} ms, p95 ${result.callback_p95_ms} ms`);
    log(
      `  workflow cache ${cachedWorkflows} of ${result.max_cached_workflows} once all were sent; peak RSS ${result.peak_rss_mb} MB`,
    );
    return result;
  } finally {
    // The unanswered reminders would wait 10 minutes for their appointment; end them now.
    await Promise.all(
      patients.map((p) =>
        client.workflow
          .getHandle(workflowIds.reminder(p.patientId))
          .terminate('bench over')
          .catch(() => undefined),
      ),
    );
    await bot.stop();
    await worker.shutdown();
    await contacts.close();
    await client.connection.close();
  }
}
