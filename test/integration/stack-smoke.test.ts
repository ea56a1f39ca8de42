/**
 * The local stack as other tools see it: the real `temporal` CLI and the Web UI answer, `psql`
 * reaches DATABASE_URL, and the S3 endpoint lists the bucket. npm test exports TEMPORAL_CLI.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { createS3Client } from '../../src/activities/storage.js';
import { loadConfig } from '../../src/config.js';
import { temporalCliOn } from '../support/temporal-cli.js';

const config = loadConfig();

test('the temporal CLI lists workflows on the stack', async () => {
  const { stdout } = await temporalCliOn(config.temporal, ['workflow', 'list', '--limit', '1', '-o', 'json']);
  assert.doesNotThrow(() => JSON.parse(stdout || '[]'));
});

test('the local Temporal keeps its SQLite file with a write-ahead log', (t) => {
  if (config.temporal.address !== `127.0.0.1:${config.localPorts.temporal}`) {
    return t.skip('Temporal is not the local stack’s');
  }
  // journal_mode=wal (src/stack/temporal.ts): SQLite keeps `<db>-wal` beside the database while it is open.
  const db = path.join(config.dataDir, 'temporal', 'temporal.db');
  assert.ok(existsSync(db), `${db} exists`);
  assert.ok(existsSync(`${db}-wal`), `${db}-wal exists: the server runs in WAL mode`);
});

test('the Web UI answers', async () => {
  const res = await fetch(config.temporal.uiUrl);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /<html/i);
});

test('psql reaches DATABASE_URL', async () => {
  assert.equal(config.warehouse.kind, 'postgres');
  if (config.warehouse.kind !== 'postgres') return;
  const { stdout } = await execa('psql', [config.warehouse.databaseUrl, '-At', '-c', 'select 40 + 2']);
  assert.equal(stdout.trim(), '42');
});

test('the S3 endpoint lists the configured bucket', async () => {
  const res = await createS3Client(config.s3).send(new ListBucketsCommand({}));
  assert.ok(
    (res.Buckets ?? []).some((b) => b.Name === config.s3.bucket),
    `bucket ${config.s3.bucket} in ${JSON.stringify(res.Buckets)}`,
  );
});
