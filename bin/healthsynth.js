#!/usr/bin/env node
// Thin launcher so `npx healthsynth` runs the TypeScript CLI without a build step. Plain Node until the locked
// packages are known to be installed (a fresh clone has none), then tsx; `worker` is relaunched with the worker's
// process settings before the CLI loads, so the short-lived parent stays small.
import { ensureDeps } from '../scripts/ensure-deps.mjs';

try {
  ensureDeps();
} catch (err) {
  console.error(`healthsynth: ${err.message}`);
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
if (process.argv[2] === 'worker') {
  const { relaunchUnlessWorkerSettings } = await import('../src/worker-process.ts');
  const code = await relaunchUnlessWorkerSettings();
  if (code !== undefined) process.exit(code);
}
await import('../src/client.ts');
