/**
 * `npm test [layers or files...]`: runs the test suite against the real local stack.
 *
 * Ensures the toolchain, brings the local stack up unless it is already running (remembering what
 * it started), creates a fresh test database and an emptied test bucket, points the tests at them
 * through environment variables, and runs node's test runner: test/unit first, one file at a time;
 * then the test/workflow and test/integration files in two lanes (HEALTHSYNTH_TEST_LANES), one file
 * at a time per lane, the longest first by the durations of the last run (kept in
 * ~/.cache/healthsynth/test-durations.json), each lane with a bucket of its own; and, beside all of
 * them, test/e2e (its own databases, task queues and stack). Output that runs beside other output
 * is printed when its file or layer is done. Then it stops what it started, also on Ctrl-C. The
 * exit code is the test runner's.
 *
 *   npm test                         all layers
 *   npm test -- unit integration     some layers
 *   npm test -- test/unit/config.test.ts
 *
 * Environment: HEALTHSYNTH_TEST_DATABASE (default healthsynth_test), HEALTHSYNTH_TEST_BUCKET
 * (default healthsynth-test; lanes add -lane1, -lane2…, e2e -beside), HEALTHSYNTH_TEST_LANES (1-8,
 * default 2), plus the HEALTHSYNTH_*_PORT and HEALTHSYNTH_DATA_DIR of the stack.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ObjectStore } from '../src/activities/storage.js';
import { loadConfig } from '../src/config.js';
import { localStackEnv, type ServiceName, StackError, stackDown, stackUp } from '../src/stack/index.js';
import { localPgUrl, withPg } from '../src/stack/postgres.js';
import { ensureLocalBucket, localS3 } from '../src/stack/s3.js';
import { cacheRoot, ensureFullToolchain, REPO_ROOT, ToolchainError } from '../src/stack/toolchain.js';

const LAYERS = ['unit', 'workflow', 'integration', 'e2e'] as const;
type Layer = (typeof LAYERS)[number];

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await testFiles(full)));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

/** A group of test files run by one test-runner process: a layer, or files outside test/<layer>/. */
interface Group {
  name: string;
  files: string[];
}

/**
 * Turns arguments (layer names, folders, files) into groups in layer order: unit, workflow,
 * integration, e2e, then anything else. (Node's runner sorts the files it is given by path,
 * so the layer order is kept by running one process per layer.)
 */
async function selectGroups(args: readonly string[]): Promise<Group[]> {
  const files: string[] = [];
  for (const arg of args.length > 0 ? args : LAYERS) {
    if ((LAYERS as readonly string[]).includes(arg)) {
      files.push(...(await testFiles(path.join(REPO_ROOT, 'test', arg as Layer))));
    } else if (existsSync(arg) && statSync(arg).isDirectory()) {
      files.push(...(await testFiles(path.resolve(arg))));
    } else if (existsSync(arg)) {
      files.push(path.resolve(arg));
    } else {
      throw new Error(`"${arg}" is neither a layer (${LAYERS.join(', ')}) nor an existing test file or folder`);
    }
  }
  const groups: Group[] = [...LAYERS, 'other'].map((name) => ({ name, files: [] }));
  for (const file of new Set(files)) {
    const rel = path.relative(path.join(REPO_ROOT, 'test'), file);
    const layer = rel.split(path.sep)[0] ?? '';
    const group = groups.find((g) => g.name === layer) ?? groups[groups.length - 1]!;
    group.files.push(path.relative(process.cwd(), file));
  }
  return groups.filter((g) => g.files.length > 0);
}

interface Counts {
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

/** Reads the summary counts from the end of a TAP report. */
async function tapCounts(file: string): Promise<Counts | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  const counts = {
    pass: count('pass'),
    fail: count('fail'),
    cancelled: count('cancelled'),
    skipped: count('skipped'),
    todo: count('todo'),
  };
  return Object.values(counts).some(Number.isNaN) ? undefined : counts;
}

/** Drops and recreates the test database so every run starts empty. */
async function freshDatabase(port: number, name: string): Promise<void> {
  await withPg(port, 'postgres', async (c) => {
    const ident = `"${name.replace(/"/g, '""')}"`;
    try {
      await c.query(`drop database if exists ${ident}`);
    } catch (err) {
      throw new Error(
        `could not drop the test database ${name} (${(err as Error).message}); another test run may be using it: set HEALTHSYNTH_TEST_DATABASE to another name`,
      );
    }
    await c.query(`create database ${ident}`);
  });
}

