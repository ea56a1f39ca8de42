/**
 * `healthsynth codec-server [--port 8888] [--host 127.0.0.1]`: a small HTTP server that encrypts and
 * decrypts payloads with TEMPORAL_ENCRYPTION_KEYS, so the Temporal Web UI and `temporal workflow show
 * --codec-endpoint` can show operators what an encrypted workflow received and returned.
 *
 * It speaks the remote codec protocol the Web UI and the Temporal CLI use: `POST /encode` and
 * `POST /decode` with a JSON body `{"payloads":[{"metadata":{"encoding":"<base64>"},"data":"<base64>"}]}`
 * (protobuf JSON of Payload) and the same shape back. Any path ending in /encode or /decode works, so
 * a per-namespace prefix such as `http://host:8888/default` is fine.
 *
 * Whoever can call it can decrypt every payload, so every request must pass, in this order:
 * - a Host check (the name it was reached by must be the address it listens on, or one given with
 *   --allowed-host): a web page whose DNS name was rebound to 127.0.0.1 sends its own name and gets 421;
 * - an Origin check: a browser request from any origin but the Web UI's (TEMPORAL_UI_URL) gets 403, and
 *   only that origin gets CORS headers (preflight included);
 * - the bearer token CODEC_SERVER_TOKEN, compared in constant time: `Authorization: Bearer <token>` (the
 *   CLI's `--codec-auth`), or the token as the first path segment, `http://host:8888/<token>`, because the
 *   Web UI cannot send a header of its own choosing (its "pass access token" sends the UI's own OIDC login
 *   token). Without a token the server refuses to start unless told `--allow-no-token` on a loopback address.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Payload } from '@temporalio/common';
import type { Command } from 'commander';
import { z } from 'zod';
import { EncryptionCodec } from '../codec.js';
import type { Config } from '../config.js';
import { resolveDeps, runAction, UsageError, type CliDeps } from './command.js';

/** The default port, the one Temporal's samples and docs use for codec servers. */
export const CODEC_SERVER_PORT = 8888;
/** Largest request body accepted: a history page of payloads, each capped at 2 MB by Temporal, base64-encoded. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** What the Web UI sends (it adds Authorization when "pass access token" is on); the CLI is not a browser. */
const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, X-Namespace';

const jsonPayload = z.object({
  metadata: z.record(z.string(), z.string()).nullish(),
  data: z.string().nullish(),
});
const body = z.object({ payloads: z.array(jsonPayload) });
type JsonPayload = z.infer<typeof jsonPayload>;

/** Protobuf JSON (base64 bytes) to a Payload. */
function fromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: metadata
      ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
      : undefined,
    data: data ? Buffer.from(data, 'base64') : undefined,
  };
}

/** A Payload to protobuf JSON (base64 bytes). */
function toJson({ metadata, data }: Payload): JsonPayload {
  const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  return {
    metadata: metadata ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, b64(v)])) : undefined,
    data: data ? b64(data) : undefined,
  };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'];
const WILDCARD_HOSTS = ['0.0.0.0', '::'];

