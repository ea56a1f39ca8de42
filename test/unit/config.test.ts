import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, LOCAL, loadConfig, PG_TIMEOUT_DEFAULTS } from '../../src/config.js';

/** loadConfig on an explicit environment only (never process.env or a .env file). */
const load = (env: Record<string, string>) => loadConfig({ ...env }, '/tmp/hs-config-test');

function configError(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected loadConfig to throw');
}

describe('loadConfig defaults', () => {
  test('point at the local stack on loopback', () => {
    const c = load({});
    assert.equal(c.dataDir, path.resolve('/tmp/hs-config-test', '.data'));
    assert.equal(c.temporal.address, `127.0.0.1:${LOCAL.temporalPort}`);
    assert.equal(c.temporal.namespace, 'default');
    assert.equal(c.temporal.tls, false);
    assert.equal(c.temporal.uiUrl, `http://127.0.0.1:${LOCAL.temporalUiPort}`);
    assert.equal(c.s3.endpoint, `http://127.0.0.1:${LOCAL.s3Port}`);
    assert.equal(c.s3.bucket, LOCAL.s3Bucket);
    assert.equal(c.s3.accessKeyId, LOCAL.s3AccessKey);
    assert.equal(c.s3.forcePathStyle, true);
    assert.equal(c.s3.local, true);
    assert.deepEqual(c.warehouse, {
      kind: 'postgres',
      local: true,
      databaseUrl: `postgres://healthsynth:healthsynth@127.0.0.1:${LOCAL.postgresPort}/healthsynth`,
      lockTimeoutMs: PG_TIMEOUT_DEFAULTS.lockTimeoutMs,
      statementTimeoutMs: PG_TIMEOUT_DEFAULTS.statementTimeoutMs,
    });
    assert.deepEqual(c.localPorts, {
      temporal: LOCAL.temporalPort,
      temporalUi: LOCAL.temporalUiPort,
      temporalMetrics: LOCAL.temporalMetricsPort,
      postgres: LOCAL.postgresPort,
      s3: LOCAL.s3Port,
      telegram: LOCAL.telegramPort,
    });
    assert.equal(c.retentionDays, 365);
    assert.equal(c.defaultScale, 'small');
    assert.equal(c.timezone, 'UTC');
  });

  test('local defaults follow the HEALTHSYNTH_*_PORT overrides', () => {
    const c = load({
      HEALTHSYNTH_TEMPORAL_PORT: '17233',
      HEALTHSYNTH_TEMPORAL_UI_PORT: '18233',
      HEALTHSYNTH_TEMPORAL_METRICS_PORT: '17235',
      HEALTHSYNTH_POSTGRES_PORT: '15432',
      HEALTHSYNTH_S3_PORT: '19100',
      HEALTHSYNTH_TELEGRAM_PORT: '18081',
      HEALTHSYNTH_DATA_DIR: 'elsewhere',
    });
    assert.equal(c.temporal.address, '127.0.0.1:17233');
    assert.equal(c.temporal.uiUrl, 'http://127.0.0.1:18233');
    assert.equal(c.s3.endpoint, 'http://127.0.0.1:19100');
    assert.equal(
      c.warehouse.kind === 'postgres' && c.warehouse.databaseUrl,
      'postgres://healthsynth:healthsynth@127.0.0.1:15432/healthsynth',
    );
    assert.equal(c.localPorts.temporalMetrics, 17235);
    assert.equal(c.localPorts.telegram, 18081);
    assert.equal(c.dataDir, '/tmp/hs-config-test/elsewhere');
  });

  test('explicit settings win over the port overrides', () => {
    const c = load({
      HEALTHSYNTH_TEMPORAL_PORT: '17233',
      TEMPORAL_ADDRESS: 'temporal.example.com:7233',
      DATABASE_URL: 'postgres://u:p@db.example.com/x',
    });
    assert.equal(c.temporal.address, 'temporal.example.com:7233');
    assert.equal(c.warehouse.kind === 'postgres' && c.warehouse.local, false);
  });
});

