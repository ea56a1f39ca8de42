/**
 * Slack and Telegram delivery, with one retry policy for both and an outbox when a channel is not configured.
 *
 * Slack goes through @slack/webhook's IncomingWebhook, Telegram through telegraf. Transient failures (HTTP 5xx,
 * 429, network errors) are retried with exponential backoff, honouring the server's Retry-After up to a cap;
 * client errors (a revoked token, a deleted channel) are permanent and not retried. A notifier never throws:
 * every call resolves to a {@link NotificationResult} and the pipeline decides what a failure means.
 * Secrets (the webhook URL, the bot token) never appear in results, logs or outbox files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  IncomingWebhook,
  IncomingWebhookHTTPError,
  IncomingWebhookRequestError,
  type IncomingWebhookSendArguments,
} from '@slack/webhook';
import { Telegraf, TelegramError } from 'telegraf';
import type { Config } from '../config.js';
import type { Channel, NotificationResult, SlackMessage } from '../domain/types.js';

export type { SlackMessage } from '../domain/types.js';

/** Sends notifications; every method resolves (never rejects) with what happened. */
export interface Notifier {
  /** Posts a Block Kit message to the Slack incoming webhook, or writes it to the outbox. */
  slack(message: SlackMessage): Promise<NotificationResult>;
  /** Sends a text message to the Telegram chat, or writes it to the outbox. `name` labels logs and outbox files. */
  telegramText(text: string, name?: string): Promise<NotificationResult>;
  /** Sends a PNG with a caption to the Telegram chat, or writes both to the outbox. */
  telegramPhoto(png: Buffer, caption: string, name?: string): Promise<NotificationResult>;
}

/** How transient failures are retried. */
export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles each time, when the server gives no Retry-After. */
  baseDelayMs: number;
  /** Upper bound of any single wait, including a server's Retry-After. */
  maxDelayMs: number;
}

/**
 * Five attempts with 1-2-4-8 s backoff (15 s of waiting); a server's Retry-After replaces the backoff, capped at 30 s.
 * With the 30 s request timeout the worst case is about 4.5 minutes per message.
 */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** Test and tuning knobs; production uses the defaults. */
export interface NotifierOptions {
  retry?: Partial<RetryPolicy>;
  /** Where informational lines go (the "NOT DELIVERED" outbox notice). Default: console.log. */
  log?: (line: string) => void;
  /** Where failures and retries are reported. Default: console.warn. */
  warn?: (line: string) => void;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

/** Telegram's limits: captions up to 1024 characters, messages up to 4096. */
const TELEGRAM_CAPTION_MAX = 1024;
const TELEGRAM_TEXT_MAX = 4096;

/** One attempt's failure, classified. `retryAfterMs` is the server's own hint when it gave one. */
interface AttemptError {
  retryable: boolean;
  reason: string;
  retryAfterMs?: number;
}

class Attempt extends Error {
  constructor(readonly failure: AttemptError) {
    super(failure.reason);
  }
}

const truncate = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** "invalid_token\n" → "invalid_token"; bodies of error pages are cut short so logs stay readable. */
const shortBody = (body: string): string => truncate(body.replace(/\s+/g, ' ').trim(), 200);

/** Parses Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const attempts = (n: number): string => (n === 1 ? '1 attempt' : `${n} attempts`);

const timestamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

/**
 * Builds a {@link Notifier} from configuration. Without SLACK_WEBHOOK_URL (or TELEGRAM_BOT_TOKEN + TELEGRAM_CHAT_ID)
 * that channel writes to `<dataDir>/outbox/` and says clearly on the console that nothing was delivered.
 */
export function createNotifier(
  config: Pick<Config, 'dataDir' | 'slack' | 'telegram'>,
  options: NotifierOptions = {},
): Notifier {
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const log = options.log ?? ((line: string) => console.log(line));
  const warn = options.warn ?? ((line: string) => console.warn(line));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const secrets = [config.slack.webhookUrl, config.telegram.botToken].filter((s): s is string => !!s);
  /** Removes secrets from any text that leaves this module (error messages may quote URLs). */
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('<redacted>'), text);

