/**
 * Runs the patients' bot until stopped: contacts in the warehouse, Temporal for button presses, and updates by long
 * polling or through the webhook (TELEGRAM_BOT_MODE). `healthsynth bot` and the docker-compose `bot` service use it.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { connectClient } from '../temporal.js';
import { createPatientBot, type PatientBot } from './bot.js';
import { createContactStore } from './contacts.js';
import { startWebhookServer } from './webhook.js';

/** The path the webhook listens on and registers with Telegram. */
export const WEBHOOK_PATH = '/telegram/webhook';

export interface RunningBot {
  bot: PatientBot;
  mode: 'polling' | 'webhook';
  /** Webhook mode: the port the webhook server listens on. */
  port?: number;
  stop(): Promise<void>;
}

/**
 * Starts the bot. Polling: telegraf's long-polling loop (getUpdates, 50 s). Webhook: our server on
 * HEALTHSYNTH_BOT_HOST:HEALTHSYNTH_BOT_PORT, and setWebhook(TELEGRAM_WEBHOOK_URL, secret_token) with Telegram.
 */
export async function startBot(
  config: Config,
  opts: {
    mode?: 'polling' | 'webhook';
    temporal?: Client;
    log?: (line: string) => void;
    /** Polling mode: also serve `GET /healthz` on HEALTHSYNTH_BOT_HOST:PORT (the container's health check). */
    healthServer?: boolean;
  } = {},
): Promise<RunningBot> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const mode = opts.mode ?? config.bot.mode;
  const contacts = createContactStore(config);
  await contacts.ensureTable();
  const temporal = opts.temporal ?? (await connectClient(config));
  const ownsTemporal = opts.temporal === undefined;
  const bot = createPatientBot({ config, contacts, temporal, log });
  const closeAll = async () => {
    const { unsettled } = await bot.settle();
    if (unsettled > 0) log(`bot: stopped with ${unsettled} button press(es) still waiting for their workflow`);
    await contacts.close();
    if (ownsTemporal) await temporal.connection.close();
  };

  if (mode === 'webhook') {
    const secret = config.bot.webhookSecret;
    if (!secret) throw new Error('TELEGRAM_WEBHOOK_SECRET is required in webhook mode');
    const server = await startWebhookServer({
      host: config.bot.host,
      port: config.bot.port,
      path: WEBHOOK_PATH,
      secret,
      onUpdate: bot.handleUpdate,
      log,
    });
    if (config.bot.webhookUrl) {
      await bot.telegraf.telegram.setWebhook(config.bot.webhookUrl, { secret_token: secret });
    }
    log(`bot: webhook on ${config.bot.host}:${server.port}${WEBHOOK_PATH}`);
    return {
      bot,
      mode,
      port: server.port,
      async stop() {
        await server.close();
        await closeAll();
      },
    };
  }

  // Polling takes no updates over HTTP: the health server's update path needs a secret nobody has.
  const health = opts.healthServer
    ? await startWebhookServer({
        host: config.bot.host,
        port: config.bot.port,
        path: WEBHOOK_PATH,
        secret: randomBytes(32).toString('hex'),
        onUpdate: async () => undefined,
        log,
      })
    : undefined;
  await bot.telegraf.telegram.deleteWebhook();
  const polling = bot.telegraf.launch({ dropPendingUpdates: false }).catch((err: unknown) => {
    log(`bot: polling stopped: ${(err as Error).message}`);
  });
  log('bot: long polling for updates');
  return {
    bot,
    mode,
    async stop() {
      bot.telegraf.stop('stop');
      await polling;
      await health?.close();
      await closeAll();
    },
  };
}
