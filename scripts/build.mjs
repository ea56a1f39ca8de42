#!/usr/bin/env node
/**
 * Compiles src/ to JavaScript in dist/ (git-ignored), so the CLI and the worker run on plain Node instead of
 * through tsx, whose loader, transpiler and cache cost the long-running worker about 25 MB of resident memory.
 * Each src/ file becomes the same path under dist/ (esbuild, one file at a time, no bundling), and other files
 * in src/ (the dbt daemon's Python) are copied beside them, so paths a module finds from its own location
 * (`import.meta.url`) are the same from dist/ as from src/: dist/ sits at src/'s depth in the repository.
 *
 * dist/BUILD holds a hash of what the build reads (every file under src/, package-lock.json, this script);
 * `ensureBuild` rebuilds whenever it differs, so a stale dist/ never runs old code, and does nothing otherwise
 * (a few ms: the files are hashed, not compiled). `bin/healthsynth.js` calls it before it loads dist/, so
 * `npx healthsynth …` and `npm run worker` work right after `git clone`. A build writes a temporary folder
 * and swaps it into place under a lock file, so workers started together build once and never see half a dist/.
 *
 * With `--workflow-bundles` the build also bundles the workflow code (webpack, both variants: plain and with
 * encoded failures) into dist/bundles/, named by the same source hash `src/workflow-bundle.ts` looks for; a
 * worker then starts without bundling (the Docker image and `npm run setup` do this). Without it, a worker
 * bundles on first start into its data folder, as from the sources.
 *
 *   node scripts/build.mjs [--workflow-bundles]  build when dist/ is not the build of the current sources
 *   node scripts/build.mjs --check               exit 0 when dist/ is current, 1 when a build is needed
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
/** The repository root: this file lives in scripts/. */
export const ROOT = path.resolve(path.dirname(SELF), '..');
const STAMP = 'BUILD';
/** A lock older than this is left over from a build that died (a build takes seconds). */
const STALE_LOCK_MS = 5 * 60_000;
/** A lock still without its holder's pid after this is an orphan (the pid is written right after it is created). */
const EMPTY_LOCK_MS = 10_000;

/** Every file under `dir`, relative to it, sorted (so the hash does not depend on directory order). */
function filesUnder(dir, rel = '') {
  const out = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...filesUnder(dir, name));
    else out.push(name);
  }
  return out.sort();
}

/** A hash of everything a build reads: the files under src/, the locked packages and this script. */
export function sourceHash(root = ROOT) {
  const hash = createHash('sha256');
  for (const file of filesUnder(path.join(root, 'src'))) {
    hash.update(`src/${file}\0`);
    hash.update(readFileSync(path.join(root, 'src', file)));
  }
  for (const file of ['package-lock.json', 'scripts/build.mjs']) {
    hash.update(`${file}\0`);
    hash.update(existsSync(path.join(root, file)) ? readFileSync(path.join(root, file)) : '');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Why dist/ under `root` is not the build of the current sources, or undefined when it is. */
export function buildMismatch(root = ROOT) {
  let built;
  try {
    built = readFileSync(path.join(root, 'dist', STAMP), 'utf8').trim();
  } catch {
    return 'dist/ is not built';
  }
  return built === sourceHash(root) ? undefined : 'src/ changed since dist/ was built';
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Runs `fn` holding `<root>/dist.lock`; waits for another build's lock, and takes over one left by a dead build. */
async function withLock(root, fn) {
  const lock = path.join(root, 'dist.lock');
  for (;;) {
    let fd;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // Read without creating: the holder may have just removed it (then try again at once). Reading with flag
      // 'a+' re-created it empty, an orphan nobody removed for STALE_LOCK_MS, and every waiting build hung.
      let holder;
      try {
        holder = Number(readFileSync(lock, 'utf8'));
      } catch (e) {
        if (e.code === 'ENOENT') continue;
        throw e;
      }
      const stat = statSync(lock, { throwIfNoEntry: false });
      if (!stat) continue;
      const age = Date.now() - stat.mtimeMs;
      const orphan = holder > 0 ? !alive(holder) : age > EMPTY_LOCK_MS;
      if (orphan || age > STALE_LOCK_MS) rmSync(lock, { force: true });
      else sleep(100);
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    break;
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Bundles the workflow code (both variants) with the compiled src/workflow-bundle.js under `dist`. */
function buildWorkflowBundles(dist) {
  const res = spawnSync(
    process.execPath,
    [path.join(dist, 'workflow-bundle.js'), '--prebuild', path.join(dist, 'bundles')],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  if (res.status !== 0) throw new Error(`bundling the workflow code failed (exit ${res.status ?? res.signal})`);
}

/** Compiles src/ into a fresh folder beside dist/ and swaps it into place. Call with the lock held. */
async function build(root, { workflowBundles }) {
  const { buildSync } = await import('esbuild');
  const hash = sourceHash(root);
  const src = path.join(root, 'src');
  const tmp = path.join(root, `dist.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const files = filesUnder(src);
  buildSync({
    entryPoints: files.filter((f) => f.endsWith('.ts')).map((f) => path.join(src, f)),
    outbase: src,
    outdir: tmp,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  for (const file of files.filter((f) => !f.endsWith('.ts'))) {
    mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
    copyFileSync(path.join(src, file), path.join(tmp, file));
  }
  if (workflowBundles) buildWorkflowBundles(tmp);
  writeFileSync(path.join(tmp, STAMP), `${hash}\n`);
  const dist = path.join(root, 'dist');
  const old = path.join(root, `dist.old-${process.pid}`);
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(tmp, dist);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Builds dist/ under `root` when {@link buildMismatch} finds it stale (or, with `workflowBundles`, when it has
 * no prebuilt workflow bundles); returns true when it built. Several processes may call it at once.
 */
export async function ensureBuild(root = ROOT, { workflowBundles = false } = {}) {
  const needed = () => buildMismatch(root) ?? (workflowBundles && !existsSync(path.join(root, 'dist', 'bundles')));
  if (!needed()) return false;
  let built = false;
  await withLock(root, async () => {
    if (!needed()) return;
    await build(root, { workflowBundles });
    built = true;
  });
  return built;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  if (process.argv.includes('--check')) {
    const why = buildMismatch();
    if (why) process.stderr.write(`${why}: node scripts/build.mjs builds it\n`);
    process.exit(why ? 1 : 0);
  }
  try {
    const started = Date.now();
    if (await ensureBuild(ROOT, { workflowBundles: process.argv.includes('--workflow-bundles') })) {
      process.stderr.write(`healthsynth: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } catch (err) {
    process.stderr.write(`healthsynth: building dist/ failed: ${err.message}\n`);
    process.exit(1);
  }
}
