/**
 * Every setting Health Synth reads, parsed and validated once.
 *
 * Settings come from environment variables, and from a `.env` file in the working directory
 * when present (real environment variables win). Without production settings everything points
 * at the local stack that `npm run stack:up` starts on loopback. A wrong value fails with the
 * setting's name and what is wrong; secret values are never echoed back.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { shardPlanProblem } from './domain/shards.js';

/** Where the local stack listens; `healthsynth stack env` prints the same values. */
export const LOCAL = {
  temporalPort: 7233,
  temporalUiPort: 8233,
  temporalMetricsPort: 7235,
  postgresPort: 54329,
  postgresUser: 'healthsynth',
  postgresPassword: 'healthsynth',
  postgresDatabase: 'healthsynth',
  s3Port: 9100,
  s3AccessKey: 'healthsynth',
  s3SecretKey: 'healthsynth-local-secret',
  s3Bucket: 'healthsynth',
  s3Region: 'us-east-1',
  workerMetricsPort: 9464,
  /** The Telegram Bot API emulator; 8081 is also the default of Telegram's own local Bot API server. */
  telegramPort: 8081,
  /** The bot token the local emulator is used with (any well-formed token works there; this one is fixed). */
  telegramBotToken: '1000001:healthsynth-local-bot',
  /** `healthsynth bot --mode webhook` listens here (8443 is one of the ports Telegram posts webhooks to). */
  botPort: 8443,
} as const;

export const TASK_QUEUE_DEFAULT = 'healthsynth';

/** Appointments per generated part file when SHARD_ROWS is unset. */
const SHARD_ROWS_DEFAULT = 250_000;

/**
 * Session timeouts of the PostgreSQL warehouse when PG_LOCK_TIMEOUT / PG_STATEMENT_TIMEOUT are unset. A lock wait
 * longer than 2 minutes (a cleanup or another load holding the table) fails retryably and Temporal retries the load
 * later; no single statement of a load (COPY of one part file, the batch DELETE) comes near 30 minutes.
 */
export const PG_TIMEOUT_DEFAULTS = { lockTimeoutMs: 120_000, statementTimeoutMs: 1_800_000 } as const;

export type Scale = 'small' | 'medium' | 'large' | number;

/**
 * Parses a scale given as a name or a positive whole number of appointments. With `shardRows` (SHARD_ROWS) it also
 * refuses a scale that needs more shards per entity than one workflow history holds, saying what to change.
 */
export function parseScale(value: string | number, shardRows?: number): Scale {
  const scale = parseScaleValue(value);
  const tooMany = shardRows === undefined ? undefined : shardPlanProblem(scale, shardRows);
  if (tooMany) throw new Error(tooMany);
  return scale;
}

function parseScaleValue(value: string | number): Scale {
  if (typeof value === 'number' || /^\d+$/.test(value)) {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1 || n > 10_000_000) {
      throw new Error(`scale must be small, medium, large or a whole number from 1 to 10000000, got ${value}`);
    }
    return n;
  }
  if (value === 'small' || value === 'medium' || value === 'large') return value;
  throw new Error(`scale must be small, medium, large or a whole number of appointments, got "${value}"`);
}

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .transform((v, ctx) => {
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    ctx.addIssue({ code: 'custom', message: 'must be true or false (also accepted: 1/0, yes/no, on/off)' });
    return z.NEVER;
  });
const int = (min: number, max: number) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));
/** A decimal fraction from 0 to 1 (`example` shows one in the message). */
const fraction = (example: string) =>
  z
    .string()
    .trim()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, `must be a decimal fraction from 0 to 1, e.g. ${example}`)
    .transform(Number);
