/**
 * The local Telegram Bot API: npm `telegram-test-api` (an in-memory emulator of the Bot API with a client API for
 * simulated users), behind a small front that adds what the pipeline and the bot need from real Telegram and the
 * package lacks:
 *
 * - `getUpdates` long polling: the package answers at once, so telegraf's polling loop would spin; the front waits
 *   up to the request's `timeout` (at most 50 s, as Telegram) for an update. And it returns an update again until a
 *   later call's `offset` confirms it, as Telegram does (the package forgets an update once it has returned it).
 * - `sendPhoto` (multipart, the staff chart): stored as a bot message whose text is the caption.
 * - Faults a real chat produces: a chat marked blocked answers 403 "bot was blocked by the user"; a chat (or every
 *   chat) given a rate limit answers 429 with `parameters.retry_after` for the next N sends.
 * - `answerCallbackQuery` is recorded (the package drops it), so tests can see every press was answered.
 * - Webhook deliveries carry `X-Telegram-Bot-Api-Secret-Token` when `setWebhook` was given a `secret_token`.
 * - Replies: every bot message is recorded with its `message_id`; a simulated user's message sent with
 *   `reply_to_message_id` gets `reply_to_message` filled in from the bot's stored message (its id, text, the bot as
 *   sender, the chat), as Telegram does, and only for a message in the same chat. A message that brings its own
 *   `reply_to_message` keeps it (tests use that to forge one).
 *
 * Control routes (`/_emulator/...`) are for tests and the patient simulator: `health`, `faults`, `callback-answers`,
 * `sent`. Every message a bot sends is appended to a JSON-lines journal (`.data/telegram/messages.jsonl` in the local
 * stack), which is what to look at instead of a phone.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
// The package's main module re-exports the class as `default` of a CommonJS module; the named export is direct.
import { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';

type TelegramServerInstance = TelegramServer;
type StoredUpdate = TelegramServer['storage']['userMessages'][number];
/** The package's own Update shape for a stored user update (a static method its typings call private). */
const formatUpdate = (u: StoredUpdate): unknown =>
  (TelegramServer as unknown as { formatUpdate(u: StoredUpdate): unknown }).formatUpdate(u);

/** Telegram's own cap on a getUpdates long poll. */
const MAX_POLL_S = 50;

/** One fault setting for a chat, or for every chat when chatId is omitted. */
export interface EmulatorFault {
  chatId?: number | string;
  /** true: the chat blocked the bot (403 on every send); false: unblocked. */
  blocked?: boolean;
  /** The next `count` sends to the chat answer 429 with `retry_after` seconds. */
  rateLimit?: { count: number; retryAfter: number };
}

/** An answerCallbackQuery the emulator received. */
export interface CallbackAnswer {
  /** The bot that answered: `/_emulator/callback-answers?botToken=` lists one bot's answers. */
  botToken: string;
  callbackQueryId: string;
  text?: string;
  at: number;
}

/** A message a bot sent, as the journal and `/_emulator/sent` report it. */
export interface SentMessage {
  at: number;
  botToken: string;
  method: 'sendMessage' | 'sendPhoto';
  chatId: string;
  text: string;
  replyMarkup?: unknown;
  /** The message_id Telegram (the emulator) gave the message: what a reply's reply_to_message_id names. */
  messageId?: number;
}

export interface TelegramEmulator {
  /** The Bot API root to give telegraf or TELEGRAM_API_ROOT, e.g. http://127.0.0.1:8081 */
  url: string;
  port: number;
  server: TelegramServerInstance;
  close(): Promise<void>;
}

