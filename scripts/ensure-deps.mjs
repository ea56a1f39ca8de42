#!/usr/bin/env node
/**
 * Makes sure node_modules holds exactly the packages locked in package-lock.json, so the README's first
 * commands (`npm run demo`, `npm test`, `npx healthsynth …`) work right after `git clone`. Plain Node with no
 * dependencies, because it runs before any are installed.
 *
 * The check is cheap (two JSON files, no network): npm writes the tree it installed to
 * node_modules/.package-lock.json, whose entries are copies of package-lock.json's. When every locked package is
 * installed with the same entry (optional ones for other platforms, and dev ones when npm omits dev, may be
 * missing), nothing happens; otherwise `npm ci` installs the locked tree (about 20 s from npm's cache). Its
 * output goes to stderr, so a command's stdout (e.g. `--json`) stays clean.
 *
 *   node scripts/ensure-deps.mjs          check, install when needed (exit 1 when npm ci fails)
 *   node scripts/ensure-deps.mjs --check  only report: exit 0 when in step, 1 when npm ci is needed
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root: this file lives in scripts/. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether npm leaves dev dependencies out here (the Docker image installs with NODE_ENV=production). */
function omitsDev(env) {
  return env.NODE_ENV === 'production' || /(^|[\s,])dev($|[\s,])/.test(env.npm_config_omit ?? '');
}

/**
 * Why node_modules under `root` does not match its package-lock.json, or undefined when it does.
 * A package installed with an entry other than the locked one, a locked package that is not installed and may
 * not be left out, or an installed package the lock no longer has: each means `npm ci` is needed.
 */
export function depsMismatch(root = ROOT, env = process.env) {
  const lock = readJson(path.join(root, 'package-lock.json'));
  if (!lock?.packages) return 'package-lock.json is missing or unreadable';
  const installed = readJson(path.join(root, 'node_modules', '.package-lock.json'));
  if (!installed?.packages) return 'node_modules is missing (or was not installed by npm)';
  const skipDev = omitsDev(env);
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') continue; // the project itself
    const got = installed.packages[key];
    if (got === undefined) {
      if (entry.optional || entry.devOptional || (skipDev && entry.dev)) continue;
      return `${key} is locked but not installed`;
    }
    if (JSON.stringify(got) !== JSON.stringify(entry)) return `${key} is installed in another version`;
    if (!existsSync(path.join(root, key))) return `${key} was removed from node_modules`;
  }
  for (const key of Object.keys(installed.packages)) {
    if (!(key in lock.packages)) return `${key} is installed but no longer locked`;
  }
  return undefined;
}

/**
 * Runs `npm ci` in `root` when {@link depsMismatch} finds a difference; returns true when it installed.
 * Throws when npm ci fails, with its exit code.
 */
export function ensureDeps(root = ROOT, env = process.env) {
  const why = depsMismatch(root, env);
  if (why === undefined) return false;
  process.stderr.write(`healthsynth: installing the locked packages (${why}): npm ci …\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], {
    cwd: root,
    env,
    // npm's own output goes to stderr: stdout belongs to the command that runs next.
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (res.error) throw new Error(`could not run npm ci (${res.error.message}); install Node.js with npm >= 11`);
  if (res.status !== 0) {
    throw new Error(`npm ci failed (exit ${res.status ?? res.signal}); fix what it printed above and run it again`);
  }
  return true;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  if (process.argv.includes('--check')) {
    const why = depsMismatch();
    if (why) process.stderr.write(`node_modules does not match package-lock.json: ${why}\n`);
    process.exit(why ? 1 : 0);
  }
  try {
    ensureDeps();
  } catch (err) {
    process.stderr.write(`healthsynth: ${err.message}\n`);
    process.exit(1);
  }
}
