/**
 * docker-compose.yml, the Dockerfile and monitoring/ checked without a Docker engine:
 * the compose file against the Compose Specification JSON schema, the worker's environment against
 * src/config.ts (and actually parsed by loadConfig after compose-style interpolation), health checks
 * everywhere, no secret literals, and Prometheus/Grafana files that agree with the compose file and
 * query only metrics that exist.
 *
 * The schema is test/support/compose-schema.json: compose-spec's schema/compose-spec.json
 * (Apache-2.0) as shipped in the npm package dclint@3.1.0 (MIT), with a `$comment` naming its source.
 * When a `docker compose` CLI is installed, `docker compose config` validates the file too.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { CONFIG_ENV_NAMES, loadConfig, PG_TIMEOUT_DEFAULTS } from '../../src/config.js';
import { METRIC_NAMES, SDK_METRIC_NAMES, SERVER_METRIC_NAMES } from '../../src/metrics.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFile(path.join(root, file), 'utf8');
const parse = (text: string): unknown => parseYaml(text, { merge: true });

type Dict = Record<string, unknown>;
interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  ports?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Dict;
}

async function loadCompose(): Promise<{ text: string; compose: ComposeFile }> {
  const text = await read('docker-compose.yml');
  return { text, compose: parse(text) as ComposeFile };
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/**
 * Compose-style interpolation of one value: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}` and `$$` for a literal `$` (the forms this file uses).
 */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (match, name, colon, op, arg) => {
    if (match === '$$') return '$';
    const v = env[name as string];
    const unset = v === undefined || (colon === ':' && v === '');
    if (op === '-') return unset ? (arg as string) : v!;
    if (op === '?') {
      if (unset) throw new Error(`required variable ${name as string} is missing: ${arg as string}`);
      return v!;
    }
    return v ?? '';
  });
}

/** Variables this compose file requires from .env (the `${VAR:?...}` form). */
function requiredVariables(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)].map((m) => m[1]!))].sort();
}

