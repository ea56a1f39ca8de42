/**
 * Finds or installs the outside tools Health Synth needs locally: the Temporal CLI (dev server),
 * versitygw (S3-compatible server), the PostgreSQL server binaries, dbt and the no-show model's Python. One file per tool in
 * toolchain/; this file resolves them together and is what scripts, bin and the stack import.
 *
 * Builds are cached per user under `$XDG_CACHE_HOME/healthsynth/<tool>-<version>/` (default
 * `~/.cache/healthsynth/`), so a second clone reuses them. A finished install writes a stamp file
 * last; a folder without its stamp is treated as a half-finished build and redone. With
 * everything present a call takes well under a second: stamps are trusted, nothing is run.
 */
import type { ToolchainOptions, ToolName } from './toolchain/common.js';
import { ensureDbt } from './toolchain/dbt.js';
import { ensureMl } from './toolchain/ml.js';
import { ensureChartFonts } from './toolchain/fonts.js';
import { ensureTemporalCli, ensureVersitygw } from './toolchain/go-tools.js';
import { ensurePostgresBinaries } from './toolchain/postgres.js';

export { cacheRoot, REPO_ROOT, ToolchainError, type ToolchainOptions, type ToolName } from './toolchain/common.js';
export { DBT_REQUIREMENTS, DBT_SERIES, dbtVenvBin, dbtVenvDir, ensureDbt } from './toolchain/dbt.js';
export { ensureChartFonts } from './toolchain/fonts.js';
export { ensureMl, ML_REQUIREMENTS, ML_SCRIPT, ML_SCRIPT_ENV, ML_SERIES, mlVenvPython } from './toolchain/ml.js';
export {
  ensureTemporalCli,
  ensureVersitygw,
  MIN_GO,
  TEMPORAL_CLI_VERSION,
  VERSITYGW_VERSION,
} from './toolchain/go-tools.js';
export { ensurePostgresBinaries } from './toolchain/postgres.js';

/** Every tool, in resolution order. */
export const ALL_TOOLS: readonly ToolName[] = ['temporal', 'versitygw', 'postgres', 'dbt', 'ml'];

/** Absolute paths of every resolved tool. */
export interface Toolchain {
  /** The `temporal` CLI binary. */
  temporal: string;
  /** The `versitygw` binary. */
  versitygw: string;
  /** Folder holding `initdb`, `pg_ctl` and `postgres`. */
  pgBinDir: string;
  /** The `dbt` executable (inside the cached virtualenv unless DBT_BIN is set). */
  dbt: string;
  /** The Python of the no-show model's virtualenv (scikit-learn, skops). */
  ml: string;
}

/**
 * Resolves every requested tool, building or installing what is missing (unless `noInstall`).
 * The Go builds run one after the other (they share two cores); PostgreSQL and dbt alongside.
 * Idempotent: a second call with everything present only checks stamps and paths.
 */
export async function ensureToolchain(opts: ToolchainOptions = {}): Promise<Partial<Toolchain>> {
  const want = new Set(opts.tools ?? ALL_TOOLS);
  const out: Partial<Toolchain> = {};
  const goTools = (async () => {
    if (want.has('temporal')) out.temporal = await ensureTemporalCli(opts);
    if (want.has('versitygw')) out.versitygw = await ensureVersitygw(opts);
  })();
  const pg = want.has('postgres') ? ensurePostgresBinaries(opts).then((d) => (out.pgBinDir = d)) : undefined;
  const dbt = want.has('dbt') ? ensureDbt(opts).then((d) => (out.dbt = d)) : undefined;
  // After dbt, not beside it: two pip installs at once on two cores only slow each other down.
  const python = (async () => {
    await dbt?.catch(() => undefined);
    if (want.has('ml')) out.ml = await ensureMl(opts);
  })();
  const fonts = ensureChartFonts(opts);
  const results = await Promise.allSettled([goTools, pg, dbt, python, fonts]);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join('\n'));
  return out;
}

/** Like {@link ensureToolchain} for all tools, typed as complete. */
export async function ensureFullToolchain(opts: Omit<ToolchainOptions, 'tools'> = {}): Promise<Toolchain> {
  return (await ensureToolchain({ ...opts, tools: ALL_TOOLS })) as Toolchain;
}
