/**
 * The AWS SDK's "Node 22 from 2027" notice is silenced in one place (src/activities/storage.ts), and that is
 * enough for any process that builds an AWS client through our code: checked in a fresh Node process without
 * the setting in its environment, against a control process that builds the same client without our module.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
const NOTICE = /NodeVersionSupportWarning/;

/** Runs `code` as an ES module in a new Node process (with tsx) without the setting; returns its stderr. */
async function stderrOf(code: string): Promise<string> {
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _unset, ...env } = process.env;
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code],
    { cwd: root, env, timeout: 60_000 },
  );
  return stderr;
}

const nodeMajor = Number(process.versions.node.split('.')[0]);

test('building S3 and Redshift Data clients through our modules prints no AWS SDK Node-version notice', async () => {
  const ours = await stderrOf(`
    const { loadConfig } = await import('./src/config.ts');
    const { ObjectStore } = await import('./src/activities/storage.ts');
    const { createWarehouse } = await import('./src/activities/warehouse/index.ts');
    const config = loadConfig({
      PATH: process.env.PATH,
      REDSHIFT_WORKGROUP: 'wg',
      REDSHIFT_DATABASE: 'dev',
      REDSHIFT_IAM_ROLE: 'arn:aws:iam::123456789012:role/copy',
      S3_BUCKET: 'healthsynth-warning-test',
    });
    const warehouse = createWarehouse(config, ObjectStore.fromConfig(config.s3));
    if (warehouse.kind !== 'redshift') throw new Error('expected the Redshift warehouse, got ' + warehouse.kind);
  `);
  assert.doesNotMatch(ours, NOTICE, ours);
});

test('control: the same S3 client built straight from the SDK prints the notice on this Node', async (t) => {
  if (nodeMajor >= 22) return t.skip(`the SDK does not warn on Node ${process.versions.node}`);
  const control = await stderrOf(`
    const { S3Client } = await import('@aws-sdk/client-s3');
    new S3Client({ region: 'us-east-1' });
  `);
  assert.match(control, NOTICE);
});