  const outboxDir = path.join(config.dataDir, 'outbox');
  async function writeOutbox(channel: Channel, name: string, payload: unknown, png?: Buffer): Promise<string> {
    await mkdir(outboxDir, { recursive: true });
    const base = `${timestamp()}-${channel}-${name.replace(/[^\w.-]+/g, '-')}`;
    for (let n = 1; ; n++) {
      const stem = path.join(outboxDir, n === 1 ? base : `${base}-${n}`);
      try {
        if (png) await writeFile(`${stem}.png`, png, { flag: 'wx' });
        const body = png ? { ...(payload as object), photo: path.basename(`${stem}.png`) } : payload;
        await writeFile(`${stem}.json`, `${JSON.stringify(body, null, 2)}\n`, { flag: 'wx' });
        return `${stem}.json`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  async function outbox(
    channel: Channel,
    missing: string,
    name: string,
    payload: unknown,
    png?: Buffer,
  ): Promise<NotificationResult> {
    try {
      const outboxPath = await writeOutbox(channel, name, payload, png);
      log(`NOT DELIVERED (no ${missing} set): ${channel} message "${name}" written to ${outboxPath}`);
      return { channel, status: 'outbox', outboxPath, detail: `not delivered: no ${missing} set` };
    } catch (err) {
      const reason = `NOT DELIVERED (no ${missing} set) and the outbox write failed: ${(err as Error).message}`;
      warn(reason);
      return { channel, status: 'failed', detail: reason };
    }
  }

  /** Runs `attempt` until it succeeds, fails permanently, or runs out of attempts; never throws. */
  async function withRetry(channel: Channel, name: string, attempt: () => Promise<void>): Promise<NotificationResult> {
    for (let n = 1; ; n++) {
      try {
        await attempt();
        return { channel, status: 'delivered', detail: n === 1 ? 'delivered' : `delivered after ${attempts(n)}` };
      } catch (err) {
        const failure: AttemptError =
          err instanceof Attempt
            ? err.failure
            : { retryable: false, reason: `unexpected error: ${(err as Error).message}` };
        const reason = scrub(failure.reason);
        if (!failure.retryable) {
          warn(`${channel} "${name}" failed (not retried): ${reason}`);
          return { channel, status: 'failed', detail: `${reason} (not retried)` };
        }
        if (n >= retry.maxAttempts) {
          warn(`${channel} "${name}" failed after ${attempts(n)}: ${reason}`);
          return { channel, status: 'failed', detail: `gave up after ${attempts(n)}: ${reason}` };
        }
        const backoff = retry.baseDelayMs * 2 ** (n - 1);
        const waitMs = Math.min(retry.maxDelayMs, failure.retryAfterMs ?? backoff);
        warn(`${channel} "${name}" attempt ${n} failed: ${reason}; retrying in ${Math.round(waitMs)} ms`);
        await sleep(waitMs);
      }
    }
  }

  // ---- Slack ---------------------------------------------------------------------------------------------------

  async function slackAttempt(url: string, payload: IncomingWebhookSendArguments): Promise<void> {
    // IncomingWebhook's HTTP error carries status and body but not headers; a fetch wrapper keeps Retry-After.
    let retryAfter: string | null = null;
    const webhook = new IncomingWebhook(url, {
      timeout: timeoutMs,
      retryConfig: { retries: 0 }, // its own policy never retries 429 nor honours Retry-After; ours does both
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        retryAfter = res.headers.get('retry-after');
        return res;
      },
    });
    try {
      await webhook.send(payload);
    } catch (err) {
      if (err instanceof IncomingWebhookHTTPError) {
        const status = err.statusCode;
        throw new Attempt({
          retryable: status === 429 || status >= 500,
          reason: `HTTP ${status} ${shortBody(err.body) || err.statusMessage}`,
          retryAfterMs: parseRetryAfter(retryAfter),
        });
      }
      if (err instanceof IncomingWebhookRequestError) {
        // undici says only "fetch failed"; the cause names what happened (ECONNREFUSED, a TLS error, …).
        const cause = (err.original as { cause?: unknown }).cause;
        const why = cause instanceof Error ? ` (${cause.message})` : '';
        throw new Attempt({ retryable: true, reason: `request failed: ${err.original.message}${why}` });
      }
      throw err;
    }
  }

  // ---- Telegram ------------------------------------------------------------------------------------------------

  const { botToken, chatId, apiRoot } = config.telegram;
  const telegram =
    botToken && chatId ? new Telegraf(botToken, { telegram: apiRoot ? { apiRoot } : {} }).telegram : undefined;

  async function telegramAttempt(call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (err instanceof TelegramError) {
        const code = err.code;
        const retryAfterS = err.parameters?.retry_after;
        throw new Attempt({
          retryable: code === 429 || code >= 500,
          reason: `HTTP ${code} ${err.description}`,
          retryAfterMs: retryAfterS !== undefined ? retryAfterS * 1000 : undefined,
        });
      }
      // Anything else is transport: connection refused, reset, timeout, a proxy's non-JSON error page.
      throw new Attempt({ retryable: true, reason: `request failed: ${(err as Error).message}` });
    }
  }

  return {
    async slack(message) {
      const payload: IncomingWebhookSendArguments = {
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
      };
      const url = config.slack.webhookUrl;
      if (!url) return outbox('slack', 'SLACK_WEBHOOK_URL', message.name, payload);
      return withRetry('slack', message.name, () => slackAttempt(url, payload));
    },

    async telegramText(text, name = 'message') {
      const body = truncate(text, TELEGRAM_TEXT_MAX);
      if (!telegram || !chatId) {
        return outbox('telegram', 'TELEGRAM_BOT_TOKEN', name, {
          method: 'sendMessage',
          chat_id: chatId ?? null,
          text: body,
        });
      }
      return withRetry('telegram', name, () => telegramAttempt(() => telegram.sendMessage(chatId, body)));
    },

    async telegramPhoto(png, caption, name = 'photo') {
      const text = truncate(caption, TELEGRAM_CAPTION_MAX);
      if (!telegram || !chatId) {
        return outbox(
          'telegram',
          'TELEGRAM_BOT_TOKEN',
          name,
          { method: 'sendPhoto', chat_id: chatId ?? null, caption: text },
          png,
        );
      }
      const filename = `${name}.png`;
      return withRetry('telegram', name, () =>
        telegramAttempt(() => telegram.sendPhoto(chatId, { source: png, filename }, { caption: text })),
      );
    },
  };
}
