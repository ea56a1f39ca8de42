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
 * Whoever reaches it can decrypt, so it listens on loopback unless told otherwise, and answers CORS
 * only for the configured Web UI origin (TEMPORAL_UI_URL).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import type { Command } from 'commander';
import { z } from 'zod';
import { EncryptionCodec } from '../codec.js';
import type { Config } from '../config.js';
import { resolveDeps, runAction, UsageError, type CliDeps } from './output.js';

/** The default port, the one Temporal's samples and docs use for codec servers. */
export const CODEC_SERVER_PORT = 8888;
/** Largest request body accepted: a history page of payloads, each capped at 2 MB by Temporal, base64-encoded. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

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

export interface CodecServerOptions {
  /** Port to listen on; 0 picks a free one (tests). Default {@link CODEC_SERVER_PORT}. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1: anyone who reaches the server can decrypt. */
  host?: string;
  /** Where request errors are logged (never payload contents). Default: console.error. */
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  /** Base URL to give the Web UI (`--ui-codec-endpoint`) or the CLI (`--codec-endpoint`). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the codec server with the keys from `config` (TEMPORAL_ENCRYPTION_KEYS must be set). Resolves
 * once it listens. Bad requests get 400 with a reason; a payload that cannot be decrypted (unknown key
 * id, altered bytes) gets 422 with the codec's message, which names key ids but never payload contents.
 */
export async function startCodecServer(config: Config, options: CodecServerOptions = {}): Promise<RunningCodecServer> {
  const { encryptionKeys, uiUrl } = config.temporal;
  if (encryptionKeys.length === 0) {
    throw new UsageError('TEMPORAL_ENCRYPTION_KEYS is not set: there is nothing for a codec server to decode');
  }
  const codec = EncryptionCodec.fromBase64(...encryptionKeys);
  const allowedOrigin = new URL(uiUrl).origin;
  const log = options.log ?? ((line: string) => console.error(line));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.headers.origin === allowedOrigin) {
      res.setHeader('Access-Control-Allow-Origin', allowedOrigin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const path = new URL(req.url ?? '/', 'http://codec').pathname;
    const op = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'content-type, x-namespace',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }
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
      log(`codec-server: ${req.method} ${req.url} -> ${status} ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(message);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? CODEC_SERVER_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Registers `healthsynth codec-server`. */
export function registerCodecServerCommands(program: Command, deps: CliDeps = {}): void {
  program
    .command('codec-server')
    .description(
      'serve POST /encode and /decode with TEMPORAL_ENCRYPTION_KEYS, so the Web UI and `temporal --codec-endpoint` ' +
        'can show encrypted payloads',
    )
    .option('--port <port>', 'port to listen on', String(CODEC_SERVER_PORT))
    .option('--host <host>', 'interface to listen on (anyone who reaches it can decrypt)', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      const { io, config } = resolveDeps(deps);
      await runAction(io, async () => {
        const port = Number(opts.port);
        if (!/^\d+$/.test(opts.port) || port > 65_535) throw new UsageError(`--port must be 0-65535, got ${opts.port}`);
        const cfg = config();
        const server = await startCodecServer(cfg, { port, host: opts.host, log: (l) => io.err(l) });
        if (!LOOPBACK.has(opts.host)) {
          io.err(`codec-server: WARNING listening on ${opts.host}: anyone who can reach it can decrypt payloads`);
        }
        io.out(
          `codec-server: listening on ${server.url} (CORS origin ${new URL(cfg.temporal.uiUrl).origin}); ` +
            'Ctrl-C stops it\n' +
            `  Web UI:       temporal server start-dev --ui-codec-endpoint ${server.url}\n` +
            `  Temporal CLI: temporal workflow show --workflow-id <id> --codec-endpoint ${server.url}`,
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
