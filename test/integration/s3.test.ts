import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ObjectStore, PART_SIZE } from '../../src/activities/storage.js';
import { loadConfig } from '../../src/config.js';

/** Real object store (versitygw locally) through ObjectStore, under a prefix unique to this run. */
describe('ObjectStore against the S3 server', () => {
  const config = loadConfig();
  const store = ObjectStore.fromConfig(config.s3);
  const prefix = `test-s3/${randomUUID()}/`;

  before(async () => {
    await store.ensureBucket();
  });

  after(async () => {
    try {
      await store.delete((await store.list(prefix)).map((o) => o.key));
    } finally {
      store.client.destroy();
    }
  });

  test('put, get, head and list round-trip an object', async () => {
    const key = `${prefix}small/hello.csv`;
    const body = 'id,name\n1,Ana\n2,Bruno\n';
    const put = await store.put(key, body, 'text/csv');
    assert.equal(put.key, key);
    assert.equal(put.size, Buffer.byteLength(body));
    assert.ok(put.etag.length > 0);

    assert.equal(await store.getText(key), body);
    assert.deepEqual(await store.head(key), put);
    assert.equal(await store.head(`${prefix}small/missing.csv`), undefined);
    assert.equal(await store.getTextIfExists(key), body);
    assert.equal(await store.getTextIfExists(`${prefix}small/missing.csv`), undefined);
    await assert.rejects(store.getText(`${prefix}small/missing.csv`), /small\/missing\.csv does not exist/);

    await store.put(`${prefix}small/b.csv`, 'b');
    await store.put(`${prefix}other/c.csv`, 'c');
    const listed = await store.list(`${prefix}small/`);
    assert.deepEqual(
      listed.map((o) => [o.key, o.size]),
      [
        [`${prefix}small/b.csv`, 1],
        [`${prefix}small/hello.csv`, Buffer.byteLength(body)],
      ],
    );
  });

  test('putting the same bytes twice gives the same object (idempotent retry)', async () => {
    const key = `${prefix}idem/part-00000.csv`;
    const first = await store.put(key, 'same bytes');
    const second = await store.put(key, 'same bytes');
    assert.equal(second.etag, first.etag);
    assert.equal((await store.list(`${prefix}idem/`)).length, 1);
  });

  test('delete removes the keys, and missing keys are not an error', async () => {
    const keys = [`${prefix}del/1`, `${prefix}del/2`];
    for (const k of keys) await store.put(k, k);
    await store.delete([...keys, `${prefix}del/never-existed`]);
    assert.deepEqual(await store.list(`${prefix}del/`), []);
    await assert.rejects(store.get(keys[0]!), /does not exist/);
  });

  test('a multipart upload over 10 MB streamed from a generator keeps size and content', async () => {
    const key = `${prefix}big/part-00000.csv`;
    const chunk = 64 * 1024;
    const chunks = 180; // 11.25 MiB: more than one upload part
    const sent = createHash('sha256');
    function* generate(): Generator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        // Deterministic, non-repeating content so a misplaced part changes the hash.
        const line = `${String(i).padStart(6, '0')},${'x'.repeat(57)}\n`;
        const buf = Buffer.alloc(chunk, line);
        buf.writeUInt32BE(i, 0);
        sent.update(buf);
        yield buf;
      }
    }
    const put = await store.put(key, Readable.from(generate()), 'text/csv');
    assert.equal(put.size, chunk * chunks);
    const parts = Math.ceil((chunk * chunks) / PART_SIZE);
    assert.ok(parts >= 2);
    assert.match(put.etag, new RegExp(`-${parts}$`), `expected a ${parts}-part multipart ETag, got ${put.etag}`);

    const received = createHash('sha256');
    let bytes = 0;
    for await (const piece of await store.get(key)) {
      received.update(piece as Buffer);
      bytes += (piece as Buffer).length;
    }
    assert.equal(bytes, chunk * chunks);
    assert.equal(received.digest('hex'), sent.digest('hex'));
  });

  test('chunks handed out in one refilled buffer upload intact; exactly one part is a single PUT', async () => {
    const chunk = 64 * 1024;
    const reused = Buffer.alloc(chunk);
    const sent = createHash('sha256');
    function* refill(chunks: number, hash = sent): Generator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        reused.fill(`${String(i).padStart(6, '0')},`);
        reused.writeUInt32BE(i, chunk - 4);
        hash.update(reused);
        yield reused;
      }
    }
    const key = `${prefix}reused/part-00000.csv`;
    const put = await store.put(key, refill(170), 'text/csv'); // 10.6 MiB: three parts
    assert.equal(put.size, chunk * 170);
    assert.match(put.etag, /-3$/);
    const received = createHash('sha256');
    for await (const piece of await store.get(key)) received.update(piece as Buffer);
    assert.equal(received.digest('hex'), sent.digest('hex'));

    const one = await store.put(
      `${prefix}reused/one-part.csv`,
      refill(PART_SIZE / chunk, createHash('sha256')),
      'text/csv',
    );
    assert.equal(one.size, PART_SIZE);
    assert.doesNotMatch(one.etag, /-\d+$/, 'a plain PUT, no multipart ETag');
  });

  test('an aborted upload fails with the abort reason and leaves no object', async () => {
    const key = `${prefix}aborted/part-00000.csv`;
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 200; i++) {
        if (i === 100) controller.abort(new Error('stop here'));
        yield Buffer.alloc(64 * 1024, 'a');
      }
    }
    await assert.rejects(store.put(key, slow(), 'text/csv', { signal: controller.signal }), /stop here/);
    assert.equal(await store.head(key), undefined);
  });
});