/** Creates the test bucket and deletes whatever an earlier run left in it. */
async function freshBucket(port: number, bucket: string): Promise<void> {
  await ensureLocalBucket(port, bucket);
  const store = ObjectStore.fromConfig(localS3(port, bucket));
  try {
    const leftovers = await store.list('');
    await store.delete(leftovers.map((o) => o.key));
  } finally {
    store.client.destroy();
  }
}

/** How many workflow and integration files run at once (HEALTHSYNTH_TEST_LANES, default 2: this machine's cores). */
function testLanes(): number {
  const raw = process.env.HEALTHSYNTH_TEST_LANES ?? '2';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`HEALTHSYNTH_TEST_LANES must be 1 to 8, got "${raw}"`);
  return n;
}

/** Each test file's wall time in its last run (ms), by path under test/: the order of the next run's lanes. */
const DURATIONS_FILE = path.join(cacheRoot(), 'test-durations.json');

async function loadDurations(): Promise<Record<string, number>> {
  try {
    const parsed: unknown = JSON.parse(await fs.readFile(DURATIONS_FILE, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, number>) : {};
  } catch {
    return {}; // first run, or an unreadable file: unknown files simply go first
  }
}

async function saveDurations(durations: Record<string, number>): Promise<void> {
  await fs.mkdir(path.dirname(DURATIONS_FILE), { recursive: true });
  const tmp = `${DURATIONS_FILE}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(durations, null, 1)}\n`);
  await fs.rename(tmp, DURATIONS_FILE);
}

/** The closing count line, set once the test runs are over. */
let summary: string | undefined;