/** The host name of a Host header or a bind address as a URL spells it (lower case, IPv6 in brackets). */
function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const bracketed = host.includes(':') && !host.startsWith('[') && host.split(':').length > 2 ? `[${host}]` : host;
  try {
    return new URL(`http://${bracketed}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The host names a request may carry in its Host header: the bind address (all of this machine's
 * addresses for 0.0.0.0 or ::, every loopback name for a loopback bind) plus the names given.
 */
function allowedHostnames(bindHost: string, extra: readonly string[]): Set<string> {
  const names: string[] = [...extra];
  if (LOOPBACK_HOSTS.includes(bindHost)) names.push(...LOOPBACK_HOSTS);
  else if (WILDCARD_HOSTS.includes(bindHost)) {
    names.push(...LOOPBACK_HOSTS);
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) names.push(a.address);
  } else names.push(bindHost);
  return new Set(names.map(hostnameOf).filter((n): n is string => n !== undefined));
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** How {@link startCodecServer} listens and whom it lets in; the defaults are the safe ones (loopback, token required). */
export interface CodecServerOptions {
  /** Port to listen on; 0 picks a free one (tests). Default {@link CODEC_SERVER_PORT}. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: anyone who reaches the server with the token can decrypt. */
  host?: string;
  /**
   * More names the server may be reached by (Host header), e.g. its DNS name behind a proxy. The bind
   * address is always allowed; every other name is refused, which is what stops DNS rebinding.
   */
  allowedHosts?: readonly string[];
  /** Serve without CODEC_SERVER_TOKEN (local development only); refused unless `host` is a loopback address. */
  allowNoToken?: boolean;
  /** Where request errors are logged (never payload contents, paths or tokens). Default: console.error. */
  log?: (line: string) => void;
}

/** A listening codec server: where to reach it, and how to stop it (closing open connections too). */
export interface RunningCodecServer {
  /** Base URL to give the CLI (`--codec-endpoint`, with `--codec-auth`) or, with `/<token>` added, the Web UI. */
  url: string;
  port: number;
  /** Whether requests need CODEC_SERVER_TOKEN (false only with `allowNoToken` and no token configured). */
  requiresToken: boolean;
  close(): Promise<void>;
}

/**
 * Starts the codec server with the keys from `config` (TEMPORAL_ENCRYPTION_KEYS must be set) and the token
 * CODEC_SERVER_TOKEN. Resolves once it listens. A foreign Host gets 421, a foreign Origin 403, a missing or
 * wrong token 401; bad requests get 400 with a reason; a payload that cannot be decrypted (unknown key id,
 * altered bytes) gets 422 with the codec's message, which names key ids but never payload contents.
 */
export async function startCodecServer(config: Config, options: CodecServerOptions = {}): Promise<RunningCodecServer> {
  const { encryptionKeys, uiUrl } = config.temporal;
  if (encryptionKeys.length === 0) {
    throw new UsageError('TEMPORAL_ENCRYPTION_KEYS is not set: there is nothing for a codec server to decode');
  }
  const host = options.host ?? '127.0.0.1';
  const { token } = config.codecServer;
  if (!token && !options.allowNoToken) {
    throw new UsageError(
      'CODEC_SERVER_TOKEN is not set: whoever can call the codec server can decrypt every payload, so it needs a ' +
        'bearer token. Generate one with `openssl rand -hex 32` and set CODEC_SERVER_TOKEN; for local development ' +
        'only, --allow-no-token serves without one on a loopback address.',
    );
  }
  if (!token && !LOOPBACK_HOSTS.includes(host)) {
    throw new UsageError(
      `--allow-no-token works only on a loopback --host (${LOOPBACK_HOSTS.join(', ')}), not ${host}: ` +
        'set CODEC_SERVER_TOKEN to listen on other interfaces',
    );
  }
  const codec = EncryptionCodec.fromBase64(...encryptionKeys);
  const allowedOrigin = new URL(uiUrl).origin;
  const hostnames = allowedHostnames(host, options.allowedHosts ?? []);
  const tokenDigest = token ? sha256(token) : undefined;
  const log = options.log ?? ((line: string) => console.error(line));

  /** Constant time in the token's content and length: both sides are hashed to 32 bytes first. */
  const isToken = (candidate: string | undefined): boolean =>
    tokenDigest !== undefined && candidate !== undefined && timingSafeEqual(sha256(candidate), tokenDigest);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const hostname = hostnameOf(req.headers.host);
    if (!hostname || !hostnames.has(hostname)) {
      throw new HttpError(
        421,
        `this codec server does not answer for Host "${req.headers.host ?? ''}"; ` +
          'call it by the address it printed at start, or start it with --allowed-host <name>',
      );
    }
    res.setHeader('Vary', 'Origin');
    const { origin } = req.headers;
    if (origin !== undefined) {
      if (origin !== allowedOrigin) {
        throw new HttpError(403, `only the Web UI at ${allowedOrigin} (TEMPORAL_UI_URL) may call this from a browser`);
      }
      res.setHeader('Access-Control-Allow-Origin', allowedOrigin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...(origin !== undefined
          ? {
              'Access-Control-Allow-Methods': 'POST, OPTIONS',
              'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
              'Access-Control-Max-Age': '600',
            }
          : {}),
      });
      res.end();
      return;
    }

    const segments = new URL(req.url ?? '/', 'http://codec').pathname.split('/');
    const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    const pathToken = isToken(segments[1]);
    if (tokenDigest && !isToken(bearer) && !pathToken) {
      throw new HttpError(
        401,
        'missing or wrong token: send Authorization: Bearer <CODEC_SERVER_TOKEN> (temporal --codec-auth), ' +
          'or put the token first in the codec endpoint path (Web UI)',
        { 'WWW-Authenticate': 'Bearer realm="healthsynth codec server"' },
      );
    }
    const path = (pathToken ? ['', ...segments.slice(2)] : segments).join('/');
    const op = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
    if (!op) throw new HttpError(404, 'use POST /encode or POST /decode');
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} is not allowed; use POST`);

    let parsed: z.infer<typeof body>;
    try {
      parsed = body.parse(JSON.parse(await readBody(req)));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'body must be JSON {"payloads":[{"metadata":{...},"data":"<base64>"}]}');
    }
    const input = parsed.payloads.map(fromJson);
    let output: Payload[];
    try {
      output = op === 'encode' ? await codec.encode(input) : await codec.decode(input);
    } catch (err) {
      throw new HttpError(422, (err as Error).message);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ payloads: output.map(toJson) }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error';
      // Never the URL: its path may hold the token.
      log(
        `codec-server: ${req.method} from ${req.socket.remoteAddress} -> ${status} ` +
          `${err instanceof Error ? err.message : String(err)}`,
      );
      if (!res.headersSent) {
        res.writeHead(status, {
          'Content-Type': 'text/plain; charset=utf-8',
          ...(err instanceof HttpError ? err.headers : {}),
        });
      }
      res.end(message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? CODEC_SERVER_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // A wildcard bind is not an address to call; print the loopback one (always allowed by the Host check).
  const callHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const urlHost = callHost.includes(':') ? `[${callHost}]` : callHost;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    requiresToken: tokenDigest !== undefined,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Registers `healthsynth codec-server`. */
export function registerCodecServerCommands(program: Command, deps: CliDeps = {}): void {
  program
    .command('codec-server')
    .description(
      'serve POST /encode and /decode with TEMPORAL_ENCRYPTION_KEYS, so the Web UI and `temporal --codec-endpoint` ' +
        'can show encrypted payloads; requires CODEC_SERVER_TOKEN',
    )
    .option('--port <port>', 'port to listen on', String(CODEC_SERVER_PORT))
    .option('--host <host>', 'interface to listen on (anyone who reaches it with the token can decrypt)', '127.0.0.1')
    .option(
      '--allowed-host <name>',
      'another name clients reach it by (Host header), e.g. its DNS name; repeatable',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--allow-no-token', 'local development only: serve without CODEC_SERVER_TOKEN on a loopback --host')
    .action(async (opts: { port: string; host: string; allowedHost: string[]; allowNoToken?: boolean }) => {
      const { io, config } = resolveDeps(deps);
      await runAction(io, async () => {
        const port = Number(opts.port);
        if (!/^\d+$/.test(opts.port) || port > 65_535) throw new UsageError(`--port must be 0-65535, got ${opts.port}`);
        const cfg = config();
        const server = await startCodecServer(cfg, {
          port,
          host: opts.host,
          allowedHosts: opts.allowedHost,
          allowNoToken: opts.allowNoToken === true,
          log: (l) => io.err(l),
        });
        if (!LOOPBACK_HOSTS.includes(opts.host)) {
          io.err(`codec-server: listening on ${opts.host}: anyone who reaches it with the token can decrypt payloads`);
        }
        if (!server.requiresToken) {
          io.err('codec-server: WARNING no CODEC_SERVER_TOKEN: any program on this machine can decrypt payloads');
        }
        // The token itself is never printed: these lines name the variable that holds it.
        io.out(
          `codec-server: listening on ${server.url} (CORS origin ${new URL(cfg.temporal.uiUrl).origin}); ` +
            'Ctrl-C stops it\n' +
            (server.requiresToken
              ? `  Web UI:       codec endpoint ${server.url}/<CODEC_SERVER_TOKEN> ` +
                `(temporal server start-dev --ui-codec-endpoint ${server.url}/$CODEC_SERVER_TOKEN)\n` +
                `  Temporal CLI: temporal workflow show --workflow-id <id> --codec-endpoint ${server.url} ` +
                '--codec-auth "Bearer $CODEC_SERVER_TOKEN"'
              : `  Web UI:       temporal server start-dev --ui-codec-endpoint ${server.url}\n` +
                `  Temporal CLI: temporal workflow show --workflow-id <id> --codec-endpoint ${server.url}`),
        );
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void server.close().then(resolve, resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      });
    });
}
