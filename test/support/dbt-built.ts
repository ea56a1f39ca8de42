/**
 * Databases for the dbt tests in test/integration/dbt/: the hand-made fixture of dbt-fixture.ts in a database of
 * the test's own, with a client on it and a scratch folder; `close` drops them.
 *
 * The mart tests read the fixture after a full `dbt build` as of B2. That build happens once per `npm test` run:
 * build.test.ts (which sorts first) asserts on its own real build and then keeps the built database as a template;
 * every mart file gets a copy of it (CREATE DATABASE … TEMPLATE, well under a second) to read and change as it
 * likes. A file run on its own builds the template itself. The template's name carries the oid of the run's test
 * database (npm test recreates it every run) and a hash of the dbt project, the fixture and the dbt binary, so a
 * template is never used by another run or for another project; older ones are dropped when a new one is kept.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import pg from 'pg';
import { DBT_PROJECT_DIR, createDbtActivities, resolveDbtBin } from '../../src/activities/dbt.js';
import { loadConfig, type Config } from '../../src/config.js';
import { B2, createFixtureDatabase } from './dbt-fixture.js';

/** A dbt test's own database, a client connected to it and a scratch folder for dbt's target and logs. */
export interface DbtTestDatabase {
  name: string;
  url: string;
  /** loadConfig() pointing at this database, with HEALTHSYNTH_DATA_DIR in {@link dataDir}. */
  config: Config;
  db: pg.Client;
  dataDir: string;
  /** Ends the client, drops the database and removes the scratch folder. */
  close(): Promise<void>;
}

const TEMPLATE_PREFIX = 'hs_dbt_built_';
/** The advisory lock (two-int form, in the project's `0x4853_xxxx` family) held while the template is built or copied. */
const TEMPLATE_LOCK = [0x4853_7e57, 0] as const;

function adminUrl(): string {
  const base = loadConfig();
  if (base.warehouse.kind !== 'postgres') throw new Error('the dbt integration tests need WAREHOUSE=postgres');
  return base.warehouse.databaseUrl;
}

async function withAdmin<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

async function open(name: string, dataDir: string, drop: () => Promise<void>): Promise<DbtTestDatabase> {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const config = loadConfig({ ...process.env, DATABASE_URL: url.toString(), HEALTHSYNTH_DATA_DIR: dataDir });
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  return {
    name,
    url: url.toString(),
    config,
    db,
    dataDir,
    async close() {
      await db.end(); // resolves at once when keepAsBuiltTemplate ended it already
      await drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A fresh database `<prefix>_<random>` with the raw tables and the two published days of the fixture, nothing built. */
export async function openFixture(prefix: string): Promise<DbtTestDatabase> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `${prefix.replace(/_/g, '-')}-`));
  const fixture = await createFixtureDatabase(prefix, dataDir);
  return open(fixture.name, dataDir, fixture.drop);
}

/** Every file under dir, sorted, skipping dbt's own output folders. */
async function projectFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory() && ['target', 'logs', 'dbt_packages'].includes(e.name)) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await projectFiles(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

/** This run's template name: the test database's oid and a hash of everything the build depends on. */
async function templateName(): Promise<string> {
  const oid = await withAdmin(async (a) => {
    const r = await a.query<{ oid: string }>(
      'select oid::text as oid from pg_database where datname = current_database()',
    );
    return r.rows[0]?.oid ?? '0';
  });
  const hash = createHash('sha256').update(resolveDbtBin(loadConfig()));
  const fixture = fileURLToPath(new URL('./dbt-fixture.ts', import.meta.url));
  for (const file of [fixture, ...(await projectFiles(DBT_PROJECT_DIR))]) {
    hash.update(file).update(await readFile(file));
  }
  return `${TEMPLATE_PREFIX}${oid}_${hash.digest('hex').slice(0, 12)}`;
}

/** Replaces every template of earlier runs with `template`, a copy of database `built` (which must have no sessions). */
async function replaceTemplate(admin: pg.Client, template: string, built: string): Promise<void> {
  const old = await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [
    `${TEMPLATE_PREFIX}%`,
  ]);
  for (const { datname } of old.rows) await admin.query(`drop database if exists ${datname} with (force)`);
  await admin.query(`create database ${template} template ${built}`);
}

/**
 * Runs `fn` holding a session advisory lock on the server, so test files run in parallel (plain `node --test`) do not
 * build, replace and copy the template at the same time. npm test runs files one at a time and never waits here.
 */
async function withTemplateLock<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  return withAdmin(async (admin) => {
    await admin.query('select pg_advisory_lock($1, $2)', [...TEMPLATE_LOCK]);
    try {
      return await fn(admin);
    } finally {
      await admin.query('select pg_advisory_unlock($1, $2)', [...TEMPLATE_LOCK]);
    }
  });
}

/**
 * Keeps `built` (the fixture after a successful full build as of B2) as this run's template for
 * {@link openBuiltFixture}, replacing any template of an earlier run. Ends `built`'s client; close it afterwards.
 */
export async function keepAsBuiltTemplate(built: DbtTestDatabase): Promise<void> {
  await built.db.end(); // a template database must have no sessions
  const template = await templateName();
  await withTemplateLock((admin) => replaceTemplate(admin, template, built.name));
}

/**
 * A copy of the fixture after a full `dbt build` as of B2, in a database of its own (`<prefix>_<random>`). Copies
 * this run's template; without one, builds the fixture (one dbt build) and keeps it as the template first.
 */
export async function openBuiltFixture(prefix: string): Promise<DbtTestDatabase> {
  const template = await templateName();
  const name = `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  await withTemplateLock(async (admin) => {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [template]);
    if (exists.rowCount !== 1) {
      const fresh = await openFixture(`${prefix}_build`);
      try {
        const summary = await createDbtActivities({ config: fresh.config }).runDbt({ runDate: B2 });
        if (!summary.success) throw new Error(`dbt build of the fixture failed: ${JSON.stringify(summary)}`);
        await fresh.db.end(); // a template database must have no sessions
        await replaceTemplate(admin, template, fresh.name);
      } finally {
        await fresh.close();
      }
    }
    await admin.query(`create database ${name} template ${template}`);
  });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `${prefix.replace(/_/g, '-')}-`));
  return open(name, dataDir, () =>
    withAdmin((a) => a.query(`drop database if exists ${name} with (force)`).then(() => {})),
  );
}

/** An open copy of the built fixture, with its query results as plain rows. */
export interface BuiltFixture extends DbtTestDatabase {
  /** {@link rowsOf} on this database. */
  rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Opens a copy of the built fixture (see {@link openBuiltFixture}) before the tests of the enclosing `describe` and
 * closes it after them; the returned function gives the tests the open database.
 */
export function useBuiltFixture(prefix: string): () => BuiltFixture {
  let fixture: BuiltFixture | undefined;
  before(async () => {
    const opened = await openBuiltFixture(prefix);
    fixture = Object.assign(opened, { rows: (sql: string, params?: unknown[]) => rowsOf(opened.db, sql, params) });
  });
  after(async () => {
    await fixture?.close();
  });
  return () => {
    if (!fixture) throw new Error(`the built fixture ${prefix} is not open (its before hook failed)`);
    return fixture;
  };
}

/** Rows of a query as plain objects (pg's rows carry a prototype deepEqual would compare). */
export async function rowsOf(db: pg.Client, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await db.query(sql, params)).rows.map((r: Record<string, unknown>) => ({ ...r }));
}