async function main(): Promise<number> {
  const groups = await selectGroups(process.argv.slice(2));
  const lanes = testLanes();
  const fileCount = groups.reduce((n, g) => n + g.files.length, 0);
  if (fileCount === 0) {
    console.error('npm test: no *.test.ts files found for this selection');
    return 1;
  }

  let interrupted: NodeJS.Signals | undefined;
  const children = new Set<ReturnType<typeof spawn>>();
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = sig;
    console.error(`\nnpm test: ${sig}: stopping the tests, then what this run started`);
    for (const c of children) c.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const config = loadConfig();
  const log = (line: string) => console.error(line);
  let started: ServiceName[] = [];
  try {
    const tools = await ensureFullToolchain({ log });
    if (interrupted) return 130;
    // A stack already listening on our ports (ours, or one started by hand with the same
    // credentials) is used as it is; only what this run starts is stopped at the end.
    const up = await stackUp({ config, log, adoptForeign: true });
    started = up.services.filter((s) => s.status === 'started').map((s) => s.name);
    console.error(
      `Stack: ${up.services.map((s) => `${s.name} ${s.status}`).join(', ')} (${(up.elapsedMs / 1000).toFixed(1)} s)`,
    );
    if (interrupted) return 130;

    const database = process.env.HEALTHSYNTH_TEST_DATABASE ?? 'healthsynth_test';
    const bucket = process.env.HEALTHSYNTH_TEST_BUCKET ?? 'healthsynth-test';
    await freshDatabase(config.localPorts.postgres, database);
    await freshBucket(config.localPorts.s3, bucket);

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...localStackEnv(config, tools),
      DATABASE_URL: localPgUrl(config.localPorts.postgres, database),
      S3_BUCKET: bucket,
    };
    const tapDir = await fs.mkdtemp(path.join(os.tmpdir(), 'hs-test-'));
    const total: Counts = { pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
    let exitCode = 0;

    /**
     * Runs one group's files in one test-runner process, its output to the terminal or, with `logFile`, to that file
     * (printed when the group is done, under `heading`); adds its counts and returns its wall time in ms.
     */
    const runGroup = async (
      group: Group,
      opts: { logFile?: string; heading?: string; env?: NodeJS.ProcessEnv } = {},
    ): Promise<number> => {
      const started = Date.now();
      const tap = path.join(tapDir, `${group.name.replace(/\W/g, '_')}.tap`);
      // prettier-ignore
      const args = [
        '--import', 'tsx', '--test', '--test-concurrency=1',
        '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=tap', `--test-reporter-destination=${tap}`,
        ...group.files,
      ];
      const heading = opts.heading ?? `\n=== ${group.name}: ${group.files.length} file(s) ===`;
      if (!opts.logFile) console.log(heading);
      const log = opts.logFile ? await fs.open(opts.logFile, 'w') : undefined;
      const proc = spawn(process.execPath, args, {
        stdio: log ? ['ignore', log.fd, log.fd] : 'inherit',
        env: opts.env ?? env,
        cwd: process.cwd(),
      });
      children.add(proc);
      const code = await new Promise<number>((resolve) => {
        proc.once('exit', (c, signal) => resolve(c ?? (signal === 'SIGINT' ? 130 : 1)));
        proc.once('error', (err) => {
          console.error(err);
          resolve(1);
        });
      });
      children.delete(proc);
      const elapsedMs = Date.now() - started;
      if (log && opts.logFile) {
        await log.close();
        console.log(`${heading} (${(elapsedMs / 1000).toFixed(1)} s)`);
        process.stdout.write(await fs.readFile(opts.logFile, 'utf8'));
      }
      const counts = await tapCounts(tap);
      if (counts) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += counts[k];
      else total.fail += 1; // the runner died before it could report
      if (code !== 0 && exitCode === 0) exitCode = code;
      return elapsedMs;
    };

    /**
     * Runs the workflow and integration files in `lanes` lanes, one file at a time per lane, the longest first (by
     * the durations of earlier runs, unknown files first), so that the lanes end together. Each file's output is
     * printed when it is done. Files already use their own databases and task queues; each lane gets a bucket of
     * its own, because a pipeline's retention sweep deletes every day folder older than its cutoff in its bucket.
     */
    const runPool = async (files: string[]): Promise<void> => {
      const key = (file: string) => path.relative(path.join(REPO_ROOT, 'test'), path.resolve(file));
      const known = (file: string) => durations[key(file)] ?? Number.MAX_SAFE_INTEGER;
      const queue = [...files].sort((a, b) => known(b) - known(a));
      await Promise.all(
        Array.from({ length: Math.min(lanes, queue.length) }, async (_, i) => {
          const laneBucket = `${bucket}-lane${i + 1}`;
          await freshBucket(config.localPorts.s3, laneBucket);
          for (let file = queue.shift(); file && !interrupted; file = queue.shift()) {
            const name = key(file);
            durations[name] = await runGroup(
              { name, files: [file] },
              {
                logFile: path.join(tapDir, `${name.replace(/\W/g, '_')}.log`),
                heading: `\n=== ${name} (lane ${i + 1}) ===`,
                env: { ...env, S3_BUCKET: laneBucket },
              },
            );
          }
        }),
      );
      await saveDurations(durations);
    };

    // The e2e layer uses its own databases, task queues and (first contact) its own stack, and mostly waits on
    // servers; it runs beside the other layers with its output printed when it is done, and with a bucket of its
    // own (see runPool). Unit tests run first, alone; then the workflow and integration files share the lanes.
    const beside = groups.length > 1 ? groups.filter((g) => g.name === 'e2e') : [];
    const besideBucket = `${bucket}-beside`;
    if (beside.length > 0) await freshBucket(config.localPorts.s3, besideBucket);
    const pooled = groups.filter((g) => g.name === 'workflow' || g.name === 'integration').flatMap((g) => g.files);
    const usePool = lanes > 1 && pooled.length > 1;
    const durations = usePool ? await loadDurations() : {};
    try {
      await Promise.all([
        (async () => {
          for (const group of groups) {
            if (interrupted || beside.includes(group)) continue;
            if (!usePool || (group.name !== 'workflow' && group.name !== 'integration')) await runGroup(group);
            else if (group.name === 'workflow' || !groups.some((g) => g.name === 'workflow')) await runPool(pooled);
          }
        })(),
        ...beside.map((group) => {
          console.log(`\n=== ${group.name}: ${group.files.length} file(s), beside the other layers ===`);
          return runGroup(group, {
            logFile: path.join(tapDir, `${group.name}.log`),
            heading: `\n=== ${group.name}: ${group.files.length} file(s) === (ran beside the other layers; its output:)`,
            env: { ...env, S3_BUCKET: besideBucket },
          });
        }),
      ]);
    } finally {
      await fs.rm(tapDir, { recursive: true, force: true });
    }
    // One closing line for all layers, printed last (after the stack is stopped) by main().
    summary = `total: ${total.pass} passed, ${total.fail + total.cancelled} failed, ${total.skipped + total.todo} skipped`;
    if (interrupted) return Math.max(exitCode, 130);
    return exitCode;
  } finally {
    if (started.length > 0) {
      await stackDown({ config, log, only: started }).catch((err: unknown) =>
        console.error(`npm test: ${String(err)}`),
      );
    }
  }
}

main().then(
  (code) => {
    if (summary) console.log(`\n${summary}`);
    process.exit(code);
  },
  (err: unknown) => {
    const errors = err instanceof AggregateError ? (err.errors as unknown[]) : [err];
    for (const e of errors) {
      console.error(e instanceof ToolchainError || e instanceof StackError ? `npm test: ${e.message}` : e);
    }
    process.exit(1);
  },
);
