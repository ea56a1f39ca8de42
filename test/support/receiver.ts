/**
 * A local stand-in for Slack's incoming webhooks and the Telegram Bot API, over real HTTP on 127.0.0.1.
 *
 * It records every request (method, path, headers, raw body, parsed JSON or multipart fields and files) and
 * answers like the real services: Slack replies `ok` as text, Telegram `{ ok: true, result: Message }`. It can be
 * scripted to fail the next N requests of a channel with the status codes, bodies and Retry-After hints the real
 * services use, so retry behaviour is tested against actual responses rather than mocks, or to take a request
 * and never answer it (a sender that dies or times out mid-request).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Which fake service a request was addressed to. */
export type ReceiverChannel = 'slack' | 'telegram';

/** One file part of a multipart upload, as received. */
export interface RecordedFile {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

/** One request as the receiver saw it, with its parsed body and the status it answered. */
export interface RecordedRequest {
  channel: ReceiverChannel | 'other';
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Parsed JSON body (Slack posts, Telegram JSON calls). */
  json?: unknown;
  /** Multipart text fields (Telegram sendPhoto). */
  fields?: Record<string, string>;
  /** Multipart files by field name (Telegram sendPhoto: `photo`). */
  files?: Record<string, RecordedFile>;
  /** Telegram method name (`sendMessage`, `sendPhoto`) and the token from the path. */
  telegramMethod?: string;
  telegramToken?: string;
  /** The client's port: requests on one reused connection share it. */
  remotePort?: number;
  /** Status the receiver answered with, and when the request arrived (ms since epoch). */
  status: number;
  receivedAt: number;
}

/** A scripted failure: the HTTP status, an optional Retry-After in seconds, and the error text. */
export interface Failure {
  status: number;
  /** Slack: Retry-After header; Telegram 429: `parameters.retry_after` (and the header). */
  retryAfter?: number;
  /** Slack: the text body (e.g. `invalid_token`, `channel_not_found`); Telegram: the description. */
  error?: string;
}

/** A running receiver; `close()` it in `finally`. */
export interface Receiver {
  /** Base URL, e.g. http://127.0.0.1:43121 */
  url: string;
  /** A webhook URL shaped like Slack's (`/services/T…/B…/…`). */
  slackUrl: string;
  /** Use as TELEGRAM_API_ROOT / telegraf's apiRoot. */
  telegramApiRoot: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /**
   * The next `count` requests of `channel` get `failure` instead of success; with `match`, only requests it accepts
   * (e.g. one message's text) count, and the others are answered normally.
   */
  failNext(
    channel: ReceiverChannel,
    count: number,
    failure: Failure,
    match?: (request: RecordedRequest) => boolean,
  ): void;
  /** The next `count` requests of `channel` are received (recorded, status 0) and never answered. */
  hangNext(channel: ReceiverChannel, count: number): void;
  /** Resolves once `count` requests of `channel` have arrived (answered or not). */
  waitFor(channel: ReceiverChannel, count: number): Promise<void>;
  close(): Promise<void>;
}

/** A scripted answer for the next request of a channel that `match` accepts (any request without it). */
interface Scripted {
  answer: Failure | 'hang';
  match?: (request: RecordedRequest) => boolean;
}

const SLACK_DEFAULT_ERRORS: Record<number, string> = {
  400: 'invalid_payload',
  403: 'invalid_token',
  404: 'channel_not_found',
  410: 'channel_is_archived',
  429: 'rate_limited',
  500: 'internal_error',
  503: 'service_unavailable',
};

const TELEGRAM_DEFAULT_ERRORS: Record<number, string> = {
  400: 'Bad Request: chat not found',
  401: 'Unauthorized',
  403: 'Forbidden: bot was blocked by the user',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Parses multipart/form-data with the platform's own parser (undici's `Request.formData()`). */
async function parseMultipart(
  contentType: string,
  body: Buffer,
): Promise<{ fields: Record<string, string>; files: Record<string, RecordedFile> }> {
  const form = await new Request('http://receiver.local/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  }).formData();
  const fields: Record<string, string> = {};
  const files: Record<string, RecordedFile> = {};
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields[name] = value;
    else files[name] = { filename: value.name, contentType: value.type, bytes: Buffer.from(await value.arrayBuffer()) };
  }
  return { fields, files };
}

/**
 * The settings that send Slack and Telegram to `receiver`: its webhook URL and Telegram API root, with the bot
 * token and the staff and patient chats given (a chat left out stays unset, as with a real deployment).
 */
export function receiverSettings(
  receiver: Receiver,
  telegram: { botToken: string; staffChat?: string; patientChat?: string },
): Record<string, string> {
  return {
    SLACK_WEBHOOK_URL: receiver.slackUrl,
    TELEGRAM_BOT_TOKEN: telegram.botToken,
    ...(telegram.staffChat === undefined ? {} : { TELEGRAM_STAFF_CHAT_ID: telegram.staffChat }),
    ...(telegram.patientChat === undefined ? {} : { TELEGRAM_PATIENT_CHAT_ID: telegram.patientChat }),
    TELEGRAM_API_ROOT: receiver.telegramApiRoot,
  };
}

/** Starts the receiver on 127.0.0.1 with a random free port. */
export async function startReceiver(): Promise<Receiver> {
  const requests: RecordedRequest[] = [];
  const scripted: Record<ReceiverChannel, Scripted[]> = { slack: [], telegram: [] };
  /** Takes the first scripted answer of `channel` that applies to `rec`. */
  const nextScripted = (channel: ReceiverChannel, rec: RecordedRequest): Failure | 'hang' | undefined => {
    const i = scripted[channel].findIndex((s) => !s.match || s.match(rec));
    return i < 0 ? undefined : scripted[channel].splice(i, 1)[0]?.answer;
  };
  const waiters: Array<() => void> = [];
  let messageId = 1000;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const urlPath = req.url ?? '/';
        const contentType = req.headers['content-type'] ?? '';
        const rec: RecordedRequest = {
          channel: urlPath.startsWith('/services/')
            ? 'slack'
            : /^\/bot[^/]+\/\w+$/.test(urlPath)
              ? 'telegram'
              : 'other',
          method: req.method ?? 'GET',
          path: urlPath,
          headers: req.headers,
          body,
          status: 0,
          receivedAt: Date.now(),
          remotePort: req.socket.remotePort,
        };
        requests.push(rec);
        for (const wake of waiters.splice(0)) wake();
        try {
          if (contentType.startsWith('application/json') && body.length > 0)
            rec.json = JSON.parse(body.toString('utf8'));
          if (contentType.startsWith('multipart/form-data'))
            Object.assign(rec, await parseMultipart(contentType, body));
        } catch (err) {
          rec.status = 400;
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`unparseable body: ${(err as Error).message}`);
          return;
        }

