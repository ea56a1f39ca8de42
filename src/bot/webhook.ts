/**
 * The bot's webhook endpoint: Telegram POSTs each update with the `X-Telegram-Bot-Api-Secret-Token` header that
 * `setWebhook(secret_token)` registered. A request without the right header (compared in constant time), on another
 * path or method, or with a body over 1 MiB gets 401 (or 404/405/413) and changes nothing; a good one is answered
 * 200 once the update is handled, so Telegram does not redeliver it. `GET /healthz` answers 200 (container checks).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Update } from 'telegraf/types';

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';
const MAX_BODY = 1 << 20;

/** Constant-time equality of two strings of any length (their SHA-256 digests are compared). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export interface WebhookServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port (0: any free port) for updates at `path`; see the module comment. */
export async function startWebhookServer(opts: {
  host: string;
  port: number;
  path: string;
  secret: string;
  onUpdate: (update: Update) => Promise<void>;
  log?: (line: string) => void;
}): Promise<WebhookServer> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const server = http.createServer((req, res) => {
    const end = (status: number) => {
      res.writeHead(status).end();
    };
    const pathname = new URL(req.url ?? '/', 'http://bot').pathname;
    if (pathname === '/healthz' && req.method === 'GET') return end(200);
    if (pathname !== opts.path) return end(404);
    if (req.method !== 'POST') return end(405);
    const given = req.headers[SECRET_HEADER];
    if (typeof given !== 'string' || !sameSecret(given, opts.secret)) {
      req.resume();
      return end(401);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        end(413);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      let update: Update;
      try {
        update = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Update;
      } catch {
        return end(400);
      }
      opts.onUpdate(update).then(
        () => end(200),
        (err: unknown) => {
          log(`bot: webhook update failed: ${(err as Error).message}`);
          end(200); // handled as far as it goes; a redelivery would not do better
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
