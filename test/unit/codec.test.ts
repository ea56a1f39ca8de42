/**
 * EncryptionCodec: what goes in comes out, what was altered is refused, plain payloads pass, an unknown
 * key is named; plus the codec server's HTTP contract (encode/decode, CORS preflight, bad requests).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, ValueError, type Payload } from '@temporalio/common';
import { startCodecServer, type RunningCodecServer } from '../../src/cli/codec-server.js';
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
  const uiOrigin = 'http://127.0.0.1:8233';
  let server: RunningCodecServer;
  const logged: string[] = [];

  before(async () => {
    const config = loadConfig({ TEMPORAL_ENCRYPTION_KEYS: key.toString('base64'), TEMPORAL_UI_URL: `${uiOrigin}/` });
    server = await startCodecServer(config, { port: 0, log: (l) => logged.push(l) });
  });
  after(async () => {
    await server?.close();
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  test('encode then decode over HTTP gives back the JSON payload', async () => {
    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from(JSON.stringify(SECRET)).toString('base64'),
    };
    const enc = await post('/encode', JSON.stringify({ payloads: [plain] }), { 'x-namespace': 'default' });
    assert.equal(enc.status, 200);
    const encoded = (await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString(), ENCRYPTED_ENCODING);
    assert.ok(
      !Buffer.from(encoded.payloads[0]?.data ?? '', 'base64')
        .toString()
        .includes('Maria'),
    );

    // A path prefix (per-namespace endpoint) works too.
    const dec = await post('/default/decode', JSON.stringify(encoded));
    assert.equal(dec.status, 200);
    assert.equal(dec.headers.get('content-type'), 'application/json');
    assert.deepEqual(await dec.json(), { payloads: [plain] });
  });

  test('CORS: preflight from the Web UI origin is answered; other origins get no allow header', async () => {
    const pre = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: uiOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), uiOrigin);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /x-namespace/);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);

    const res = await post('/decode', JSON.stringify({ payloads: [] }), { origin: uiOrigin });
    assert.equal(res.headers.get('access-control-allow-origin'), uiOrigin);
    const evil = await post('/decode', JSON.stringify({ payloads: [] }), { origin: 'http://evil.example' });
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('bad requests are refused with a reason', async () => {
    assert.equal((await post('/decode', 'not json')).status, 400);
    assert.equal((await post('/decode', JSON.stringify({ payloads: [{ data: 5 }] }))).status, 400);
    assert.equal((await post('/other', '{}')).status, 404);
    assert.equal((await fetch(`${server.url}/decode`)).status, 405);

    const [foreign] = await new EncryptionCodec([newKey()]).encode([defaultPayloadConverter.toPayload(SECRET)]);
    const asJson = {
      metadata: Object.fromEntries(
        Object.entries(foreign?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(foreign?.data ?? []).toString('base64'),
    };
    const res = await post('/decode', JSON.stringify({ payloads: [asJson] }));
    assert.equal(res.status, 422);
    assert.match(await res.text(), /encrypted with key id [0-9a-f]{8}/);
    assert.ok(
      logged.some((l) => l.includes('422')),
      'the 422 is logged',
    );
  });

  test('without TEMPORAL_ENCRYPTION_KEYS the server refuses to start', async () => {
    await assert.rejects(startCodecServer(loadConfig({}), { port: 0 }), /TEMPORAL_ENCRYPTION_KEYS is not set/);
  });
});
