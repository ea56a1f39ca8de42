/**
 * The staff report's charts rendered in a short-lived child process, so vega and sharp (about 50 MB once loaded,
 * plus sharp's native buffers) never become resident in the worker, whose peak memory they otherwise raised by
 * the same amount on the one activity a day that renders. Run as a script, this module reads
 * `{ spec }` (a vega-lite spec) as JSON on stdin and writes the PNG to stdout.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TopLevelSpec } from 'vega-lite';
import { doctorRatingSpec, renderSpecPng, type ChartOptions, type DoctorRatingRow } from './charts.js';

interface ChartJob {
  spec: TopLevelSpec;
}

const SELF = fileURLToPath(import.meta.url);

/** The doctor-rating chart ({@link doctorRatingSpec}) rendered by {@link renderSpecPngInChild}. */
export async function renderDoctorRatingPngInChild(
  rows: readonly DoctorRatingRow[],
  runDate: string,
  options: ChartOptions = {},
): Promise<Buffer> {
  return renderSpecPngInChild(doctorRatingSpec(rows, runDate, options));
}

/**
 * {@link renderSpecPng} in a child Node process (the same bytes: rendering is deterministic). The child
 * runs this module with the same Node, through tsx when it is TypeScript (the source tree) and directly when it is
 * compiled JavaScript. Fails with the child's stderr when it exits non-zero.
 */
export async function renderSpecPngInChild(spec: TopLevelSpec): Promise<Buffer> {
  // tsx resolved from here, not from the working directory, which may be anywhere.
  const args = SELF.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), SELF] : [SELF];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  child.stdin.end(JSON.stringify({ spec } satisfies ChartJob));
  const code = await exited;
  if (code !== 0) throw new Error(`chart renderer exited with ${code}: ${err.trim().slice(-2_000)}`);
  return Buffer.concat(out);
}

async function main(): Promise<void> {
  const input: Buffer[] = [];
  for await (const chunk of process.stdin) input.push(chunk as Buffer);
  const job = JSON.parse(Buffer.concat(input).toString('utf8')) as ChartJob;
  const png = await renderSpecPng(job.spec);
  await new Promise<void>((resolve, reject) => process.stdout.write(png, (e) => (e ? reject(e) : resolve())));
}

if (process.argv[1] === SELF) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