const url = z.string().trim().url('must be a URL such as http://host:port');
/** A PostgreSQL duration as its settings take it: a whole number of ms, s, min or h (no unit: ms); 0 turns it off. */
const pgDuration = z
  .string()
  .trim()
  .regex(/^\d+\s*(ms|s|min|h)?$/, 'must be a duration such as 500ms, 30s, 2min or 1h (0 turns it off)')
  .transform((v) => {
    const [, n, unit] = /^(\d+)\s*(ms|s|min|h)?$/.exec(v) ?? [];
    return Number(n) * { ms: 1, s: 1_000, min: 60_000, h: 3_600_000 }[(unit ?? 'ms') as 'ms'];
  })
  .pipe(z.number().int().max(2_147_483_647, 'must be at most 2147483647ms (about 24 days)'));
const optional = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const telegramChat = z
  .string()
  .trim()
  .regex(/^(-?\d+|@\w+)$/, 'must be a numeric chat id or @channelname');

/**
 * Settings that are no longer read, with what to set instead. Setting one fails loudly: silently ignoring
 * TELEGRAM_CHAT_ID would leave a deployment that used to deliver with every Telegram message in the outbox.
 */
const RETIRED_SETTINGS: Record<string, string> = {
  TELEGRAM_CHAT_ID:
    "is no longer read (it sent staff alerts and reports to the patients' chat); set TELEGRAM_STAFF_CHAT_ID " +
    '(alerts, reports, run summaries) and TELEGRAM_PATIENT_CHAT_ID (the weekend notice) instead',
};

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/**
 * A comma-separated list of AES-256 keys in base64, the encrypting key first. Each key is checked on its own
 * and named by its position, never by its value; a repeated key is refused because it would hide a mistake
 * in a rotation (the old key pasted twice instead of old and new).
 */
const encryptionKeys = (max = 16) =>
  z.string().transform((v, ctx) => {
    const keys = v.split(',').map((k) => k.trim());
    if (keys.length > max) {
      ctx.addIssue({
        code: 'custom',
        message:
          max === 1
            ? 'holds one key; for several (rotation) use TEMPORAL_ENCRYPTION_KEYS=<new>,<old>'
            : `at most ${max} keys, got ${keys.length}`,
      });
      return z.NEVER;
    }
    keys.forEach((key, i) => {
      const which = keys.length > 1 ? `key ${i + 1} of ${keys.length}` : 'the key';
      if (!BASE64_KEY.test(key)) {
        ctx.addIssue({
          code: 'custom',
          message: `${which} must be 32 random bytes in base64 (openssl rand -base64 32)`,
        });
      } else if (keys.indexOf(key) !== i) {
        ctx.addIssue({ code: 'custom', message: `${which} repeats key ${keys.indexOf(key) + 1}` });
      }
    });
    return keys;
  });

