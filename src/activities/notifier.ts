/**
 * Slack and Telegram transport: exactly one HTTP request per call, and an outbox when a channel is not configured.
 *
 * Slack goes through @slack/webhook's IncomingWebhook, Telegram through telegraf. Nothing here retries: a failed
 * request throws a {@link DeliveryError} that says whether the message surely did not arrive (HTTP 4xx, 429, 5xx,
 * connection refused) or may have (a timeout or a connection cut mid-request). The delivery activities
 * (`delivery.ts`) turn that into Temporal's retry policy and a delivery record, so no message is sent twice.
 * Secrets (the webhook URL, the bot token) never appear in errors, logs or outbox files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError } from '@slack/webhook';
import { Telegraf, TelegramError } from 'telegraf';
import type { Config } from '../config.js';
import type { Audience, Channel, SlackContent } from '../domain/types.js';

/** What Telegram is asked to send: a text, or PNG bytes with a caption. */
export type TelegramPayload = { text: string } | { png: Buffer; caption: string; filename: string };

/**
 * How one request failed. `rejected` (HTTP 4xx but 429) will fail again; `rate-limited` (429), `server-error`
 * (5xx) and `unreachable` (no connection was made) did not deliver and may be retried; `ambiguous` (timed out or
 * cut off after the request went out) may have been delivered, so it must not be sent again.
 */
export type DeliveryFailureKind = 'rejected' | 'rate-limited' | 'server-error' | 'unreachable' | 'ambiguous';

/** One request's failure, classified; its message names the HTTP status or the network error, never a secret. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    readonly channel: Channel,
    readonly kind: DeliveryFailureKind,
    message: string,
    readonly httpStatus?: number,
    /** The server's own wait before the next try (Slack's Retry-After, Telegram's parameters.retry_after). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** True when the message surely did not arrive and sending it again may succeed. */
  get retryable(): boolean {
    return this.kind === 'rate-limited' || this.kind === 'server-error' || this.kind === 'unreachable';
  }
}

/** Sends to Slack and Telegram, one HTTP request per call; see the module comment. */
export interface Notifier {
  /** The setting that is missing for `channel` to reach `audience` (then the message goes to the outbox). */
  missingSetting(channel: Channel, audience: Audience): string | undefined;
  /** Posts to the Slack incoming webhook (staff only, so it takes no audience). Throws {@link DeliveryError}. */
  sendSlack(content: SlackContent, signal?: AbortSignal): Promise<void>;
  /** Sends to the audience's Telegram chat: sendMessage or sendPhoto. Throws {@link DeliveryError}. */
  sendTelegram(audience: Audience, payload: TelegramPayload, signal?: AbortSignal): Promise<void>;
  /**
   * Sends a text with optional inline buttons to one patient's own chat (sendMessage). Throws {@link DeliveryError};
   * a 403 (the patient blocked the bot) is `rejected` with httpStatus 403.
   */
  sendTelegramChat(
    chatId: string,
    payload: { text: string; replyMarkup?: object },
    signal?: AbortSignal,
  ): Promise<void>;
  /** Writes what would have been sent to `<dataDir>/outbox/` and says NOT DELIVERED (on stderr); returns the path. */
  writeOutbox(
    channel: Channel,
    audience: Audience,
    name: string,
    payload: SlackContent | TelegramPayload,
  ): Promise<string>;
}

/** Test and tuning knobs; production uses the defaults. */
export interface NotifierOptions {
  /** Where the "NOT DELIVERED" outbox notice goes. Default: stderr, so `--json` output on stdout stays JSON. */
  log?: (line: string) => void;
  /** Per-request timeout. Default {@link REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * One request's timeout. The delivery activities' startToCloseTimeout (2 minutes) is well above it, so Temporal
 * never starts a second attempt while the first is still sending.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Telegram's limits: captions up to 1024 characters, messages up to 4096. */
const TELEGRAM_CAPTION_MAX = 1024;
const TELEGRAM_TEXT_MAX = 4096;

/**
 * Every request goes on a connection of its own, never on a reused idle one. A server closes an idle keep-alive
 * connection after a few seconds (Node's http server after 5 s); a request written to it just as it closes fails
 * with ECONNRESET, which a delivery must take for "may have arrived" and never send again: the staff summary was
 * lost that way in CI, on the retry after a 500 and after a chart sent on the same connection. A message costs a
 * connection setup more, which the few staff messages a day and 25 patient messages a second can afford.
 */
const NO_REUSE = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

/** Network errors that mean no connection was made, so nothing was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

const truncate = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** "invalid_token\n" → "invalid_token"; bodies of error pages are cut short so messages stay readable. */
const shortBody = (body: string): string => truncate(body.replace(/\s+/g, ' ').trim(), 200);

/** Parses Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The first `code` found on an error or its causes (undici nests it: TypeError → cause → code). */
function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const nested = (e as { errors?: unknown[] }).errors?.[0]; // AggregateError when every address refused
    if (nested && typeof (nested as { code?: unknown }).code === 'string') return (nested as { code: string }).code;
  }
  return undefined;
}

