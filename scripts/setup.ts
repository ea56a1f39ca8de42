/**
 * `npm run setup`: finds or builds every outside tool the local stack and the tests need
 * (Temporal CLI, versitygw, PostgreSQL server, dbt, the no-show model's Python) and prints where each one is.
 * Idempotent: with everything cached it finishes in about a second.
 */
import { ensureFullToolchain, ToolchainError } from '../src/stack/toolchain.js';

async function main(): Promise<void> {
  const started = Date.now();
  const tools = await ensureFullToolchain({ log: (line) => console.log(line) });
  console.log(`Temporal CLI   ${tools.temporal}`);
  console.log(`versitygw      ${tools.versitygw}`);
  console.log(`PostgreSQL     ${tools.pgBinDir}`);
  console.log(`dbt            ${tools.dbt}`);
  console.log(`model Python   ${tools.ml}`);
  console.log(`Toolchain ready in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}

main().catch((err: unknown) => {
  const errors = err instanceof AggregateError ? (err.errors as unknown[]) : [err];
  for (const e of errors) console.error(e instanceof ToolchainError ? `setup: ${e.message}` : e);
  process.exit(1);
});
