/**
 * scripts/build.mjs, which compiles src/ to dist/ before `healthsynth` loads it: dist/ mirrors src/ (JavaScript
 * for each .ts, other files copied), is rebuilt when any src/ file changes and only then, and processes that
 * start together after a change build once and all find a complete dist/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
// @ts-expect-error: a plain .mjs file without type declarations (bin/healthsynth.js loads it before dist/ exists)
import { buildMismatch, ensureBuild, ROOT } from '../../scripts/build.mjs';

const root = ROOT as string;
const mismatch = buildMismatch as (root: string) => string | undefined;
const ensure = ensureBuild as (root: string) => Promise<boolean>;

describe('scripts/build.mjs', () => {
  let dir: string;
  before(async () => {
    // A copy of what the build reads, beside this checkout's packages.
    dir = await mkdtemp(path.join(os.tmpdir(), 'hs-build-'));
    await cp(path.join(root, 'src'), path.join(dir, 'src'), { recursive: true });
    await mkdir(path.join(dir, 'scripts'));
    await cp(path.join(root, 'scripts', 'build.mjs'), path.join(dir, 'scripts', 'build.mjs'));
    await cp(path.join(root, 'package-lock.json'), path.join(dir, 'package-lock.json'));
    await cp(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('builds dist/ as src/ compiled, with the non-TypeScript files beside', async () => {
    assert.equal(mismatch(dir), 'dist/ is not built');
    assert.equal(await ensure(dir), true);
    assert.equal(mismatch(dir), undefined);
    const compiled = await readFile(path.join(dir, 'dist', 'worker-process.js'), 'utf8');
    assert.match(compiled, /^function workerProcessEnv\(env\) \{$/m);
    assert.doesNotMatch(compiled, /: NodeJS\.ProcessEnv/, 'types are stripped');
    assert.ok(existsSync(path.join(dir, 'dist', 'activities', 'dbt-daemon.py')), 'the dbt daemon is beside its module');
    assert.ok(existsSync(path.join(dir, 'dist', 'client.js')));
    // Nothing is left of the build's temporary folder or lock.
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('dist')).sort(), ['dist']);
  });

  test('does nothing while src/ is unchanged, and rebuilds when any file under it changes', async () => {
    assert.equal(await ensure(dir), false);
    await writeFile(path.join(dir, 'src', 'activities', 'dbt-daemon.py'), '# changed\n', { flag: 'a' });
    assert.equal(mismatch(dir), 'src/ changed since dist/ was built');
    assert.equal(await ensure(dir), true);
    assert.match(await readFile(path.join(dir, 'dist', 'activities', 'dbt-daemon.py'), 'utf8'), /# changed\n$/);
    assert.equal(await ensure(dir), false);
  });

  test('processes started together after a change build once and all find dist/ complete', async () => {
    await writeFile(path.join(dir, 'src', 'worker-process.ts'), '\nexport const BUILT_TOGETHER = 1;\n', { flag: 'a' });
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        promisify(execFile)(process.execPath, [path.join(dir, 'scripts', 'build.mjs')], { cwd: dir, timeout: 120_000 }),
      ),
    );
    assert.equal(runs.filter((r) => /built dist\//.test(r.stderr)).length, 1, runs.map((r) => r.stderr).join('\n'));
    assert.equal(mismatch(dir), undefined);
    assert.match(await readFile(path.join(dir, 'dist', 'worker-process.js'), 'utf8'), /BUILT_TOGETHER = 1/);
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('dist')).sort(), ['dist']);
  });
  test('an empty lock left behind (no holder pid, older than 10 s) is taken over, not waited on for 5 minutes', async () => {
    // What a waiting build used to leave: it read the lock with flag 'a+' just after the holder removed it, which
    // re-created it empty. Every build then waited for the 5-minute stale limit (CI stop 18: killed after 120 s).
    await writeFile(path.join(dir, 'src', 'worker-process.ts'), '\nexport const AFTER_ORPHAN = 1;\n', { flag: 'a' });
    const lock = path.join(dir, 'dist.lock');
    await writeFile(lock, '');
    const longAgo = new Date(Date.now() - 20_000);
    await utimes(lock, longAgo, longAgo);
    const run = await promisify(execFile)(process.execPath, [path.join(dir, 'scripts', 'build.mjs')], {
      cwd: dir,
      timeout: 60_000,
    });
    assert.match(run.stderr, /built dist\//);
    assert.match(await readFile(path.join(dir, 'dist', 'worker-process.js'), 'utf8'), /AFTER_ORPHAN = 1/);
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('dist')).sort(), ['dist']);
  });
});