const DUMMY_STACK_ENV: Record<string, string> = {
  STACK_TEMPORAL_DB_PASSWORD: 'temporal-db-test-password',
  STACK_WAREHOUSE_PASSWORD: 'warehouse-test-password',
  STACK_S3_ACCESS_KEY: 'test-access-key',
  STACK_S3_SECRET_KEY: 'test-secret-key',
  STACK_GRAFANA_ADMIN_PASSWORD: 'grafana-test-password',
};

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema', async () => {
    const { compose } = await loadCompose();
    const raw = JSON.parse(await read('test/support/compose-schema.json')) as Dict;
    // The schema names its meta-schema by an https URL ajv does not know; draft-07 is ajv's default.
    delete raw.$schema;
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(raw);
    assert.equal(validate(compose), true, ajv.errorsText(validate.errors, { separator: '\n' }));

    // The validator is not vacuous: a misspelt service key and a bad depends_on condition are rejected.
    const broken = structuredClone(compose) as unknown as { services: Record<string, Dict> };
    broken.services.worker!.healthchek = broken.services.worker!.healthcheck;
    assert.equal(validate(broken), false, 'an unknown service key must fail the schema');
    const badCondition = structuredClone(compose) as unknown as { services: Record<string, Dict> };
    badCondition.services.worker!.depends_on = { temporal: { condition: 'service_ready' } };
    assert.equal(validate(badCondition), false, 'an unknown depends_on condition must fail the schema');
  });

  test('every service has a real health check and depends only on services that exist', async () => {
    const { compose } = await loadCompose();
    const names = Object.keys(compose.services);
    assert.ok(names.length >= 9, `expected the whole stack, got ${names.join(', ')}`);
    for (const [name, service] of Object.entries(compose.services)) {
      const hc = service.healthcheck;
      assert.ok(hc && hc.disable !== true && hc.test && hc.test.length > 0, `${name} needs a healthcheck`);
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) assert.ok(names.includes(dep), `${name} depends on unknown service ${dep}`);
      assert.ok(service.image || service.build, `${name} needs an image or a build`);
      if (service.image) assert.doesNotMatch(service.image, /:latest$|^[^:]+$/, `${name}: pin the image tag`);
    }
    for (const expected of [
      'temporal',
      'temporal-db',
      'temporal-ui',
      'warehouse',
      's3',
      's3-bucket',
      'worker',
      'bot',
    ]) {
      assert.ok(names.includes(expected), `missing service ${expected}`);
    }
    assert.ok(names.includes('prometheus') && names.includes('grafana'));
    assert.deepEqual(compose.services.worker!.depends_on, {
      temporal: { condition: 'service_healthy' },
      warehouse: { condition: 'service_healthy' },
      's3-bucket': { condition: 'service_completed_successfully' },
    });
  });

  test('holds no secret literals: every secret comes from .env', async () => {
    const { text, compose } = await loadCompose();
    const secretName = /PASSWORD|PASSWD|PWD|SECRET|TOKEN|ACCESS_KEY|API_KEY|ENCRYPTION_KEY/;
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(environmentOf(service))) {
        if (!secretName.test(key) || value === '') continue;
        assert.match(value, /^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$/, `${name}.${key} must be a \${VAR} from .env`);
        assert.doesNotMatch(value, /^\$\{[A-Z0-9_]+:?-[^}]/, `${name}.${key} must not have a default value`);
      }
    }
    const url = environmentOf(compose.services.worker!).DATABASE_URL ?? '';
    assert.match(url, /^postgres:\/\/healthsynth:\$\{STACK_WAREHOUSE_PASSWORD:\?[^}]*\}@warehouse:5432\//);
    assert.deepEqual(requiredVariables(text), Object.keys(DUMMY_STACK_ENV).sort());
    for (const name of requiredVariables(text)) {
      assert.ok(!CONFIG_ENV_NAMES.includes(name), `${name} must not collide with a setting the CLI reads`);
      assert.ok(text.split('\n')[0]!.startsWith('#') && text.includes(`#   ${name}`), `${name} is documented`);
    }
  });

  test('passes the bot only settings src/config.ts knows, and loadConfig accepts them in webhook mode', async () => {
    const { compose } = await loadCompose();
    const env = environmentOf(compose.services.bot!);
    const unknown = Object.keys(env).filter((name) => !CONFIG_ENV_NAMES.includes(name));
    assert.deepEqual(unknown, [], 'bot environment names that src/config.ts does not read');
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        interpolate(v, {
          ...DUMMY_STACK_ENV,
          TELEGRAM_BOT_TOKEN: '123456:ABC-DEF',
          TELEGRAM_LINK_SECRET: 'l'.repeat(32),
          TELEGRAM_BOT_MODE: 'webhook',
          TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram/webhook',
          TELEGRAM_WEBHOOK_SECRET: 's'.repeat(32),
        }),
      ]),
    );
    const config = loadConfig(resolved, '/app');
    assert.equal(config.bot.mode, 'webhook');
    assert.equal(config.bot.host, '0.0.0.0');
    assert.equal(config.bot.port, 8443);
  });

  test('passes the worker only settings src/config.ts knows, and loadConfig accepts them', async () => {
    const { compose } = await loadCompose();
    const env = environmentOf(compose.services.worker!);
    const unknown = Object.keys(env).filter((name) => !CONFIG_ENV_NAMES.includes(name));
    assert.deepEqual(unknown, [], 'worker environment names that src/config.ts does not read');
    for (const important of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'DATABASE_URL',
      'S3_ENDPOINT',
      'S3_BUCKET',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'S3_FORCE_PATH_STYLE',
      'SLACK_WEBHOOK_URL',
      'TELEGRAM_BOT_TOKEN',
      'TELEGRAM_STAFF_CHAT_ID',
      'TELEGRAM_PATIENT_CHAT_ID',
      'WORKER_METRICS_PORT',
      'WORKER_METRICS_HOST',
    ]) {
      assert.ok(important in env, `the worker must get ${important}`);
    }

    // What the worker would see with a minimal .env, parsed by the real configuration loader.
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, DUMMY_STACK_ENV)]));
    const config = loadConfig(resolved, '/app');
    assert.equal(config.temporal.address, 'temporal:7233');
    assert.equal(config.s3.endpoint, 'http://s3:7070');
    assert.equal(config.s3.local, false);
    assert.equal(config.s3.accessKeyId, DUMMY_STACK_ENV.STACK_S3_ACCESS_KEY);
    assert.equal(config.s3.forcePathStyle, true);
    assert.deepEqual(config.warehouse, {
      kind: 'postgres',
      local: false,
      databaseUrl: `postgres://healthsynth:${DUMMY_STACK_ENV.STACK_WAREHOUSE_PASSWORD}@warehouse:5432/healthsynth`,
      lockTimeoutMs: PG_TIMEOUT_DEFAULTS.lockTimeoutMs,
      statementTimeoutMs: PG_TIMEOUT_DEFAULTS.statementTimeoutMs,
    });
    assert.equal(config.workerMetricsPort, 9464);
    assert.equal(config.workerMetricsHost, '0.0.0.0');
    assert.equal(config.slack.webhookUrl, undefined, 'an empty pass-through means unset');
    assert.throws(() => interpolate(env.S3_SECRET_ACCESS_KEY!, {}), /STACK_S3_SECRET_KEY/);

    // The s3 server, the bucket job and the worker agree on credentials and bucket.
    const s3 = environmentOf(compose.services.s3!);
    const job = environmentOf(compose.services['s3-bucket']!);
    assert.equal(s3.ROOT_ACCESS_KEY_ID, env.S3_ACCESS_KEY_ID);
    assert.equal(job.AWS_SECRET_ACCESS_KEY, env.S3_SECRET_ACCESS_KEY);
    assert.equal(job.BUCKET, env.S3_BUCKET);
  });

  test('the Dockerfile sets only known settings and runs `healthsynth worker`, as `npm run worker` does', async () => {
    const dockerfile = await read('Dockerfile');
    assert.match(dockerfile, /^FROM node:20/m);
    assert.match(dockerfile, /^RUN npm ci\b/m);
    assert.match(dockerfile, /^CMD \["node", "bin\/healthsynth\.js", "worker"\]$/m);
    const pkg = JSON.parse(await read('package.json')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.worker, 'node bin/healthsynth.js worker');
    // The entry's pre-steps are in the image (it checks node_modules, then dist/ against src/).
    assert.match(dockerfile, /^COPY scripts\/ensure-deps\.mjs scripts\/build\.mjs /m);
    assert.match(dockerfile, /^RUN node scripts\/build\.mjs --workflow-bundles$/m);
    const envBlock = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? '';
    const names = [...envBlock.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]!);
    assert.ok(names.includes('DBT_BIN'));
    assert.deepEqual(
      // NODE_ENV is read by Node and npm (dev packages are not installed in the image).
      names.filter((n) => n !== 'NODE_ENV' && !CONFIG_ENV_NAMES.includes(n)),
      [],
      'Dockerfile ENV names that src/config.ts does not read',
    );
    // The worker's memory settings have one source, src/worker-process.ts, which `healthsynth worker` applies.
    for (const copy of ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'max-semi-space-size']) {
      assert.ok(!dockerfile.includes(copy), `the Dockerfile carries its own ${copy}`);
      assert.ok(!JSON.stringify(pkg.scripts).includes(copy), `package.json scripts carry their own ${copy}`);
    }
    const ignore = (await read('.dockerignore')).split('\n');
    for (const excluded of ['.env', 'node_modules', '.git']) assert.ok(ignore.includes(excluded), excluded);
  });

  test('compose-go, the loader inside docker compose, loads and interpolates it (when Go is installed)', async (t) => {
    const run = promisify(execFile);
    if (!(await runsHere('go', ['version']))) {
      t.skip('no Go toolchain on this machine; the schema test above covers the file');
      return;
    }
    // Only what Go needs: host variables (an S3_BUCKET in CI, say) must not leak into the interpolation.
    const goEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k === 'PATH' || k === 'HOME' || k.startsWith('GO')),
    );
    const loader = (envFiles: string[]) =>
      run('go', ['run', '.', path.join(root, 'docker-compose.yml'), root, ...envFiles], {
        cwd: path.join(root, 'test/support/compose-go'),
        env: goEnv,
        maxBuffer: 16 * 1024 * 1024,
        timeout: 300_000,
      });
    await withDummyStackEnvFile('hs-compose-go-', async (envFile, dir) => {
      const project = JSON.parse((await loader([envFile])).stdout) as {
        services: Record<string, { environment: Record<string, string>; healthcheck?: { test: string[] } }>;
      };
      const worker = project.services.worker!;
      assert.equal(
        worker.environment.DATABASE_URL,
        `postgres://healthsynth:${DUMMY_STACK_ENV.STACK_WAREHOUSE_PASSWORD}@warehouse:5432/healthsynth`,
      );
      assert.equal(worker.environment.S3_SECRET_ACCESS_KEY, DUMMY_STACK_ENV.STACK_S3_SECRET_KEY);
      assert.equal(worker.environment.S3_BUCKET, 'healthsynth');
      for (const [name, service] of Object.entries(project.services)) {
        assert.ok(service.healthcheck?.test?.length, `${name} keeps its healthcheck after normalization`);
      }
      // Without the secrets compose refuses, naming the missing variable.
      const emptyEnv = path.join(dir, 'empty.env');
      await writeFile(emptyEnv, '');
      await assert.rejects(loader([emptyEnv]), /required variable STACK_[A-Z_]+ is missing a value/);
    });
  });

  test('docker compose config accepts it (when a docker compose CLI is installed)', async (t) => {
    const run = promisify(execFile);
    if (!(await runsHere('docker', ['compose', 'version']))) {
      t.skip('no `docker compose` CLI plugin on this machine; the schema test above covers the file');
      return;
    }
    await withDummyStackEnvFile('hs-compose-', async (envFile) => {
      const args = ['compose', '--project-directory', root, '--env-file', envFile, '-f', 'docker-compose.yml'];
      await run('docker', [...args, 'config', '--quiet'], { cwd: root });
      // Without the secrets, compose must refuse.
      await assert.rejects(
        run('docker', ['compose', '--project-directory', root, '--env-file', '/dev/null', 'config', '-q'], {
          cwd: root,
        }),
      );
    });
  });
});