describe('loadConfig errors', () => {
  test('name the setting and what is wrong', () => {
    const err = configError({ HEALTHSYNTH_POSTGRES_PORT: 'abc', RETENTION_DAYS: '0' });
    assert.match(err.message, /HEALTHSYNTH_POSTGRES_PORT: must be a whole number/);
    assert.match(err.message, /RETENTION_DAYS:/);
  });

  test('the worker metrics host is an IP address (the SDK exporter binds a socket address)', () => {
    assert.match(
      configError({ WORKER_METRICS_HOST: 'localhost' }).message,
      /WORKER_METRICS_HOST: must be an IP address/,
    );
    assert.equal(load({ WORKER_METRICS_HOST: '0.0.0.0' }).workerMetricsHost, '0.0.0.0');
    assert.equal(load({ WORKER_METRICS_HOST: '::1' }).workerMetricsHost, '::1');
  });

  test('the worker cache is the SDK’s default unless WORKER_MAX_CACHED_WORKFLOWS bounds it (2 at least)', () => {
    assert.equal(load({}).workerMaxCachedWorkflows, undefined);
    assert.equal(load({ WORKER_MAX_CACHED_WORKFLOWS: '2000' }).workerMaxCachedWorkflows, 2000);
    for (const bad of ['1', '0', '-5', '2.5', 'many']) {
      assert.match(configError({ WORKER_MAX_CACHED_WORKFLOWS: bad }).message, /WORKER_MAX_CACHED_WORKFLOWS:/, bad);
    }
  });

  test('retention limits: a share in (0, 1] and whole days, with defaults 0.2 and 30', () => {
    const c = load({});
    assert.equal(c.retentionMaxDeleteShare, 0.2);
    assert.equal(c.backupRetentionDays, 30);
    const set = load({ RETENTION_MAX_DELETE_SHARE: '0.05', BACKUP_RETENTION_DAYS: '90' });
    assert.equal(set.retentionMaxDeleteShare, 0.05);
    assert.equal(set.backupRetentionDays, 90);
    for (const bad of ['0', '1.5', '20%', '-0.1', 'abc']) {
      assert.match(
        configError({ RETENTION_MAX_DELETE_SHARE: bad }).message,
        /RETENTION_MAX_DELETE_SHARE: must be/,
        bad,
      );
    }
    assert.match(configError({ BACKUP_RETENTION_DAYS: '0' }).message, /BACKUP_RETENTION_DAYS:/);
  });

  test('reject two services on one port', () => {
    const err = configError({ HEALTHSYNTH_S3_PORT: '54329' });
    assert.match(err.message, /postgres and s3 would both listen on port 54329/);
  });

  test('cover cross-field rules', () => {
    assert.match(configError({ WAREHOUSE: 'redshift' }).message, /REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP/);
    assert.match(configError({ S3_ENDPOINT: 'http://minio:9000' }).message, /S3_BUCKET: required when S3_ENDPOINT/);
    assert.match(
      configError({ TELEGRAM_STAFF_CHAT_ID: '12345' }).message,
      /TELEGRAM_STAFF_CHAT_ID \/ TELEGRAM_PATIENT_CHAT_ID: set TELEGRAM_BOT_TOKEN too/,
    );
    assert.match(
      configError({ TELEGRAM_BOT_TOKEN: '123456:ABC-DEF' }).message,
      /TELEGRAM_BOT_TOKEN: set TELEGRAM_STAFF_CHAT_ID and\/or TELEGRAM_PATIENT_CHAT_ID/,
    );
  });

  test('never echo a secret value', () => {
    const token = 'not-a-valid-token-s3cr3t-value';
    const key = 'this-is-not-base64-but-it-is-secret-0123456789';
    const err = configError({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_STAFF_CHAT_ID: '1', TEMPORAL_ENCRYPTION_KEY: key });
    assert.match(err.message, /TELEGRAM_BOT_TOKEN/);
    assert.match(err.message, /TEMPORAL_ENCRYPTION_KEY/);
    assert.ok(!err.message.includes(token), 'the bot token leaked into the message');
    assert.ok(!err.message.includes(key), 'the encryption key leaked into the message');
  });
});

