/**
 * scripts/ensure-deps.mjs, the plain-Node pre-step of `npm run demo|test|worker|…` and `npx healthsynth`: it
 * compares node_modules/.package-lock.json (what npm installed) with package-lock.json and runs the real `npm ci`
 * only when they differ.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
// @ts-expect-error: a plain .mjs file without type declarations (it runs before any package is installed)
import { depsMismatch, ensureDeps, ROOT } from '../../scripts/ensure-deps.mjs';

type Mismatch = (root: string, env?: NodeJS.ProcessEnv) => string | undefined;
const mismatch = depsMismatch as Mismatch;
const ensure = ensureDeps as (root: string, env?: NodeJS.ProcessEnv) => boolean;

interface Lock {
  name: string;
  lockfileVersion: number;
  packages: Record<string, Record<string, unknown>>;
}

/** A project locked to `packages`, with node_modules holding `installed` (hidden lockfile plus the folders). */
async function project(packages: Lock['packages'], installed?: Lock['packages']): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hs-deps-'));
  const lock: Lock = { name: 'p', lockfileVersion: 3, packages: { '': { name: 'p' }, ...packages } };
  await writeFile(path.join(dir, 'package-lock.json'), JSON.stringify(lock));
  if (installed) {
    for (const key of Object.keys(installed)) await mkdir(path.join(dir, key), { recursive: true });
    await mkdir(path.join(dir, 'node_modules'), { recursive: true });
    await writeFile(
      path.join(dir, 'node_modules', '.package-lock.json'),
      JSON.stringify({ name: 'p', lockfileVersion: 3, packages: installed }),
    );
  }
  return dir;
}

const a = { 'node_modules/a': { version: '1.0.0', integrity: 'sha512-a' } };
const b = { 'node_modules/b': { version: '2.0.0', integrity: 'sha512-b' } };
const optional = { 'node_modules/@esbuild/darwin-arm64': { version: '0.1.0', optional: true, os: ['darwin'] } };
const dev = { 'node_modules/eslint': { version: '9.0.0', dev: true } };

describe('depsMismatch', () => {
  const dirs: string[] = [];
  const make = async (...args: Parameters<typeof project>) => {
    const dir = await project(...args);
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('node_modules as npm installed it from this lock: nothing to do', async () => {
    assert.equal(mismatch(await make({ ...a, ...b, ...optional }, { ...a, ...b })), undefined);
  });

  test('the real node_modules of this repository matches its lock', () => {
    assert.equal(mismatch(ROOT as string), undefined);
  });

  test('a fresh clone (no node_modules) needs npm ci', async () => {
    assert.match(mismatch(await make({ ...a })) ?? '', /node_modules is missing/);
  });

  test('a package in another version, a removed folder, a missing or an extra package: npm ci', async () => {
    const older = { 'node_modules/a': { version: '0.9.0', integrity: 'sha512-old' } };
    assert.match(mismatch(await make({ ...a }, older)) ?? '', /node_modules\/a is installed in another version/);
    assert.match(mismatch(await make({ ...a, ...b }, { ...a })) ?? '', /node_modules\/b is locked but not installed/);
    assert.match(mismatch(await make({ ...a }, { ...a, ...b })) ?? '', /node_modules\/b is installed but no longer/);
    const removed = await make({ ...a }, { ...a });
    await rm(path.join(removed, 'node_modules', 'a'), { recursive: true });
    assert.match(mismatch(removed) ?? '', /node_modules\/a was removed/);
  });

  test('dev packages may be missing only where npm leaves them out (NODE_ENV=production, --omit=dev)', async () => {
    const dir = await make({ ...a, ...dev }, { ...a });
    assert.match(mismatch(dir, {}) ?? '', /node_modules\/eslint is locked but not installed/);
    assert.equal(mismatch(dir, { NODE_ENV: 'production' }), undefined);
    assert.equal(mismatch(dir, { npm_config_omit: 'dev' }), undefined);
  });
});

test('every npm script a user runs first installs the locked packages before anything else', async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT as string, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    bin: Record<string, string>;
  };
  for (const name of ['setup', 'stack:up', 'stack:down', 'worker', 'demo', 'test', 'bench']) {
    const script = pkg.scripts[name] ?? '';
    // Either the pre-step itself, or the healthsynth entry, which runs it before it imports a package.
    assert.match(script, /^node (scripts\/ensure-deps\.mjs && |bin\/healthsynth\.js )/, `${name}: ${script}`);
  }
  assert.equal(pkg.bin.healthsynth, 'bin/healthsynth.js');
  const entry = await readFile(path.join(ROOT as string, 'bin', 'healthsynth.js'), 'utf8');
  // The build step (scripts/build.mjs) imports esbuild, so it loads only once the packages are installed.
  const installs = entry.indexOf('ensureDeps()');
  assert.ok(installs >= 0 && installs < entry.indexOf("import('../scripts/build.mjs')"), 'the entry installs first');
  assert.doesNotMatch(entry, /^import .*tsx/m, 'no static import of a package in the entry');
});

describe('ensureDeps runs the real npm ci when needed, and only then', () => {
  let dir: string;
  before(async () => {
    // One small locked package (zod, no dependencies of its own), with the entry this repository locks.
    const repoLock = JSON.parse(await readFile(path.join(ROOT as string, 'package-lock.json'), 'utf8')) as Lock;
    const zod = repoLock.packages['node_modules/zod'];
    assert.ok(zod, 'the repository locks zod');
    dir = await project({ 'node_modules/zod': zod });
    const lock = JSON.parse(await readFile(path.join(dir, 'package-lock.json'), 'utf8')) as Lock;
    lock.packages['']!.dependencies = { zod: zod.version };
    await writeFile(path.join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'p', version: '1.0.0', dependencies: { zod: zod.version } }),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('installs into a project without node_modules, then does nothing, then repairs a removed package', async () => {
    const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' };
    assert.equal(ensure(dir, env), true, 'installed');
    assert.equal(mismatch(dir, env), undefined);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-e', 'console.log(require("zod").z.string().parse("ok"))'],
      {
        cwd: dir,
      },
    );
    assert.equal(stdout.trim(), 'ok', 'the installed package works');
    assert.equal(ensure(dir, env), false, 'in step: npm ci is not run again');
    await rm(path.join(dir, 'node_modules', 'zod'), { recursive: true });
    assert.equal(ensure(dir, env), true, 'a removed package is installed again');
    assert.equal(mismatch(dir, env), undefined);
  });
});