/** Whether `command args` runs on this machine: the compose loaders are optional tools. */
function runsHere(command: string, args: string[]): Promise<boolean> {
  return promisify(execFile)(command, args).then(
    () => true,
    () => false,
  );
}

/** Runs `fn` with a compose env file holding {@link DUMMY_STACK_ENV}, in a temp folder removed afterwards. */
async function withDummyStackEnvFile(prefix: string, fn: (envFile: string, dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    const envFile = path.join(dir, 'compose.env');
    await writeFile(
      envFile,
      Object.entries(DUMMY_STACK_ENV)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    await fn(envFile, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Metric names used by a PromQL expression (label matchers, groupings, ranges and functions removed). */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const names: string[] = [];
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || keywords.has(m[1]!.toLowerCase())) continue;
    names.push(m[1]!);
  }
  return names;
}

/** Histogram series names map back to their family. */
const family = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

/** The provisioned warehouse datasource's uid (monitoring/grafana/provisioning/datasources/warehouse.yml). */
const WAREHOUSE_DATASOURCE_UID = 'warehouse';

describe('monitoring', () => {
  test('metricNamesIn finds metric names and nothing else', () => {
    assert.deepEqual(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, entity) (rate(healthsynth_load_duration_seconds_bucket{service_name="x"}[$__rate_interval]))) or vector(0)',
      ),
      ['healthsynth_load_duration_seconds_bucket'],
    );
    assert.deepEqual(metricNamesIn('sum(a_total) / sum(b_count)'), ['a_total', 'b_count']);
  });

  test('Prometheus scrapes the worker and the Temporal server where compose runs them', async () => {
    const prom = parse(await read('monitoring/prometheus.yml')) as {
      global: { scrape_interval: string };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const { compose } = await loadCompose();
    const targets = Object.fromEntries(prom.scrape_configs.map((c) => [c.job_name, c.static_configs[0]!.targets]));
    const workerPort = environmentOf(compose.services.worker!).WORKER_METRICS_PORT;
    const temporalMetrics = environmentOf(compose.services.temporal!).PROMETHEUS_ENDPOINT?.split(':')[1];
    assert.deepEqual(targets['healthsynth-worker'], [`worker:${workerPort}`]);
    assert.deepEqual(targets['temporal-server'], [`temporal:${temporalMetrics}`]);
    for (const t of Object.values(targets).flat()) {
      const host = t.split(':')[0]!;
      assert.ok(host === '127.0.0.1' || host in compose.services, `scrape target ${t} is not a compose service`);
    }
    const mounts = compose.services.prometheus!.volumes ?? [];
    assert.ok(mounts.includes('./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
  });

  test('Grafana provisioning points at the compose Prometheus and the mounted dashboards', async () => {
    const datasources = parse(await read('monitoring/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    const providers = parse(await read('monitoring/grafana/provisioning/dashboards/dashboards.yml')) as {
      providers: { options: { path: string } }[];
    };
    const { compose } = await loadCompose();
    const ds = datasources.datasources[0]!;
    assert.equal(ds.type, 'prometheus');
    assert.equal(ds.url, 'http://prometheus:9090');
    const mounts = compose.services.grafana!.volumes ?? [];
    assert.ok(mounts.includes('./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro'));
    const dashboardMount = mounts.find((m) => m.startsWith('./monitoring/grafana/dashboards:'));
    assert.equal(dashboardMount?.split(':')[1], providers.providers[0]!.options.path);
  });

  test('Grafana reads the compose warehouse with the password compose gives it', async () => {
    const datasources = parse(await read('monitoring/grafana/provisioning/datasources/warehouse.yml')) as {
      datasources: {
        uid: string;
        type: string;
        url: string;
        user: string;
        jsonData: { database: string };
        secureJsonData: { password: string };
      }[];
    };
    const { compose } = await loadCompose();
    const ds = datasources.datasources[0]!;
    assert.equal(ds.uid, WAREHOUSE_DATASOURCE_UID);
    assert.equal(ds.type, 'grafana-postgresql-datasource');
    assert.equal(ds.url, 'warehouse:5432');
    const warehouse = environmentOf(compose.services.warehouse!);
    assert.deepEqual([ds.user, ds.jsonData.database], [warehouse.POSTGRES_USER, warehouse.POSTGRES_DB]);
    assert.equal(ds.secureJsonData.password, '$STACK_WAREHOUSE_PASSWORD');
    assert.equal(environmentOf(compose.services.grafana!).STACK_WAREHOUSE_PASSWORD, warehouse.POSTGRES_PASSWORD);
  });

  test('the dashboard is valid and queries only metrics that exist', async () => {
    const dashboard = JSON.parse(await read('monitoring/grafana/dashboards/healthsynth.json')) as {
      uid: string;
      panels: {
        id: number;
        type: string;
        title: string;
        gridPos: { x: number; y: number; w: number; h: number };
        datasource?: { uid: string };
        targets?: { expr?: string; rawSql?: string; refId: string; datasource?: { uid: string } }[];
      }[];
    };
    const datasourceUid = (
      parse(await read('monitoring/grafana/provisioning/datasources/prometheus.yml')) as {
        datasources: { uid: string }[];
      }
    ).datasources[0]!.uid;

    const known = new Set<string>([...Object.values(METRIC_NAMES), ...SDK_METRIC_NAMES, ...SERVER_METRIC_NAMES]);
    const used = new Set<string>();
    const ids = new Set<number>();
    let warehousePanels = 0;
    for (const panel of dashboard.panels) {
      assert.ok(!ids.has(panel.id), `duplicate panel id ${panel.id}`);
      ids.add(panel.id);
      assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} overflows the grid`);
      if (panel.type === 'row') continue;
      if (panel.datasource?.uid === WAREHOUSE_DATASOURCE_UID) {
        // SQL panels on the warehouse: marts.model_performance only (metrics, no patient data); the SQL itself runs
        // against the real warehouse in test/integration/dashboard-sql.test.ts.
        for (const target of panel.targets ?? []) {
          assert.equal(target.datasource?.uid, WAREHOUSE_DATASOURCE_UID);
          assert.deepEqual(target.rawSql?.match(/marts\.\w+/g), ['marts.model_performance'], panel.title);
        }
        warehousePanels += 1;
        continue;
      }
      assert.equal(panel.datasource?.uid, datasourceUid, `${panel.title} uses the provisioned datasource`);
      assert.ok(panel.targets && panel.targets.length > 0, `${panel.title} has queries`);
      for (const target of panel.targets) {
        const names = metricNamesIn(target.expr ?? '');
        assert.ok(names.length > 0, `${panel.title}: no metric in ${target.expr}`);
        for (const name of names) {
          const base = known.has(name) ? name : family(name);
          assert.ok(known.has(base), `${panel.title}: unknown metric ${name}`);
          used.add(base);
        }
        assert.equal(target.datasource?.uid, datasourceUid);
      }
    }
    assert.equal(warehousePanels, 1, 'the AUC vs Bayes AUC panel');
    const ourNames = Object.values(METRIC_NAMES);
    assert.deepEqual(
      ourNames.filter((n) => !used.has(n)),
      [],
      'every healthsynth metric appears on the dashboard',
    );
    for (const required of [
      'temporal_activity_execution_latency_seconds',
      'temporal_activity_schedule_to_start_latency_seconds',
      'temporal_workflow_completed_total',
      'temporal_workflow_failed_total',
    ]) {
      assert.ok(used.has(required), `dashboard shows ${required}`);
    }
  });
});