/** Whether a URL's host can plausibly be fetched from the internet (Slack downloads image_url itself). */
export function isPublicUrl(raw: string): boolean {
  let host: string;
  try {
    host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return !(
    host === 'localhost' ||
    host === '::1' ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    host.endsWith('.local') ||
    host.endsWith('.internal')
  );
}

/**
 * The blocks Slack can render from `webhookUrl`: Slack rejects a whole message (`invalid_blocks`) when it cannot
 * download an image, so image blocks with a private URL are dropped unless the webhook is itself private (tests).
 */
export function slackBlocksFor(content: SlackContent, webhookUrl: string): SlackContent['blocks'] {
  if (!content.blocks || !isPublicUrl(webhookUrl)) return content.blocks;
  return content.blocks.filter((b) => b.type !== 'image' || isPublicUrl((b as { image_url?: string }).image_url ?? ''));
}

const timestamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

/**
 * Builds a {@link Notifier} from configuration. Without SLACK_WEBHOOK_URL, or TELEGRAM_BOT_TOKEN and the audience's
 * chat id (TELEGRAM_STAFF_CHAT_ID, TELEGRAM_PATIENT_CHAT_ID), {@link Notifier.missingSetting} names what is missing.
 */
export function createNotifier(
  config: Pick<Config, 'dataDir' | 'slack' | 'telegram'>,
  options: NotifierOptions = {},
): Notifier {
  const log = options.log ?? ((line: string) => console.error(line));
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const secrets = [config.slack.webhookUrl, config.telegram.botToken].filter((s): s is string => !!s);
  /** Removes secrets from any text that leaves this module (error messages may quote URLs). */
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('<redacted>'), text);
  /** The request's signal: the caller's (activity cancellation) and our timeout, whichever fires first. */
  const requestSignal = (signal?: AbortSignal): AbortSignal =>
    signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);

  /** A request that got no HTTP answer: unreachable when no connection was made, else ambiguous. */
  const transportError = (channel: Channel, err: unknown): DeliveryError => {
    const code = errorCode(err);
    const name = (err as Error).name;
    const what =
      name === 'TimeoutError' || name === 'AbortError' || (err as { type?: string }).type === 'aborted'
        ? `no answer within ${timeoutMs / 1000} s or cancelled`
        : `${(err as Error).message}${code ? ` (${code})` : ''}`;
    const kind = code && NOT_CONNECTED.has(code) ? 'unreachable' : 'ambiguous';
    return new DeliveryError(channel, kind, scrub(`request failed: ${what}`));
  };

  const chats = config.telegram.chats;
  const { botToken, apiRoot } = config.telegram;
  const telegram = botToken ? new Telegraf(botToken, { telegram: apiRoot ? { apiRoot } : {} }).telegram : undefined;
  // One connection per request (see NO_REUSE). telegraf drops an `agent` option for an http:// API root (it falls
  // back to Node's keep-alive global agent), so the agent is set on the client once it is built.
  if (telegram) telegram.options.agent = (apiRoot ?? '').startsWith('http://') ? NO_REUSE.http : NO_REUSE.https;

  /** One Bot API request, its failure classified as a {@link DeliveryError}. */
  async function telegramCall(request: () => Promise<unknown>): Promise<void> {
    try {
      await request();
    } catch (err) {
      if (err instanceof TelegramError) {
        const code = err.code;
        const reason = scrub(`HTTP ${code} ${err.description}`);
        if (code === 429) {
          const retryAfterS = err.parameters?.retry_after;
          const retryAfterMs = retryAfterS !== undefined ? retryAfterS * 1000 : undefined;
          throw new DeliveryError('telegram', 'rate-limited', reason, code, retryAfterMs);
        }
        throw new DeliveryError('telegram', code >= 500 ? 'server-error' : 'rejected', reason, code);
      }
      // Anything else is transport: connection refused, reset, timeout, a proxy's non-JSON page after a 200.
      throw transportError('telegram', err);
    }
  }

  function missingSetting(channel: Channel, audience: Audience): string | undefined {
    if (channel === 'slack') {
      if (audience !== 'staff') return 'a Slack channel for patients (Slack is for staff only)';
      return config.slack.webhookUrl ? undefined : 'SLACK_WEBHOOK_URL';
    }
    if (!botToken) return 'TELEGRAM_BOT_TOKEN';
    if (!chats[audience]) return audience === 'staff' ? 'TELEGRAM_STAFF_CHAT_ID' : 'TELEGRAM_PATIENT_CHAT_ID';
    return undefined;
  }

  return {
    missingSetting,

    async sendSlack(content, signal) {
      const url = config.slack.webhookUrl;
      if (!url) throw new DeliveryError('slack', 'rejected', 'SLACK_WEBHOOK_URL is not set');
      // IncomingWebhook's HTTP error carries status and body but not headers; a fetch wrapper keeps Retry-After
      // and adds the caller's cancellation to the library's own timeout signal.
      let retryAfter: string | null = null;
      const webhook = new IncomingWebhook(url, {
        retryConfig: { retries: 0 }, // one request per activity attempt: Temporal's retry policy does the rest
        fetch: async (input, init) => {
          const headers = new Headers(init?.headers);
          headers.set('connection', 'close'); // one connection per request (see NO_REUSE)
          const res = await fetch(input, { ...init, headers, signal: requestSignal(signal) });
          retryAfter = res.headers.get('retry-after');
          return res;
        },
      });
      try {
        await webhook.send({
          text: content.text,
          ...(content.blocks ? { blocks: slackBlocksFor(content, url) } : {}),
        });
      } catch (err) {
        if (err instanceof IncomingWebhookHTTPError) {
          const status = err.statusCode;
          const reason = scrub(`HTTP ${status} ${shortBody(err.body) || err.statusMessage}`);
          if (status === 429) {
            throw new DeliveryError('slack', 'rate-limited', reason, status, parseRetryAfter(retryAfter));
          }
          throw new DeliveryError('slack', status >= 500 ? 'server-error' : 'rejected', reason, status);
        }
        if (err instanceof IncomingWebhookRequestError) throw transportError('slack', err.original);
        throw transportError('slack', err);
      }
    },

    async sendTelegram(audience, payload, signal) {
      const chatId = chats[audience];
      if (!telegram || !chatId) {
        throw new DeliveryError('telegram', 'rejected', `${missingSetting('telegram', audience)} is not set`);
      }
      const options = { signal: requestSignal(signal) } as unknown as Parameters<typeof telegram.callApi>[2];
      await telegramCall(() =>
        'png' in payload
          ? telegram.callApi(
              'sendPhoto',
              {
                chat_id: chatId,
                photo: { source: payload.png, filename: payload.filename },
                caption: truncate(payload.caption, TELEGRAM_CAPTION_MAX),
              },
              options,
            )
          : telegram.callApi(
              'sendMessage',
              { chat_id: chatId, text: truncate(payload.text, TELEGRAM_TEXT_MAX) },
              options,
            ),
      );
    },

    async sendTelegramChat(chatId, payload, signal) {
      if (!telegram) throw new DeliveryError('telegram', 'rejected', 'TELEGRAM_BOT_TOKEN is not set');
      // telegraf types the signal as abort-controller's; node-fetch accepts the platform's AbortSignal.
      const options = { signal: requestSignal(signal) } as unknown as Parameters<typeof telegram.callApi>[2];
      await telegramCall(() =>
        telegram.callApi(
          'sendMessage',
          {
            chat_id: chatId,
            text: truncate(payload.text, TELEGRAM_TEXT_MAX),
            ...(payload.replyMarkup ? { reply_markup: payload.replyMarkup as never } : {}),
          },
          options,
        ),
      );
    },

    async writeOutbox(channel, audience, name, payload) {
      const outboxDir = path.join(config.dataDir, 'outbox');
      await mkdir(outboxDir, { recursive: true });
      const base = `${timestamp()}-${channel}-${audience}-${name.replace(/[^\w.-]+/g, '-')}`;
      const png = 'png' in payload ? payload.png : undefined;
      let body: object;
      if (channel === 'slack') body = payload;
      else if ('png' in payload)
        body = { method: 'sendPhoto', chat_id: chats[audience] ?? null, caption: payload.caption };
      else body = { method: 'sendMessage', chat_id: chats[audience] ?? null, ...payload };
      for (let n = 1; ; n++) {
        const stem = path.join(outboxDir, n === 1 ? base : `${base}-${n}`);
        try {
          if (png) await writeFile(`${stem}.png`, png, { flag: 'wx' });
          const json = png ? { ...body, photo: path.basename(`${stem}.png`) } : body;
          await writeFile(`${stem}.json`, `${JSON.stringify(json, null, 2)}\n`, { flag: 'wx' });
          const missing = missingSetting(channel, audience) ?? 'setting';
          log(
            `NOT DELIVERED (no ${missing} set): ${channel} message "${name}" for ${audience} written to ${stem}.json`,
          );
          return `${stem}.json`;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
    },
  };
}