        const telegram = /^\/bot([^/]+)\/(\w+)$/.exec(urlPath);
        if (urlPath.startsWith('/services/')) {
          rec.channel = 'slack';
          const failure = nextScripted('slack', rec);
          if (failure === 'hang') return;
          if (failure) {
            rec.status = failure.status;
            const headers: Record<string, string> = { 'content-type': 'text/plain' };
            if (failure.retryAfter !== undefined) headers['retry-after'] = String(failure.retryAfter);
            res
              .writeHead(failure.status, headers)
              .end(failure.error ?? SLACK_DEFAULT_ERRORS[failure.status] ?? 'error');
            return;
          }
          const payload = rec.json as { text?: string; blocks?: unknown } | undefined;
          if (req.method !== 'POST' || !payload || (!payload.text && !payload.blocks)) {
            rec.status = 400;
            res.writeHead(400, { 'content-type': 'text/plain' }).end('no_text');
            return;
          }
          rec.status = 200;
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
          return;
        }
        if (telegram) {
          rec.channel = 'telegram';
          rec.telegramToken = telegram[1];
          rec.telegramMethod = telegram[2];
          const failure = nextScripted('telegram', rec);
          if (failure === 'hang') return;
          if (failure) {
            rec.status = failure.status;
            const parameters = failure.retryAfter !== undefined ? { retry_after: failure.retryAfter } : undefined;
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            if (failure.retryAfter !== undefined) headers['retry-after'] = String(failure.retryAfter);
            const description =
              failure.error ??
              (failure.status === 429 && failure.retryAfter !== undefined
                ? `Too Many Requests: retry after ${failure.retryAfter}`
                : (TELEGRAM_DEFAULT_ERRORS[failure.status] ?? 'Error'));
            res.writeHead(failure.status, headers).end(
              JSON.stringify({
                ok: false,
                error_code: failure.status,
                description,
                ...(parameters ? { parameters } : {}),
              }),
            );
            return;
          }
          const input = { ...(rec.json as Record<string, unknown> | undefined), ...rec.fields };
          const chatId = Number(input.chat_id);
          const message: Record<string, unknown> = {
            message_id: ++messageId,
            date: Math.floor(rec.receivedAt / 1000),
            chat: { id: Number.isNaN(chatId) ? input.chat_id : chatId, type: 'private' },
          };
          if (rec.telegramMethod === 'sendPhoto') {
            const photo = rec.files?.photo;
            if (!photo) {
              rec.status = 400;
              res.writeHead(400, { 'content-type': 'application/json' }).end(
                JSON.stringify({
                  ok: false,
                  error_code: 400,
                  description: 'Bad Request: there is no photo in the request',
                }),
              );
              return;
            }
            message.photo = [
              {
                file_id: `photo-${messageId}`,
                file_unique_id: `u${messageId}`,
                width: 1200,
                height: 800,
                file_size: photo.bytes.length,
              },
            ];
            if (input.caption) message.caption = input.caption;
          } else if (typeof input.text === 'string') {
            message.text = input.text;
          }
          rec.status = 200;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: message }));
          return;
        }
        rec.status = 404;
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      })();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    slackUrl: `${url}/services/T00000000/B00000000/receiverreceiverreceiver`,
    telegramApiRoot: url,
    requests,
    failNext(channel, count, failure, match) {
      for (let i = 0; i < count; i++) scripted[channel].push({ answer: failure, ...(match ? { match } : {}) });
    },
    hangNext(channel, count) {
      for (let i = 0; i < count; i++) scripted[channel].push({ answer: 'hang' });
    },
    async waitFor(channel, count) {
      while (requests.filter((r) => r.channel === channel).length < count) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The chat a Telegram request was addressed to (JSON body or multipart field), as a string. */
export function chatIdOf(request: RecordedRequest): string | undefined {
  const json = request.json as { chat_id?: unknown } | undefined;
  const id = json?.chat_id ?? request.fields?.chat_id;
  return id === undefined ? undefined : String(id);
}