/** Starts the emulator on `host:port` (port 0: any free port); `journalFile` gets one line per bot message. */
export async function startTelegramEmulator(opts: {
  host?: string;
  port: number;
  journalFile?: string;
}): Promise<TelegramEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const webhookSecrets = new Map<string, string>();
  const server = new TelegramServer({ host, port: opts.port, storeTimeout: 24 * 3600 });
  // Webhook deliveries with the secret header: the package posts without it, which a checking bot refuses (401).
  const original = (server as unknown as { addUserUpdate: (u: { botToken: string }) => Promise<void> }).addUserUpdate;
  (server as unknown as { addUserUpdate: (u: { botToken: string }) => Promise<void> }).addUserUpdate = async function (
    this: TelegramServerInstance,
    update,
  ) {
    const hooks = (this as unknown as { webhooks: Record<string, { url: string } | undefined> }).webhooks;
    const hook = hooks[update.botToken];
    const secret = webhookSecrets.get(update.botToken);
    if (!hook || secret === undefined) return original.call(this, update);
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
      body: JSON.stringify(
        (TelegramServer as unknown as { formatUpdate: (u: unknown) => unknown }).formatUpdate(update),
      ),
    });
    await res.body?.cancel();
    if (res.status > 204) throw new Error(`webhook answered HTTP ${res.status}`);
    (this as unknown as { updateId: number }).updateId++;
  };

  const blocked = new Set<string>();
  const rateLimits = new Map<string, { count: number; retryAfter: number }>();
  const callbackAnswers: CallbackAnswer[] = [];
  const sent: SentMessage[] = [];
  if (opts.journalFile) mkdirSync(path.dirname(opts.journalFile), { recursive: true });

  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  /** The request's parameters: query string merged with a JSON, urlencoded or multipart body. */
  async function params(req: http.IncomingMessage, url: URL): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const out: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const type = req.headers['content-type'] ?? '';
    if (body.length === 0) return out;
    if (type.includes('application/json')) return { ...out, ...(JSON.parse(body.toString('utf8')) as object) };
    const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
    for (const [k, v] of form) out[k] = typeof v === 'string' ? v : { file: v.name, bytes: v.size };
    return out;
  }

  /** A fault for this chat's next send, if any: 403 when blocked, 429 while a rate limit has sends left. */
  function fault(chatId: string): { status: number; body: object } | undefined {
    if (blocked.has(chatId)) {
      return {
        status: 403,
        body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' },
      };
    }
    for (const key of [chatId, '*']) {
      const limit = rateLimits.get(key);
      if (!limit || limit.count <= 0) continue;
      limit.count--;
      return {
        status: 429,
        body: {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${limit.retryAfter}`,
          parameters: { retry_after: limit.retryAfter },
        },
      };
    }
    return undefined;
  }

  /** A bot's updates that no getUpdates has confirmed yet, oldest first. */
  const unconfirmed = (token: string) =>
    server.storage.userMessages
      .filter((u) => u.botToken === token && !u.isRead)
      .sort((a, b) => a.updateId - b.updateId);

  /**
   * Telegram's acknowledgement: a getUpdates with `offset` confirms every update below it, and until then an update is
   * returned again by every call. (The package marks an update read as soon as it returns it, so a bot that died
   * between fetching and handling would lose it here and not on Telegram.) The package keeps confirmation in `isRead`.
   */
  function confirmUpdates(token: string, offset: number) {
    for (const u of server.storage.userMessages) if (u.botToken === token && u.updateId < offset) u.isRead = true;
  }

  function waitForUpdate(token: string, timeoutS: number): Promise<void> {
    return new Promise((resolve) => {
      const events = ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'];
      const done = () => {
        clearTimeout(timer);
        for (const e of events) server.off(e, onEvent);
        resolve();
      };
      const onEvent = () => {
        if (server.storage.userMessages.some((u) => u.botToken === token && !u.isRead)) done();
      };
      const timer = setTimeout(done, timeoutS * 1000);
      for (const e of events) server.on(e, onEvent);
    });
  }

  async function botMethod(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    token: string,
    method: string,
  ): Promise<boolean> {
    switch (method) {
      case 'getUpdates': {
        const p = await params(req, url);
        const timeoutS = Math.min(MAX_POLL_S, Math.max(0, Number(p.timeout ?? 0) || 0));
        const limit = Math.min(100, Math.max(1, Number(p.limit ?? 100) || 100));
        confirmUpdates(token, Number(p.offset ?? 0) || 0);
        if (timeoutS > 0 && !unconfirmed(token).length) await waitForUpdate(token, timeoutS);
        json(res, 200, { ok: true, result: unconfirmed(token).slice(0, limit).map(formatUpdate) });
        return true;
      }
      case 'sendMessage':
      case 'sendPhoto': {
        const p = await params(req, url);
        const chatId = String(p.chat_id ?? '');
        const f = fault(chatId);
        if (f) {
          json(res, f.status, f.body);
          return true;
        }
        const text = String(method === 'sendPhoto' ? (p.caption ?? '') : (p.text ?? ''));
        const message = { ...p, chat_id: chatId, text };
        const result = server.addBotMessage(message as Parameters<TelegramServerInstance['addBotMessage']>[0], token);
        const replyMarkup =
          typeof p.reply_markup === 'string' ? (JSON.parse(p.reply_markup) as unknown) : p.reply_markup;
        const record: SentMessage = {
          at: Date.now(),
          botToken: token,
          method,
          chatId,
          text,
          replyMarkup,
          messageId: result.message_id,
        };
        sent.push(record);
        if (opts.journalFile)
          appendFileSync(opts.journalFile, `${JSON.stringify({ ...record, botToken: undefined })}\n`);
        json(res, 200, { ok: true, result });
        return true;
      }
      case 'answerCallbackQuery': {
        const p = await params(req, url);
        callbackAnswers.push({
          botToken: token,
          callbackQueryId: String(p.callback_query_id ?? ''),
          ...(p.text !== undefined ? { text: String(p.text) } : {}),
          at: Date.now(),
        });
        json(res, 200, { ok: true, result: true });
        return true;
      }
      case 'setWebhook': {
        const p = await params(req, url);
        if (typeof p.url !== 'string') {
          json(res, 400, { ok: false, error_code: 400, description: 'Bad Request: url is required' });
          return true;
        }
        if (typeof p.secret_token === 'string') webhookSecrets.set(token, p.secret_token);
        else webhookSecrets.delete(token);
        server.setWebhook({ url: p.url }, token);
        json(res, 200, { ok: true, result: true });
        return true;
      }
      case 'deleteWebhook':
        webhookSecrets.delete(token);
        server.deleteWebhook(token);
        json(res, 200, { ok: true, result: true });
        return true;
      default:
        return false;
    }
  }

  async function control(req: http.IncomingMessage, res: http.ServerResponse, url: URL, name: string): Promise<void> {
    switch (name) {
      case 'health':
        return json(res, 200, { ok: true, emulator: 'telegram-test-api' });
      case 'faults': {
        const p = (await params(req, url)) as EmulatorFault;
        const key = p.chatId === undefined ? '*' : String(p.chatId);
        if (p.blocked === true) blocked.add(key);
        if (p.blocked === false) blocked.delete(key);
        if (p.rateLimit) rateLimits.set(key, { ...p.rateLimit });
        return json(res, 200, { ok: true });
      }
      case 'callback-answers': {
        // One bot's answers (its token): tests and simulators that run beside each other share the emulator, and
        // a count of every bot's answers moves under one of them whenever another presses a button.
        const token = url.searchParams.get('botToken');
        if (!token) return json(res, 400, { ok: false, description: 'callback-answers needs ?botToken=' });
        return json(res, 200, { ok: true, result: callbackAnswers.filter((a) => a.botToken === token) });
      }
      case 'sent': {
        // Filters: one chat, one bot (its token), or both; a poller then parses its own messages, not every bot's.
        const chatId = url.searchParams.get('chatId');
        const token = url.searchParams.get('botToken');
        const result = sent.filter((m) => (!chatId || m.chatId === chatId) && (!token || m.botToken === token));
        return json(res, 200, { ok: true, result });
      }
      default:
        return json(res, 404, { ok: false, description: 'unknown emulator control route' });
    }
  }

  /**
   * A simulated user's message (the package's client route `/sendMessage`): a `reply_to_message_id` becomes the
   * `reply_to_message` Telegram would attach, from the bot message of that id in the same chat (dropped otherwise).
   */
  async function userMessage(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const p = await params(req, url);
    const replyTo = p.reply_to_message_id;
    delete p.reply_to_message_id;
    if (replyTo !== undefined) {
      const chatId = String((p.chat as { id?: unknown } | undefined)?.id ?? '');
      const stored = server.storage.botMessages.find(
        (m) =>
          String(m.messageId) === String(replyTo) && m.botToken === p.botToken && String(m.message.chat_id) === chatId,
      );
      if (stored) {
        p.reply_to_message = {
          message_id: stored.messageId,
          from: { id: Number(String(stored.botToken).split(':')[0]) || 1, is_bot: true, first_name: 'Bot' },
          chat: p.chat,
          date: Math.floor(stored.time / 1000),
          text: stored.message.text,
        };
      }
    }
    await server.addUserMessage(p as unknown as Parameters<TelegramServerInstance['addUserMessage']>[0]);
    json(res, 200, { ok: true, result: null });
  }

  const express = (server as unknown as { webServer: http.RequestListener }).webServer;
  const front = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const handle = async (): Promise<void> => {
      const ctl = /^\/_emulator\/([\w-]+)$/.exec(url.pathname);
      if (ctl) return control(req, res, url, ctl[1]!);
      if (url.pathname === '/sendMessage' && req.method === 'POST') return userMessage(req, res, url);
      const bot = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
      if (bot && (await botMethod(req, res, url, bot[1]!, bot[2]!))) return;
      express(req, res);
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { ok: false, error_code: 500, description: String(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(opts.port, host, () => resolve());
  });
  const actualPort = (front.address() as AddressInfo).port;
  // The package's client API builds its URLs from config.apiURL: point it at the front's real port.
  server.config.port = actualPort;
  server.config.apiURL = `http://${host}:${actualPort}`;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        front.closeAllConnections();
        front.close(() => resolve());
      }),
  };
}
