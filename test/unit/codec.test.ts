/**
 * EncryptionCodec: what goes in comes out, what was altered is refused, plain payloads pass, an unknown
 * key is named; rotation keys from TEMPORAL_ENCRYPTION_KEYS; plus the codec server's HTTP contract over
 * real HTTP: bearer token (header or endpoint path), Host check, CORS for the Web UI's origin only, bad requests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, ValueError, type Payload } from '@temporalio/common';
import { Command } from 'commander';
import { registerCodecServerCommands, startCodecServer, type RunningCodecServer } from '../../src/cli/codec-server.js';
import { memoryIo } from '../../src/cli/command.js';
import {
  dataConverterFor,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  encryptionKeyId,
  METADATA_ENCRYPTION_KEY_ID,
} from '../../src/codec.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const str = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const newKey = (): Buffer => randomBytes(32);
const SECRET = { patient: 'Maria da Silva', diagnosis: 'hypertension', billingAmount: 123.45 };

describe('EncryptionCodec', () => {
  const key = newKey();
  const codec = new EncryptionCodec([key]);

  test('round trip restores the payload, metadata included', async () => {
    const original = defaultPayloadConverter.toPayload(SECRET);
    const [sealed] = await codec.encode([original]);
    assert.ok(sealed, 'encode returned a payload');
    assert.equal(str(sealed.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
    assert.equal(str(sealed.metadata?.[METADATA_ENCRYPTION_KEY_ID]), encryptionKeyId(key));
    assert.match(encryptionKeyId(key), /^[0-9a-f]{8}$/);
    assert.equal(Object.keys(sealed.metadata ?? {}).length, 2, 'the original encoding is inside the ciphertext');
    assert.ok(!str(sealed.data).includes('Maria'), 'no plaintext in the sealed bytes');

    const [opened] = await codec.decode([sealed]);
    assert.ok(opened, 'decode returned a payload');
    assert.equal(str(opened.metadata?.[METADATA_ENCODING_KEY]), 'json/plain');
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened), SECRET);
  });

  test('each payload gets its own IV: the same value encrypts to different bytes', async () => {
    const p = defaultPayloadConverter.toPayload(SECRET);
    const [a, b] = await codec.encode([p, p]);
    assert.notDeepEqual(Buffer.from(a?.data ?? []), Buffer.from(b?.data ?? []));
    assert.notDeepEqual(Buffer.from(a?.data ?? []).subarray(0, 12), Buffer.from(b?.data ?? []).subarray(0, 12));
  });

  test('empty, null and binary payloads survive', async () => {
    const inputs = [
      defaultPayloadConverter.toPayload(undefined),
      defaultPayloadConverter.toPayload(null),
      defaultPayloadConverter.toPayload(new Uint8Array([0, 1, 255])),
      defaultPayloadConverter.toPayload(''),
    ];
    const out = await codec.decode(await codec.encode(inputs));
    assert.deepEqual(
      out.map((p) => defaultPayloadConverter.fromPayload(p)),
      [undefined, null, new Uint8Array([0, 1, 255]), ''],
    );
  });

  test('a changed byte anywhere in IV, ciphertext or tag makes decode fail', async () => {
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(SECRET)]);
    assert.ok(sealed?.data, 'encode returned a payload with data');
    const data = sealed.data;
    for (const index of [0, 11, 12, Math.floor(data.length / 2), data.length - 1]) {
      const tampered = Buffer.from(data);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      await assert.rejects(
        codec.decode([{ metadata: sealed.metadata, data: tampered }]),
        (err: Error) => err instanceof ValueError && /failed authentication/.test(err.message),
        `byte ${index}`,
      );
    }
    await assert.rejects(codec.decode([{ metadata: sealed.metadata, data: data.subarray(0, 20) }]), /too short/);
  });

  test('plain payloads pass through unchanged', async () => {
    const plain = defaultPayloadConverter.toPayload({ date: '2031-05-03' });
    const binary = defaultPayloadConverter.toPayload(new Uint8Array([7]));
    const noMetadata: Payload = { data: Buffer.from('x') };
    const out = await codec.decode([plain, binary, noMetadata]);
    assert.equal(out[0], plain);
    assert.equal(out[1], binary);
    assert.equal(out[2], noMetadata);
  });

  test('a payload from an unknown key fails and names both key ids', async () => {
    const other = newKey();
    const [sealed] = await new EncryptionCodec([other]).encode([defaultPayloadConverter.toPayload(SECRET)]);
    assert.ok(sealed, 'encode returned a payload');
    await assert.rejects(
      codec.decode([sealed]),
      (err: Error) =>
        err instanceof ValueError &&
        err.message.includes(encryptionKeyId(other)) &&
        err.message.includes(encryptionKeyId(key)) &&
        !err.message.includes('Maria'),
    );
    await assert.rejects(
      codec.decode([{ metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING) }, data: sealed.data }]),
      /no encryption-key-id/,
    );
  });

  test('rotation: the first key encrypts, every key decrypts', async () => {
    const old = newKey();
    const [fromOld] = await new EncryptionCodec([old]).encode([defaultPayloadConverter.toPayload(SECRET)]);
    const rotated = new EncryptionCodec([newKey(), old]);
    const [opened] = await rotated.decode([fromOld as Payload]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened as Payload), SECRET);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(1)]);
    assert.equal(str(fresh?.metadata?.[METADATA_ENCRYPTION_KEY_ID]), rotated.keyId);
    assert.notEqual(rotated.keyId, encryptionKeyId(old));
  });

  test('a key that is not 32 bytes, no key, or one key given twice is refused', () => {
    assert.throws(() => new EncryptionCodec([randomBytes(16)]), /32 bytes, got 16/);
    assert.throws(() => new EncryptionCodec([]), /at least one key/);
    assert.throws(() => new EncryptionCodec([key, newKey(), key]), new RegExp(`same key id ${encryptionKeyId(key)}`));
  });

  test('dataConverterFor: a codec with the configured keys, or nothing without them', async () => {
    const b64 = key.toString('base64');
    assert.equal(dataConverterFor(loadConfig({ TEMPORAL_ENCRYPTION_KEYS: '' })), undefined);
    const dc = dataConverterFor(loadConfig({ TEMPORAL_ENCRYPTION_KEYS: b64 }));
    const [fromConfig] = dc?.payloadCodecs ?? [];
    assert.ok(fromConfig instanceof EncryptionCodec, 'the data converter has an EncryptionCodec');
    const [sealed] = await fromConfig.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const [opened] = await codec.decode([sealed as Payload]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened as Payload), SECRET);
  });

  test('dataConverterFor with "new,old": encrypts with the new key, still opens what the old key sealed', async () => {
    const old = key;
    const current = newKey();
    const rotated = dataConverterFor(
      loadConfig({ TEMPORAL_ENCRYPTION_KEYS: `${current.toString('base64')}, ${old.toString('base64')}` }),
    )?.payloadCodecs?.[0];
    assert.ok(rotated instanceof EncryptionCodec, 'the data converter has an EncryptionCodec');
    assert.equal(rotated.keyId, encryptionKeyId(current));
    const [fromOld] = await codec.encode([defaultPayloadConverter.toPayload(SECRET)]);
    const [opened] = await rotated.decode([fromOld as Payload]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened as Payload), SECRET);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(SECRET)]);
    assert.equal(str(fresh?.metadata?.[METADATA_ENCRYPTION_KEY_ID]), encryptionKeyId(current));

    // Dropping the old key too early: the error names the missing key id and the setting to fix.
    const currentOnly = new EncryptionCodec([current]);
    await assert.rejects(currentOnly.decode([fromOld as Payload]), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`encrypted with key id ${encryptionKeyId(old)}, which this process does not have`),
      );
      assert.match(err.message, /TEMPORAL_ENCRYPTION_KEYS=<current>,<old>/);
      return true;
    });
  });
});

describe('TEMPORAL_ENCRYPTION_KEYS configuration', () => {
  const [k1, k2] = [newKey().toString('base64'), newKey().toString('base64')];
  const configError = (env: Record<string, string>): ConfigError => {
    try {
      loadConfig(env);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err;
    }
    assert.fail('expected a ConfigError');
  };

  test('a comma-separated list, current key first; spaces around commas are ignored', () => {
    assert.deepEqual(loadConfig({ TEMPORAL_ENCRYPTION_KEYS: ` ${k2} , ${k1} ` }).temporal.encryptionKeys, [k2, k1]);
    assert.deepEqual(loadConfig({}).temporal.encryptionKeys, []);
  });

  test('TEMPORAL_ENCRYPTION_KEY still works as the one-key alias', () => {
    assert.deepEqual(loadConfig({ TEMPORAL_ENCRYPTION_KEY: k1 }).temporal.encryptionKeys, [k1]);
    assert.match(
      configError({ TEMPORAL_ENCRYPTION_KEY: `${k2},${k1}` }).message,
      /TEMPORAL_ENCRYPTION_KEY: holds one key; for several \(rotation\) use TEMPORAL_ENCRYPTION_KEYS/,
    );
    assert.match(
      configError({ TEMPORAL_ENCRYPTION_KEY: k1, TEMPORAL_ENCRYPTION_KEYS: `${k2},${k1}` }).message,
      /set only TEMPORAL_ENCRYPTION_KEYS/,
    );
  });

  test('a bad or repeated key is named by its position, and no key value is echoed', () => {
    const bad = 'c2hvcnQ=';
    const err = configError({ TEMPORAL_ENCRYPTION_KEYS: `${k1},${bad},${k1},` });
    assert.match(err.message, /TEMPORAL_ENCRYPTION_KEYS: key 2 of 4 must be 32 random bytes in base64/);
    assert.match(err.message, /TEMPORAL_ENCRYPTION_KEYS: key 3 of 4 repeats key 1/);
    assert.match(err.message, /TEMPORAL_ENCRYPTION_KEYS: key 4 of 4 must be 32 random bytes/);
    for (const secret of [k1, bad]) assert.ok(!err.message.includes(secret), 'a key leaked into the message');
  });
});

describe('codec server HTTP contract', () => {
  const key = newKey();
  const token = randomBytes(32).toString('hex');
  const uiOrigin = 'http://127.0.0.1:8233';
  const config = loadConfig({
    TEMPORAL_ENCRYPTION_KEYS: key.toString('base64'),
    TEMPORAL_UI_URL: `${uiOrigin}/`,
    CODEC_SERVER_TOKEN: token,
  });
  let server: RunningCodecServer;
  const logged: string[] = [];
  const auth = { authorization: `Bearer ${token}` };
  const plain = {
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: Buffer.from(JSON.stringify(SECRET)).toString('base64'),
  };
  let sealedJson: { metadata: Record<string, string>; data: string };

  before(async () => {
    server = await startCodecServer(config, { port: 0, log: (l) => logged.push(l) });
    const [sealed] = await new EncryptionCodec([key]).encode([defaultPayloadConverter.toPayload(SECRET)]);
    sealedJson = {
      metadata: Object.fromEntries(
        Object.entries(sealed?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(sealed?.data ?? []).toString('base64'),
    };
  });
  after(async () => {
    await server?.close();
  });

  /** One real HTTP request with exactly these headers (node:http, so Host and Origin can be anything). */
  const request = (
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        `${server.url}${path}`,
        { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const decodeBody = () => JSON.stringify({ payloads: [sealedJson] });

  test('encode then decode with the bearer token gives back the JSON payload', async () => {
    const enc = await request(
      'POST',
      '/encode',
      { ...auth, 'x-namespace': 'default' },
      JSON.stringify({ payloads: [plain] }),
    );
    assert.equal(enc.status, 200, enc.text);
    const encoded = JSON.parse(enc.text) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString(), ENCRYPTED_ENCODING);
    assert.equal(Buffer.from(encoded.payloads[0]?.data ?? '', 'base64').includes('Maria'), false);

    // A path prefix (per-namespace endpoint) works too.
    const dec = await request('POST', '/default/decode', auth, JSON.stringify(encoded));
    assert.equal(dec.status, 200, dec.text);
    assert.equal(dec.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(dec.text), { payloads: [plain] });
  });

  test('no token, a wrong token or another scheme get 401 and no payload', async () => {
    const wrongSameLength = token.replace(/.$/, token.endsWith('0') ? '1' : '0');
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: `Bearer ${wrongSameLength}` },
      { authorization: `Bearer ${token}x` },
      { authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` },
      { authorization: token },
    ]) {
      const res = await request('POST', '/decode', headers, decodeBody());
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer /);
      assert.equal(res.text.includes('Maria'), false);
    }
    // A wrong token in the path is no better.
    assert.equal((await request('POST', `/${wrongSameLength}/decode`, {}, decodeBody())).status, 401);
    assert.ok(
      logged.every((l) => !l.includes(token) && !l.includes(wrongSameLength)),
      'no token (right or wrong) in the log',
    );
  });

  test('a foreign Host (DNS rebinding) is refused before anything else, even with the token', async () => {
    for (const host of [`evil.example:${server.port}`, 'evil.example', `127.0.0.1.nip.io:${server.port}`]) {
      const res = await request('POST', '/decode', { ...auth, host }, decodeBody());
      assert.equal(res.status, 421, host);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.text.includes('Maria'), false);
    }
    // Every loopback name of a loopback bind is fine.
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`]) {
      assert.equal((await request('POST', '/decode', { ...auth, host }, decodeBody())).status, 200, host);
    }
  });

  test('the Web UI: its origin with the token in the endpoint path gets decoded payloads and CORS headers', async () => {
    // The Web UI cannot add headers: its codec endpoint is http://host:port/<token>, and it appends /decode.
    const res = await request('POST', `/${token}/decode`, { origin: uiOrigin, 'x-namespace': 'default' }, decodeBody());
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['access-control-allow-origin'], uiOrigin);
    const { payloads } = JSON.parse(res.text) as { payloads: { data: string }[] };
    assert.deepEqual(JSON.parse(Buffer.from(payloads[0]?.data ?? '', 'base64').toString()), SECRET);
    // The same from the UI with the bearer header (a UI in front of its own auth proxy) works too.
    const withHeader = await request('POST', '/decode', { ...auth, origin: uiOrigin }, decodeBody());
    assert.equal(withHeader.status, 200);
    assert.equal(withHeader.headers['access-control-allow-origin'], uiOrigin);
  });

  test('CORS preflight: the Web UI origin gets the headers it sends allowed; another origin gets none', async () => {
    const preflight = (origin: string) =>
      request('OPTIONS', `/${token}/decode`, {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-namespace',
      });
    const ui = await preflight(uiOrigin);
    assert.equal(ui.status, 204);
    assert.equal(ui.headers['access-control-allow-origin'], uiOrigin);
    const allowed = (ui.headers['access-control-allow-headers'] ?? '').toLowerCase().split(/, */);
    for (const header of ['authorization', 'content-type', 'x-namespace']) assert.ok(allowed.includes(header), header);
    assert.match(ui.headers['access-control-allow-methods'] ?? '', /POST/);

    for (const origin of ['http://evil.example', 'http://localhost:8233', 'null']) {
      const other = await preflight(origin);
      assert.equal(other.status, 403, origin);
      const cors = Object.keys(other.headers).filter((h) => h.startsWith('access-control-'));
      assert.deepEqual(cors, [], `${origin} got ${cors.join(', ')}`);
    }
    // Even with the right token, a page from another origin gets nothing.
    const evil = await request('POST', `/${token}/decode`, { origin: 'http://evil.example' }, decodeBody());
    assert.equal(evil.status, 403);
    assert.equal(evil.text.includes('Maria'), false);
  });

  test('bad requests are refused with a reason', async () => {
    assert.equal((await request('POST', '/decode', auth, 'not json')).status, 400);
    assert.equal((await request('POST', '/decode', auth, JSON.stringify({ payloads: [{ data: 5 }] }))).status, 400);
    assert.equal((await request('POST', '/other', auth, '{}')).status, 404);
    assert.equal((await request('POST', `/${token}/other`, {}, '{}')).status, 404);
    assert.equal((await request('GET', '/decode', auth)).status, 405);

    const [foreign] = await new EncryptionCodec([newKey()]).encode([defaultPayloadConverter.toPayload(SECRET)]);
    const asJson = {
      metadata: Object.fromEntries(
        Object.entries(foreign?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(foreign?.data ?? []).toString('base64'),
    };
    const res = await request('POST', '/decode', auth, JSON.stringify({ payloads: [asJson] }));
    assert.equal(res.status, 422);
    assert.match(res.text, /encrypted with key id [0-9a-f]{8}/);
    assert.ok(
      logged.some((l) => l.includes('422')),
      'the 422 is logged',
    );
    assert.ok(
      logged.every((l) => !l.includes(token)),
      'the token in a path is never logged',
    );
  });

  test('it refuses to start without keys, without a token, or tokenless off loopback', async () => {
    await assert.rejects(startCodecServer(loadConfig({}), { port: 0 }), /TEMPORAL_ENCRYPTION_KEYS is not set/);
    const keysOnly = loadConfig({ TEMPORAL_ENCRYPTION_KEYS: key.toString('base64') });
    await assert.rejects(
      startCodecServer(keysOnly, { port: 0 }),
      /CODEC_SERVER_TOKEN is not set: .*openssl rand -hex 32.*--allow-no-token/s,
    );
    await assert.rejects(
      startCodecServer(keysOnly, { port: 0, host: '0.0.0.0', allowNoToken: true }),
      /--allow-no-token works only on a loopback --host/,
    );
    assert.match(
      (() => {
        try {
          loadConfig({ CODEC_SERVER_TOKEN: 'short' });
        } catch (err) {
          return (err as Error).message;
        }
        return '';
      })(),
      /CODEC_SERVER_TOKEN: must be 32 to 512 characters/,
    );
  });

  test('bound to 0.0.0.0: the printed URL passes the Host check, a foreign name still does not', async () => {
    const wildcard = await startCodecServer(config, { port: 0, host: '0.0.0.0', log: () => {} });
    try {
      assert.equal(new URL(wildcard.url).hostname, '127.0.0.1');
      const viaPrintedUrl = await fetch(`${wildcard.url}/decode`, {
        method: 'POST',
        headers: auth,
        body: decodeBody(),
      });
      assert.equal(viaPrintedUrl.status, 200);
      const rebound = await new Promise<number>((resolve, reject) => {
        httpRequest(`${wildcard.url}/decode`, { method: 'POST', headers: { ...auth, host: 'evil.example' } }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
          .on('error', reject)
          .end(decodeBody());
      });
      assert.equal(rebound, 421);
    } finally {
      await wildcard.close();
    }
  });

  test('--allow-no-token on loopback: serves without a token, but still checks Host and Origin', async () => {
    const keysOnly = loadConfig({ TEMPORAL_ENCRYPTION_KEYS: key.toString('base64'), TEMPORAL_UI_URL: uiOrigin });
    const open = await startCodecServer(keysOnly, { port: 0, allowNoToken: true, log: () => {} });
    try {
      assert.equal(open.requiresToken, false);
      const res = await fetch(`${open.url}/decode`, { method: 'POST', body: decodeBody() });
      assert.equal(res.status, 200);
      const rebound = await new Promise<number>((resolve, reject) => {
        httpRequest(`${open.url}/decode`, { method: 'POST', headers: { host: 'evil.example' } }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
          .on('error', reject)
          .end(decodeBody());
      });
      assert.equal(rebound, 421);
      const foreignPage = await fetch(`${open.url}/decode`, {
        method: 'POST',
        headers: { origin: 'http://evil.example' },
        body: decodeBody(),
      });
      assert.equal(foreignPage.status, 403);
    } finally {
      await open.close();
    }
  });
});

describe('healthsynth codec-server (the command)', () => {
  const keys = newKey().toString('base64');
  const token = randomBytes(32).toString('hex');
  const run = (env: Record<string, string>, args: string[]) => {
    const io = memoryIo();
    const program = new Command().exitOverride();
    registerCodecServerCommands(program, { io, config: () => loadConfig({ TEMPORAL_ENCRYPTION_KEYS: keys, ...env }) });
    return { io, done: program.parseAsync(['node', 'healthsynth', 'codec-server', '--port', '0', ...args]) };
  };

  test('without CODEC_SERVER_TOKEN it exits 2 and says how to make one', async () => {
    const { io, done } = run({}, []);
    await done;
    assert.equal(io.exitCode, 2);
    assert.match(io.stderr.join('\n'), /CODEC_SERVER_TOKEN is not set.*openssl rand -hex 32/s);
    const offLoopback = run({}, ['--allow-no-token', '--host', '0.0.0.0']);
    await offLoopback.done;
    assert.equal(offLoopback.io.exitCode, 2);
    assert.match(offLoopback.io.stderr.join('\n'), /--allow-no-token works only on a loopback --host/);
  });

  test('with the token it serves, prints how to connect without printing the token, and stops on SIGINT', async () => {
    const { io, done } = run({ CODEC_SERVER_TOKEN: token }, []);
    let url: string | undefined;
    for (let i = 0; i < 100 && !url; i++) {
      url = /listening on (http:\/\/\S+)/.exec(io.stdout.join('\n'))?.[1];
      if (!url) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    try {
      assert.ok(url, `no URL in ${io.stdout.join('\n')}`);
      const output = [...io.stdout, ...io.stderr].join('\n');
      assert.equal(output.includes(token), false, 'the token is printed');
      assert.match(output, /--codec-auth "Bearer \$CODEC_SERVER_TOKEN"/);
      assert.match(output, /--ui-codec-endpoint http:\/\/127\.0\.0\.1:\d+\/\$CODEC_SERVER_TOKEN/);
      const body = JSON.stringify({ payloads: [] });
      assert.equal((await fetch(`${url}/decode`, { method: 'POST', body })).status, 401);
      const ok = await fetch(`${url}/${token}/decode`, { method: 'POST', body });
      assert.equal(ok.status, 200);
    } finally {
      process.emit('SIGINT');
      await done;
    }
    assert.equal(io.exitCode, 0);
  });
});
