/**
 * The worker's workflow code bundle, built once per content and reused.
 *
 * Bundling with webpack costs about 130 MB of memory and a second or two; doing it in a short-lived
 * child process keeps that out of every long-running worker, and caching the result by a hash of the
 * source and the lock file means a restarted worker (or a second one) starts from the file. The bundle is
 * always built from the TypeScript sources in src/ (the SDK's bundler compiles them), also when this module
 * runs compiled from dist/, so both give the same bundle; `node scripts/build.mjs --workflow-bundles` prebuilds
 * it into dist/bundles/ under the same name, which is looked up first.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENCODED_FAILURE_CONVERTER_PATH } from './codec.js';

const SELF = fileURLToPath(import.meta.url);
/** This module is src/workflow-bundle.ts or its build, dist/workflow-bundle.js: either way one level down. */
const REPO_ROOT = path.resolve(path.dirname(SELF), '..');
const SRC_DIR = path.join(REPO_ROOT, 'src');
export const WORKFLOWS_PATH = path.join(SRC_DIR, 'workflows', 'index.ts');
/** Where `node scripts/build.mjs --workflow-bundles` puts the bundles it prebuilds. */
const PREBUILT_DIR = path.join(REPO_ROOT, 'dist', 'bundles');

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (e.name.endsWith('.ts')) out.push(full);
  }
  return out.sort();
}

/** A hash of everything the bundle can depend on: every source file and the locked packages. */
export async function bundleHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [...(await sourceFiles(SRC_DIR)), path.join(REPO_ROOT, 'package-lock.json')]) {
    hash.update(path.relative(REPO_ROOT, file));
    hash.update(await fs.readFile(file).catch(() => Buffer.alloc(0)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** The file name of the bundle of the current sources, with or without a failure converter. */
async function bundleName(failureConverterPath?: string): Promise<string> {
  return `workflows-${await bundleHash()}${failureConverterPath ? '-encoded-failures' : ''}.js`;
}

/**
 * Returns the path of the bundled workflow code: the one prebuilt in dist/bundles/ when it is of these sources,
 * else the one under `<dataDir>/bundles/`, building it in a child process when this source has not been
 * bundled yet. Safe when several workers start at once: each writes a temporary file and renames it into
 * place. A `failureConverterPath` (encryption on) is built into the bundle, because workflow failures are
 * converted inside the workflow sandbox.
 */
export async function workflowBundlePath(
  dataDir: string,
  { failureConverterPath }: { failureConverterPath?: string } = {},
): Promise<string> {
  const name = await bundleName(failureConverterPath);
  const prebuilt = path.join(PREBUILT_DIR, name);
  if (existsSync(prebuilt)) return prebuilt;
  const out = path.join(dataDir, 'bundles', name);
  if (existsSync(out)) return out;
  await fs.mkdir(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    const args = [SELF, tmp, ...(failureConverterPath ? [failureConverterPath] : [])];
    // Through tsx from the sources; compiled (dist/), plain Node runs it.
    const child = spawn(process.execPath, [...(SELF.endsWith('.ts') ? ['--import', 'tsx'] : []), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`bundling the workflow code failed (exit ${code}):\n${stderr}`)),
    );
  });
  await fs.rename(tmp, out);
  return out;
}

/** Child-process entry: bundle the workflows into the file named by argv[2] (argv[3]: a failure converter). */
async function bundleTo(file: string, failureConverterPath?: string): Promise<void> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const silent = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };
  // The SDK inlines a source map with every source's full text (about 1 MB of the 2.8 MB bundle). The worker
  // parses that map in the main thread and again in the workflow thread, which costs about 30 MB of resident
  // memory (measured on an idle worker). Without the embedded sources the map still maps every stack frame to
  // its file, line and column (the `mappings` are unchanged); only a debugger shows the file from disk instead.
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath,
    logger: silent,
    webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
  });
  await fs.writeFile(file, code);
}

/** Child-process entry of `scripts/build.mjs`: both variants of the bundle into `dir`, named as looked up. */
async function prebuild(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const converter of [undefined, ENCODED_FAILURE_CONVERTER_PATH]) {
    await bundleTo(path.join(dir, await bundleName(converter)), converter);
  }
}

if (process.argv[1] && SELF === process.argv[1] && process.argv[2]) {
  const [, , first = '', second] = process.argv;
  (first === '--prebuild' && second ? prebuild(second) : bundleTo(first, second)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
