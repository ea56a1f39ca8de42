#!/usr/bin/env node
// Thin launcher for `npx healthsynth`: plain Node until the locked packages are known to be installed (a fresh
// clone has none), then dist/, the CLI compiled to JavaScript, rebuilt first when src/ changed since it was built
// (scripts/build.mjs; a hash check of a few ms when it is current), so no TypeScript loader stays in the process.
// `worker` is relaunched with the worker's process settings before the CLI loads, so the short-lived parent stays
// small.
import { ensureDeps } from '../scripts/ensure-deps.mjs';

try {
  ensureDeps();
} catch (err) {
  console.error(`healthsynth: ${err.message}`);
  process.exit(1);
}
const { ensureBuild } = await import('../scripts/build.mjs');
try {
  await ensureBuild();
} catch (err) {
  console.error(`healthsynth: building dist/ failed: ${err.message}`);
  process.exit(1);
}
if (process.argv[2] === 'worker') {
  const { relaunchUnlessWorkerSettings } = await import('../dist/worker-process.js');
  const code = await relaunchUnlessWorkerSettings();
  if (code !== undefined) process.exit(code);
}
await import('../dist/client.js');