/** The raw environment schema: one entry per variable, documented in .env.example. */
const envSchema = z.object({
  HEALTHSYNTH_DATA_DIR: optional(z.string()),
  HEALTHSYNTH_TEMPORAL_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_TEMPORAL_UI_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_TEMPORAL_METRICS_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_POSTGRES_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_S3_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_TELEGRAM_PORT: optional(int(1, 65_535)),

  TEMPORAL_ADDRESS: optional(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port, e.g. 127.0.0.1:7233')),
  TEMPORAL_NAMESPACE: optional(z.string().min(1)),
  TEMPORAL_TASK_QUEUE: optional(z.string().min(1)),
  TEMPORAL_TLS: optional(bool),
  TEMPORAL_TLS_CERT_PATH: optional(z.string()),
  TEMPORAL_TLS_KEY_PATH: optional(z.string()),
  TEMPORAL_API_KEY: optional(z.string()),
  TEMPORAL_UI_URL: optional(url),
  TEMPORAL_ENCRYPTION_KEYS: optional(encryptionKeys()),
  TEMPORAL_ENCRYPTION_KEY: optional(encryptionKeys(1)),
  CODEC_SERVER_TOKEN: optional(
    z
      .string()
      .regex(
        /^[A-Za-z0-9._~-]{32,512}$/,
        'must be 32 to 512 characters of A-Z a-z 0-9 . _ ~ - (generate one with openssl rand -hex 32)',
      ),
  ),

  S3_ENDPOINT: optional(url),
  S3_BUCKET: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')),
  S3_REGION: optional(z.string().min(1)),
  S3_ACCESS_KEY_ID: optional(z.string()),
  S3_SECRET_ACCESS_KEY: optional(z.string()),
  S3_FORCE_PATH_STYLE: optional(bool),
  REPORT_PUBLIC_BASE_URL: optional(url),

  WAREHOUSE: optional(z.enum(['postgres', 'redshift'], { message: 'must be postgres or redshift' })),
  DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')),
  REDSHIFT_CLUSTER_ID: optional(z.string()),
  REDSHIFT_DB_USER: optional(z.string()),
  REDSHIFT_WORKGROUP: optional(z.string()),
  REDSHIFT_SECRET_ARN: optional(z.string().startsWith('arn:', 'must be an ARN')),
  REDSHIFT_DATABASE: optional(z.string()),
  REDSHIFT_IAM_ROLE: optional(z.string().startsWith('arn:aws:iam::', 'must be an IAM role ARN')),
  REDSHIFT_REGION: optional(z.string()),
  PG_LOCK_TIMEOUT: optional(pgDuration),
  PG_STATEMENT_TIMEOUT: optional(pgDuration),

  DBT_BIN: optional(z.string()),
  DBT_THREADS: optional(int(1, 64)),
  DBT_DAEMON: optional(bool),
  ML_PYTHON: optional(z.string()),
  TRAIN_WINDOW_DAYS: optional(int(1, 3650)),
  MAX_TRAIN_ROWS: optional(int(1000, 100_000_000)),
  RETRAIN_EVERY_DAYS: optional(int(1, 60)),

  SLACK_WEBHOOK_URL: optional(url),
  TELEGRAM_BOT_TOKEN: optional(z.string().regex(/^\d+:[\w-]+$/, 'must look like 123456:ABC-DEF (from @BotFather)')),
  TELEGRAM_STAFF_CHAT_ID: optional(telegramChat),
  TELEGRAM_PATIENT_CHAT_ID: optional(telegramChat),
  TELEGRAM_API_ROOT: optional(url),
  TELEGRAM_BOT_USERNAME: optional(
    z
      .string()
      .trim()
      .regex(/^@?\w{4,32}$/, "must be the bot's username, e.g. HealthSynthBot"),
  ),
  TELEGRAM_LINK_SECRET: optional(z.string().min(32, 'must be at least 32 characters (openssl rand -hex 32)')),
  TELEGRAM_LINK_TTL_DAYS: optional(int(1, 365)),
  TELEGRAM_BOT_MODE: optional(z.enum(['polling', 'webhook'], { message: 'must be polling or webhook' })),
  TELEGRAM_WEBHOOK_URL: optional(z.string().trim().url('must be the public https URL Telegram posts updates to')),
  TELEGRAM_WEBHOOK_SECRET: optional(
    z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, "must be 16 to 256 of A-Z, a-z, 0-9, _ and - (Telegram's rule)"),
  ),
  HEALTHSYNTH_BOT_PORT: optional(int(1, 65_535)),
  HEALTHSYNTH_BOT_HOST: optional(
    z
      .string()
      .trim()
      .refine((h) => isIP(h) !== 0, 'must be an IP address such as 0.0.0.0'),
  ),

  HEALTHSYNTH_TIMEZONE: optional(z.string().refine(validTimeZone, 'must be an IANA time zone such as Europe/Berlin')),
  RETENTION_DAYS: optional(int(1, 36_500)),
  RETENTION_MAX_DELETE_SHARE: optional(
    z
      .string()
      .trim()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a decimal fraction from 0 to 1, e.g. 0.2')
      .transform(Number)
      .pipe(z.number().gt(0, 'must be more than 0 (0 would refuse every cleanup)').max(1)),
  ),
  BACKUP_RETENTION_DAYS: optional(int(1, 36_500)),
  DEFAULT_SCALE: optional(
    z.string().transform((v, ctx) => {
      try {
        return parseScale(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  ),
  GENERATOR_SEED: optional(int(0, 2 ** 31 - 1)),
  SHARD_ROWS: optional(int(1_000, 50_000_000)),
  REMINDER_RELATIVE_RISK: optional(
    z
      .string()
      .trim()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a decimal fraction from 0 to 1, e.g. 0.77')
      .transform(Number)
      .pipe(z.number().gt(0, 'must be more than 0 (a reminder cannot make a no-show impossible)').max(1)),
  ),
  REMINDER_RISK_THRESHOLD: optional(fraction('0.3')),
  REMINDER_DAILY_LIMIT: optional(int(0, 1_000_000)),
  REMINDER_HOLDOUT_SHARE: optional(
    fraction('0.2').pipe(z.number().max(0.9, 'must be at most 0.9 (most appointments are reminded)')),
  ),
  BACKFILL_MAX_DAYS: optional(int(1, 3_660)),
  WEEKEND_NOTICE_TEXT: optional(z.string().min(1)),
  EMERGENCY_PHONE: optional(z.string().min(3)),
  WORKER_METRICS_PORT: optional(int(0, 65_535)),
  // The SDK's exporter binds a socket address, not a host name.
  WORKER_METRICS_HOST: optional(
    z
      .string()
      .trim()
      .refine((h) => isIP(h) !== 0, 'must be an IP address such as 127.0.0.1, or 0.0.0.0 for every interface'),
  ),
  WORKER_MAX_CONCURRENT_ACTIVITIES: optional(int(1, 1_000)),
  WORKER_MAX_CACHED_WORKFLOWS: optional(int(2, 100_000)),
});

type Env = z.infer<typeof envSchema>;

/** Loopback ports of the local stack: {@link LOCAL} unless overridden by HEALTHSYNTH_*_PORT. */
export interface LocalPorts {
  temporal: number;
  temporalUi: number;
  temporalMetrics: number;
  postgres: number;
  s3: number;
  /** The Telegram Bot API emulator. */
  telegram: number;
}

export interface Config {
  dataDir: string;
  /** Where `healthsynth stack up` listens; the local defaults below follow these ports. */
  localPorts: LocalPorts;
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    tls: boolean;
    tlsCertPath?: string;
    tlsKeyPath?: string;
    apiKey?: string;
    uiUrl: string;
    /**
     * AES-256-GCM keys (base64) for the payload codec: the first encrypts, all decrypt, so a rotation keeps old
     * history readable. Empty = payloads stored as plain JSON.
     */
    encryptionKeys: string[];
  };
  s3: {
    /** Undefined means AWS S3 with the default endpoint and credential chain. */
    endpoint?: string;
    bucket: string;
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle: boolean;
    publicBaseUrl?: string;
    local: boolean;
  };
  warehouse:
    | {
        kind: 'postgres';
        databaseUrl: string;
        local: boolean;
        /** lock_timeout of the warehouse's sessions, ms (0: off): a longer lock wait fails and retries. */
        lockTimeoutMs: number;
        /** statement_timeout of the warehouse's sessions, ms (0: off). */
        statementTimeoutMs: number;
      }
    | {
        kind: 'redshift';
        clusterId?: string;
        dbUser?: string;
        workgroup?: string;
        secretArn?: string;
        database: string;
        iamRole: string;
        region: string;
      };
  /**
   * `daemon`: runDbt keeps a long-lived dbt process per worker and target (src/activities/dbt-daemon.ts) instead of
   * starting dbt for every build; false runs a `dbt` process per build.
   */
  dbt: { bin?: string; threads: number; daemon: boolean };
  /**
   * The no-show model: `python` (ML_PYTHON; unset = the virtualenv `npm run setup` built), the training window in days
   * of outcomes before the run date, the most training rows (a larger window is sampled deterministically), and for
   * how many days a model trained on a full sample serves before the next one is trained.
   */
  model: { python?: string; trainWindowDays: number; maxTrainRows: number; retrainEveryDays: number };
  /** The bearer token `healthsynth codec-server` requires (secret); unset = it refuses to start. */
  codecServer: { token?: string };
  slack: { webhookUrl?: string };
  /** One bot; the chat is chosen by a message's audience, so staff text never reaches patients or the reverse. */
  telegram: { botToken?: string; chats: { staff?: string; patients?: string }; apiRoot?: string };
  /**
   * `healthsynth bot`: patients' deep links (signed with `linkSecret`, valid `linkTtlDays`), and how updates arrive:
   * long polling, or a webhook on host:port whose requests must carry `webhookSecret`.
   */
  bot: {
    username?: string;
    linkSecret?: string;
    linkTtlDays: number;
    mode: 'polling' | 'webhook';
    webhookUrl?: string;
    webhookSecret?: string;
    host: string;
    port: number;
  };
  timezone: string;
  retentionDays: number;
  /** Largest share of a table one cleanup may delete unless the run allows a large cleanup. */
  retentionMaxDeleteShare: number;
  /** Backups (under backups/) older than this many days are deleted by the cleanup. */
  backupRetentionDays: number;
  defaultScale: Scale;
  seed: number;
  shardRows: number;
  /** A reminded appointment's no-show probability is multiplied by this (0 < x <= 1). */
  reminderRelativeRisk: number;
  /**
   * Tomorrow's reminders: appointments scored at least `riskThreshold` (0–1), the riskiest `dailyLimit` of them
   * (both arms), of which `holdoutShare` (by a hash of the appointment id) get no message, as the comparison group.
   */
  reminders: { riskThreshold: number; dailyLimit: number; holdoutShare: number };
  backfillMaxDays: number;
  weekendNotice: { text: string; emergencyPhone: string };
  workerMetricsPort: number;
  /** Interface the worker's /metrics listens on: loopback by default, 0.0.0.0 inside a container. */
  workerMetricsHost: string;
  /** Activities one worker runs at once; more workers, not more slots, scale CPU-bound shards. */
  workerMaxConcurrentActivities: number;
  /**
   * Workflows one worker keeps in its workflow cache (the SDK's maxCachedWorkflows); one evicted is replayed from
   * its history at its next task. Unset: the SDK's default, from the heap limit (about 2,300 with a 4 GB heap).
   */
  workerMaxCachedWorkflows?: number;
}

/** A configuration error: names every bad setting and what is wrong, never a secret value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fromEnv(env: Env, cwd: string, retired: string[]): Config {
  const problems: string[] = [...retired];
  const ports: LocalPorts = {
    temporal: env.HEALTHSYNTH_TEMPORAL_PORT ?? LOCAL.temporalPort,
    temporalUi: env.HEALTHSYNTH_TEMPORAL_UI_PORT ?? LOCAL.temporalUiPort,
    temporalMetrics: env.HEALTHSYNTH_TEMPORAL_METRICS_PORT ?? LOCAL.temporalMetricsPort,
    postgres: env.HEALTHSYNTH_POSTGRES_PORT ?? LOCAL.postgresPort,
    s3: env.HEALTHSYNTH_S3_PORT ?? LOCAL.s3Port,
    telegram: env.HEALTHSYNTH_TELEGRAM_PORT ?? LOCAL.telegramPort,
  };
  const byPort = new Map<number, string[]>();
  for (const [name, port] of Object.entries(ports)) byPort.set(port, [...(byPort.get(port) ?? []), name]);
  for (const [port, names] of byPort) {
    if (names.length > 1) problems.push(`HEALTHSYNTH_*_PORT: ${names.join(' and ')} would both listen on port ${port}`);
  }
  const s3Local = env.S3_ENDPOINT === undefined && env.S3_BUCKET === undefined;
  const warehouseKind = env.WAREHOUSE ?? (env.REDSHIFT_CLUSTER_ID || env.REDSHIFT_WORKGROUP ? 'redshift' : 'postgres');

  let warehouse: Config['warehouse'];
  if (warehouseKind === 'redshift') {
    if (!env.REDSHIFT_CLUSTER_ID && !env.REDSHIFT_WORKGROUP) {
      problems.push('REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP: one is required when WAREHOUSE=redshift');
    }
    if (env.REDSHIFT_CLUSTER_ID && !env.REDSHIFT_DB_USER && !env.REDSHIFT_SECRET_ARN) {
      problems.push('REDSHIFT_DB_USER or REDSHIFT_SECRET_ARN: one is required with REDSHIFT_CLUSTER_ID');
    }
    if (!env.REDSHIFT_DATABASE) problems.push('REDSHIFT_DATABASE: required when WAREHOUSE=redshift');
    if (!env.REDSHIFT_IAM_ROLE)
      problems.push('REDSHIFT_IAM_ROLE: required for COPY and UNLOAD when WAREHOUSE=redshift');
    if (s3Local) problems.push('S3_BUCKET: Redshift loads from AWS S3, so S3_BUCKET must name a real bucket');
    warehouse = {
      kind: 'redshift',
      clusterId: env.REDSHIFT_CLUSTER_ID,
      dbUser: env.REDSHIFT_DB_USER,
      workgroup: env.REDSHIFT_WORKGROUP,
      secretArn: env.REDSHIFT_SECRET_ARN,
      database: env.REDSHIFT_DATABASE ?? '',
      iamRole: env.REDSHIFT_IAM_ROLE ?? '',
      region: env.REDSHIFT_REGION ?? env.S3_REGION ?? process.env.AWS_REGION ?? 'us-east-1',
    };
  } else {
    const local = env.DATABASE_URL === undefined;
    warehouse = {
      kind: 'postgres',
      local,
      databaseUrl:
        env.DATABASE_URL ??
        `postgres://${LOCAL.postgresUser}:${LOCAL.postgresPassword}@127.0.0.1:${ports.postgres}/${LOCAL.postgresDatabase}`,
      lockTimeoutMs: env.PG_LOCK_TIMEOUT ?? PG_TIMEOUT_DEFAULTS.lockTimeoutMs,
      statementTimeoutMs: env.PG_STATEMENT_TIMEOUT ?? PG_TIMEOUT_DEFAULTS.statementTimeoutMs,
    };
  }

  if (env.TEMPORAL_TLS_CERT_PATH && !env.TEMPORAL_TLS_KEY_PATH) {
    problems.push('TEMPORAL_TLS_KEY_PATH: required with TEMPORAL_TLS_CERT_PATH (mTLS needs both)');
  }
  if (env.TEMPORAL_ENCRYPTION_KEYS && env.TEMPORAL_ENCRYPTION_KEY) {
    problems.push(
      'TEMPORAL_ENCRYPTION_KEY and TEMPORAL_ENCRYPTION_KEYS: set only TEMPORAL_ENCRYPTION_KEYS ' +
        '(TEMPORAL_ENCRYPTION_KEY is its one-key alias); put the current key first',
    );
  }
  if (!s3Local && env.S3_BUCKET === undefined) problems.push('S3_BUCKET: required when S3_ENDPOINT is set');
  const telegramChats = env.TELEGRAM_STAFF_CHAT_ID !== undefined || env.TELEGRAM_PATIENT_CHAT_ID !== undefined;
  if (env.TELEGRAM_BOT_TOKEN !== undefined && !telegramChats && env.TELEGRAM_LINK_SECRET === undefined) {
    problems.push(
      'TELEGRAM_BOT_TOKEN: set TELEGRAM_STAFF_CHAT_ID and/or TELEGRAM_PATIENT_CHAT_ID too (or TELEGRAM_LINK_SECRET for ' +
        "patients' own chats), or the bot has nowhere to post",
    );
  }
  if (env.TELEGRAM_BOT_MODE === 'webhook') {
    if (!env.TELEGRAM_WEBHOOK_SECRET) {
      problems.push('TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_BOT_MODE=webhook (openssl rand -hex 32)');
    }
    if (!env.TELEGRAM_WEBHOOK_URL) problems.push('TELEGRAM_WEBHOOK_URL: required when TELEGRAM_BOT_MODE=webhook');
  }
  if (env.TELEGRAM_STAFF_CHAT_ID !== undefined && env.TELEGRAM_STAFF_CHAT_ID === env.TELEGRAM_PATIENT_CHAT_ID) {
    problems.push(
      'TELEGRAM_STAFF_CHAT_ID and TELEGRAM_PATIENT_CHAT_ID: must be different chats (alerts and reports are for staff only)',
    );
  }
  if (env.TELEGRAM_BOT_TOKEN === undefined && telegramChats) {
    problems.push('TELEGRAM_STAFF_CHAT_ID / TELEGRAM_PATIENT_CHAT_ID: set TELEGRAM_BOT_TOKEN too, or neither');
  }
  const tooMany = shardPlanProblem(env.DEFAULT_SCALE ?? 'small', env.SHARD_ROWS ?? SHARD_ROWS_DEFAULT);
  if (tooMany) problems.push(`DEFAULT_SCALE and SHARD_ROWS: ${tooMany}`);
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);

  return {
    dataDir: path.resolve(cwd, env.HEALTHSYNTH_DATA_DIR ?? '.data'),
    localPorts: ports,
    temporal: {
      address: env.TEMPORAL_ADDRESS ?? `127.0.0.1:${ports.temporal}`,
      namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: env.TEMPORAL_TASK_QUEUE ?? TASK_QUEUE_DEFAULT,
      tls: env.TEMPORAL_TLS ?? (env.TEMPORAL_API_KEY !== undefined || env.TEMPORAL_TLS_CERT_PATH !== undefined),
      tlsCertPath: env.TEMPORAL_TLS_CERT_PATH,
      tlsKeyPath: env.TEMPORAL_TLS_KEY_PATH,
      apiKey: env.TEMPORAL_API_KEY,
      encryptionKeys: env.TEMPORAL_ENCRYPTION_KEYS ?? env.TEMPORAL_ENCRYPTION_KEY ?? [],
      uiUrl: env.TEMPORAL_UI_URL ?? `http://127.0.0.1:${ports.temporalUi}`,
    },
    s3: {
      endpoint: s3Local ? `http://127.0.0.1:${ports.s3}` : env.S3_ENDPOINT,
      bucket: env.S3_BUCKET ?? LOCAL.s3Bucket,
      region: env.S3_REGION ?? process.env.AWS_REGION ?? LOCAL.s3Region,
      accessKeyId: env.S3_ACCESS_KEY_ID ?? (s3Local ? LOCAL.s3AccessKey : undefined),
      secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? (s3Local ? LOCAL.s3SecretKey : undefined),
      forcePathStyle: env.S3_FORCE_PATH_STYLE ?? (s3Local || env.S3_ENDPOINT !== undefined),
      publicBaseUrl: env.REPORT_PUBLIC_BASE_URL,
      local: s3Local,
    },
    warehouse,
    dbt: { bin: env.DBT_BIN, threads: env.DBT_THREADS ?? 4, daemon: env.DBT_DAEMON ?? true },
    model: {
      python: env.ML_PYTHON,
      trainWindowDays: env.TRAIN_WINDOW_DAYS ?? 60,
      maxTrainRows: env.MAX_TRAIN_ROWS ?? 1_000_000,
      retrainEveryDays: env.RETRAIN_EVERY_DAYS ?? 7,
    },
    codecServer: { token: env.CODEC_SERVER_TOKEN },
    slack: { webhookUrl: env.SLACK_WEBHOOK_URL },
    telegram: {
      botToken: env.TELEGRAM_BOT_TOKEN,
      chats: { staff: env.TELEGRAM_STAFF_CHAT_ID, patients: env.TELEGRAM_PATIENT_CHAT_ID },
      apiRoot: env.TELEGRAM_API_ROOT,
    },
    bot: {
      username: env.TELEGRAM_BOT_USERNAME?.replace(/^@/, ''),
      linkSecret: env.TELEGRAM_LINK_SECRET,
      linkTtlDays: env.TELEGRAM_LINK_TTL_DAYS ?? 30,
      mode: env.TELEGRAM_BOT_MODE ?? 'polling',
      webhookUrl: env.TELEGRAM_WEBHOOK_URL,
      webhookSecret: env.TELEGRAM_WEBHOOK_SECRET,
      host: env.HEALTHSYNTH_BOT_HOST ?? '127.0.0.1',
      port: env.HEALTHSYNTH_BOT_PORT ?? LOCAL.botPort,
    },
    timezone: env.HEALTHSYNTH_TIMEZONE ?? 'UTC',
    retentionDays: env.RETENTION_DAYS ?? 365,
    retentionMaxDeleteShare: env.RETENTION_MAX_DELETE_SHARE ?? 0.2,
    backupRetentionDays: env.BACKUP_RETENTION_DAYS ?? 30,
    defaultScale: env.DEFAULT_SCALE ?? 'small',
    seed: env.GENERATOR_SEED ?? 20_261_120,
    shardRows: env.SHARD_ROWS ?? SHARD_ROWS_DEFAULT,
    reminderRelativeRisk: env.REMINDER_RELATIVE_RISK ?? 0.77,
    reminders: {
      riskThreshold: env.REMINDER_RISK_THRESHOLD ?? 0.3,
      dailyLimit: env.REMINDER_DAILY_LIMIT ?? 1000,
      holdoutShare: env.REMINDER_HOLDOUT_SHARE ?? 0.2,
    },
    backfillMaxDays: env.BACKFILL_MAX_DAYS ?? 62,
    weekendNotice: {
      text:
        env.WEEKEND_NOTICE_TEXT ??
        'Our clinics are closed this weekend. Appointments resume on Monday. In an emergency, call',
      emergencyPhone: env.EMERGENCY_PHONE ?? '112',
    },
    workerMetricsPort: env.WORKER_METRICS_PORT ?? LOCAL.workerMetricsPort,
    workerMetricsHost: env.WORKER_METRICS_HOST ?? '127.0.0.1',
    workerMaxConcurrentActivities: env.WORKER_MAX_CONCURRENT_ACTIVITIES ?? 4,
    ...(env.WORKER_MAX_CACHED_WORKFLOWS !== undefined
      ? { workerMaxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS }
      : {}),
  };
}

/**
 * Parses configuration from `env` (default: process.env plus `.env`).
 * Throws {@link ConfigError} listing every invalid setting by name.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  if (env === process.env) loadDotenv({ path: path.join(cwd, '.env'), quiet: true });
  const retired = Object.entries(RETIRED_SETTINGS)
    .filter(([name]) => (env[name] ?? '').trim() !== '')
    .map(([name, instead]) => `${name}: ${instead}`);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = [...retired, ...parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)];
    throw new ConfigError(`Invalid configuration:\n  - ${lines.join('\n  - ')}`);
  }
  return fromEnv(parsed.data, cwd, retired);
}

/** Names of every environment variable {@link loadConfig} reads (compose validation uses it). */
export const CONFIG_ENV_NAMES: readonly string[] = Object.keys(envSchema.shape);