describe('Telegram audiences', () => {
  const token = '123456:ABC-DEF';

  test('TELEGRAM_CHAT_ID is refused with the two settings to set instead', () => {
    const envs: Record<string, string>[] = [
      { TELEGRAM_CHAT_ID: '-100123' },
      { TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: '-100123' },
    ];
    for (const env of envs) {
      const err = configError(env);
      assert.match(err.message, /TELEGRAM_CHAT_ID: is no longer read/);
      assert.match(err.message, /set TELEGRAM_STAFF_CHAT_ID \(alerts, reports, run summaries\)/);
      assert.match(err.message, /TELEGRAM_PATIENT_CHAT_ID \(the weekend notice\)/);
    }
    // Reported together with other problems, so one run of the command shows everything to fix.
    assert.match(
      configError({ TELEGRAM_CHAT_ID: '1', RETENTION_DAYS: 'x' }).message,
      /TELEGRAM_CHAT_ID[\s\S]*RETENTION_DAYS/,
    );
    // Empty means unset, as for every setting.
    assert.equal(load({ TELEGRAM_CHAT_ID: '' }).telegram.botToken, undefined);
  });

  test('staff and patients have their own chats, which must differ', () => {
    const c = load({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_STAFF_CHAT_ID: '-1001', TELEGRAM_PATIENT_CHAT_ID: '@clinic' });
    assert.deepEqual(c.telegram.chats, { staff: '-1001', patients: '@clinic' });
    assert.deepEqual(load({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_STAFF_CHAT_ID: '-1001' }).telegram.chats, {
      staff: '-1001',
      patients: undefined,
    });
    assert.match(
      configError({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_STAFF_CHAT_ID: '-1001', TELEGRAM_PATIENT_CHAT_ID: '-1001' })
        .message,
      /TELEGRAM_STAFF_CHAT_ID and TELEGRAM_PATIENT_CHAT_ID: must be different chats/,
    );
    assert.match(
      configError({ TELEGRAM_PATIENT_CHAT_ID: 'patients' }).message,
      /TELEGRAM_PATIENT_CHAT_ID: must be a numeric/,
    );
  });
});

describe('loadConfig PostgreSQL session timeouts', () => {
  test('take PostgreSQL durations (no unit: ms) and give milliseconds', () => {
    const pgOf = (env: Record<string, string>) => {
      const w = load(env).warehouse;
      assert.ok(w.kind === 'postgres');
      return [w.lockTimeoutMs, w.statementTimeoutMs];
    };
    assert.deepEqual(pgOf({}), [120_000, 1_800_000]);
    assert.deepEqual(pgOf({ PG_LOCK_TIMEOUT: '30s', PG_STATEMENT_TIMEOUT: '1h' }), [30_000, 3_600_000]);
    assert.deepEqual(pgOf({ PG_LOCK_TIMEOUT: '750', PG_STATEMENT_TIMEOUT: '2min' }), [750, 120_000]);
    assert.deepEqual(pgOf({ PG_LOCK_TIMEOUT: '0', PG_STATEMENT_TIMEOUT: '500ms' }), [0, 500]);
  });

  test('reject anything else, naming the setting and the forms it takes', () => {
    assert.match(
      configError({ PG_LOCK_TIMEOUT: '2 minutes' }).message,
      /PG_LOCK_TIMEOUT: must be a duration such as 500ms, 30s, 2min or 1h/,
    );
    assert.match(configError({ PG_STATEMENT_TIMEOUT: '-5s' }).message, /PG_STATEMENT_TIMEOUT: must be a duration/);
    assert.match(configError({ PG_STATEMENT_TIMEOUT: '1000h' }).message, /PG_STATEMENT_TIMEOUT: must be at most/);
  });
});

describe('loadConfig booleans', () => {
  test('parse the accepted spellings', () => {
    for (const v of ['1', 'true', 'TRUE', 'yes', 'on', ' On '])
      assert.equal(load({ TEMPORAL_TLS: v }).temporal.tls, true, v);
    for (const v of ['0', 'false', 'no', 'off']) assert.equal(load({ TEMPORAL_TLS: v }).temporal.tls, false, v);
    // Boolean('false') would be true; the parser must not do that.
    assert.equal(load({ S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle, false);
  });

  test('reject anything else, naming the setting', () => {
    assert.match(configError({ TEMPORAL_TLS: 'maybe' }).message, /TEMPORAL_TLS: must be true or false/);
  });
});
