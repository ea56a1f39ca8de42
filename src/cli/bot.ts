/**
 * `healthsynth bot` (the patients' Telegram bot, until SIGTERM) and `healthsynth link --patient <id>` (a patient's
 * deep link, for staff to send by SMS or print).
 */
import type { Command } from 'commander';
import { Telegraf } from 'telegraf';
import { createLinkToken, deepLink } from '../bot/link-token.js';
import { startBot } from '../bot/run.js';
import { resolveDeps, runAction, UsageError, type CliDeps } from './command.js';

/** Registers `bot` and `link` on the program (called by src/client.ts). */
export function registerBotCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);

  program
    .command('bot')
    .description("Run the patients' Telegram bot: /start <token>, /stop, /help and button presses (until SIGTERM).")
    .option('--mode <mode>', 'polling or webhook (default: TELEGRAM_BOT_MODE, else polling)')
    .action((opts: { mode?: string }) =>
      runAction(io, async () => {
        if (opts.mode !== undefined && opts.mode !== 'polling' && opts.mode !== 'webhook') {
          throw new UsageError('--mode must be polling or webhook');
        }
        const config = getConfig();
        const running = await startBot(config, {
          mode: opts.mode as 'polling' | 'webhook' | undefined,
          log: io.err,
          healthServer: true,
        });
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        await running.stop();
      }),
    );

  program
    .command('link')
    .description("Print a patient's Telegram deep link (t.me/<bot>?start=<token>), signed with TELEGRAM_LINK_SECRET.")
    .requiredOption('--patient <id>', 'the patient id')
    .option('--ttl-days <n>', 'days the link stays valid (default TELEGRAM_LINK_TTL_DAYS, 30)')
    .option('--json', 'print {patientId, link, expiresAt} as JSON')
    .action((opts: { patient: string; ttlDays?: string; json?: boolean }) =>
      runAction(io, async () => {
        const config = getConfig();
        if (!/^\d{1,15}$/.test(opts.patient) || Number(opts.patient) <= 0) {
          throw new UsageError('--patient must be a positive whole number');
        }
        const ttl = opts.ttlDays === undefined ? config.bot.linkTtlDays : Number(opts.ttlDays);
        if (!Number.isInteger(ttl) || ttl < 1 || ttl > 365) throw new UsageError('--ttl-days must be 1 to 365');
        const secret = config.bot.linkSecret;
        if (!secret) throw new UsageError('TELEGRAM_LINK_SECRET is not set (openssl rand -hex 32)');
        let username = config.bot.username;
        if (!username) {
          const token = config.telegram.botToken;
          if (!token) throw new UsageError('set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN to ask Telegram for it)');
          const apiRoot = config.telegram.apiRoot;
          username = (await new Telegraf(token, { telegram: apiRoot ? { apiRoot } : {} }).telegram.getMe()).username;
        }
        const patientId = Number(opts.patient);
        const expiresAt = new Date(Date.now() + ttl * 86_400_000);
        const link = deepLink(username, createLinkToken(patientId, expiresAt, secret));
        if (opts.json) io.out(JSON.stringify({ patientId, link, expiresAt: expiresAt.toISOString() }));
        else io.out(link);
      }),
    );
}
