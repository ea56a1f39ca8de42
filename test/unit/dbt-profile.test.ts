/**
 * The dbt activity's pure helpers: the profile environment dbt gets from the config (PostgreSQL and Redshift), and
 * which dbt binary runDbt uses (checked against the dbt setup really built in the toolchain cache).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { dbtProfileEnv, resolveDbtBin } from '../../src/activities/dbt.js';
import { loadConfig } from '../../src/config.js';
import { ensureDbt } from '../../src/stack/toolchain.js';

/** A provisioned Redshift cluster with IAM credentials. */
const redshiftConfig = () =>
  loadConfig({
    WAREHOUSE: 'redshift',
    REDSHIFT_CLUSTER_ID: 'analytics',
    REDSHIFT_DB_USER: 'etl',
    REDSHIFT_DATABASE: 'health',
    REDSHIFT_IAM_ROLE: 'arn:aws:iam::123456789012:role/redshift-s3',
    REDSHIFT_REGION: 'eu-west-1',
    S3_BUCKET: 'health-raw',
    S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
  });

describe('dbt profile environment', () => {
  test('DATABASE_URL becomes DBT_PG_* with decoded credentials; nothing else leaks in', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://etl%40corp:p%40ss%2Fw%3Ard@db.internal:6543/ware_house?sslmode=require',
    });
    const env = dbtProfileEnv(config, {});
    assert.deepEqual(env, {
      DBT_TARGET: 'local',
      DBT_THREADS: '4',
      DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
      DBT_VERSION_CHECK: 'false',
      DBT_PG_HOST: 'db.internal',
      DBT_PG_PORT: '6543',
      DBT_PG_USER: 'etl@corp',
      DBT_PG_PASSWORD: 'p@ss/w:rd',
      DBT_PG_DATABASE: 'ware_house',
      DBT_PG_SSLMODE: 'require',
      PGOPTIONS: '-c jit=off',
    });
  });

  test("PostgreSQL sessions run without JIT; an operator's PGOPTIONS is kept, and its own jit setting wins", () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u:p@db.internal/w' });
    assert.equal(dbtProfileEnv(config, {}).PGOPTIONS, '-c jit=off');
    assert.equal(
      dbtProfileEnv(config, { PGOPTIONS: '-c statement_timeout=600000' }).PGOPTIONS,
      '-c statement_timeout=600000 -c jit=off',
    );
    assert.equal(dbtProfileEnv(config, { PGOPTIONS: '-c jit=on' }).PGOPTIONS, '-c jit=on');
    assert.equal(dbtProfileEnv(redshiftConfig(), {}).PGOPTIONS, undefined);
  });

  test('Redshift settings become DBT_REDSHIFT_*; the endpoint and overrides pass through from the environment', () => {
    const config = redshiftConfig();
    const env = dbtProfileEnv(config, {
      DBT_REDSHIFT_HOST: 'analytics.abc.eu-west-1.redshift.amazonaws.com',
      PATH: '/bin',
    });
    assert.deepEqual(env, {
      DBT_TARGET: 'redshift',
      DBT_THREADS: '4',
      DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
      DBT_VERSION_CHECK: 'false',
      DBT_REDSHIFT_DATABASE: 'health',
      DBT_REDSHIFT_REGION: 'eu-west-1',
      DBT_REDSHIFT_METHOD: 'iam',
      DBT_REDSHIFT_CLUSTER_ID: 'analytics',
      DBT_REDSHIFT_USER: 'etl',
      DBT_REDSHIFT_HOST: 'analytics.abc.eu-west-1.redshift.amazonaws.com',
    });
  });

  test('resolveDbtBin prefers config, then DBT_BIN, then the dbt setup built (found without any variable)', async () => {
    assert.equal(
      resolveDbtBin({ dbt: { bin: '/opt/dbt/bin/dbt', threads: 4 } }, { DBT_BIN: '/x/dbt' }),
      '/opt/dbt/bin/dbt',
    );
    assert.equal(resolveDbtBin({ dbt: { threads: 4 } }, { DBT_BIN: '/x/dbt' }), '/x/dbt');
    // No DBT_BIN anywhere: the path is the toolchain's own, and setup's dbt is really there.
    const env = process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {};
    const built = await ensureDbt({ env, noInstall: true });
    assert.equal(resolveDbtBin({ dbt: { threads: 4 } }, env), built);
    await access(built, constants.X_OK);
    // Another cache folder without a build: runDbt says to run setup instead of installing anything.
    const empty = { XDG_CACHE_HOME: path.join(os.tmpdir(), `hs-no-cache-${randomUUID()}`) };
    assert.ok(resolveDbtBin({ dbt: { threads: 4 } }, empty).startsWith(path.join(empty.XDG_CACHE_HOME, 'healthsynth')));
  });
});
