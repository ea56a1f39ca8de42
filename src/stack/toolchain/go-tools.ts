/**
 * The Go-built tools: the Temporal CLI (it runs the local Temporal dev server) and versitygw (the S3-compatible
 * server). Each is found through its variable, on PATH or in the cache, else built with
 * `go install <pkg>@<version>` into the cache.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import {
  buildOnce,
  cacheRoot,
  envAndLog,
  isExecutable,
  runLogged,
  runs,
  ToolchainError,
  toolFromVariable,
  which,
  writeStamp,
  type ToolchainOptions,
} from './common.js';

/** Pinned tool versions: the cache folder names carry them, so a bump builds afresh. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const VERSITYGW_VERSION = '1.7.0';
/** Go needed to build the two Go tools above (their go.mod files ask for 1.25). */
export const MIN_GO = [1, 25] as const;

/** A tool built from a Go module. */
interface GoTool {
  /** Human name used in messages. */
  label: string;
  /** Cache folder prefix and binary name. */
  name: string;
  binary: string;
  version: string;
  /** Go package to `go install`. */
  pkg: string;
  /** Go module whose version `go version -m` must report. */
  module: string;
  envVar: string;
  minutes: number;
}

const TEMPORAL_TOOL: GoTool = {
  label: 'Temporal CLI',
  name: 'temporal-cli',
  binary: 'temporal',
  version: TEMPORAL_CLI_VERSION,
  pkg: 'github.com/temporalio/cli/cmd/temporal',
  module: 'github.com/temporalio/cli',
  envVar: 'TEMPORAL_CLI',
  minutes: 3,
};

const VERSITYGW_TOOL: GoTool = {
  label: 'versitygw',
  name: 'versitygw',
  binary: 'versitygw',
  version: VERSITYGW_VERSION,
  pkg: 'github.com/versity/versitygw/cmd/versitygw',
  module: 'github.com/versity/versitygw',
  envVar: 'VERSITYGW_BIN',
  minutes: 2,
};

/** Finds a Go toolchain at least {@link MIN_GO}; returns its path, or a reason why not. */
async function findGo(env: NodeJS.ProcessEnv): Promise<{ go?: string; problem?: string }> {
  const candidates = [await which('go', env), '/usr/local/go/bin/go', path.join(os.homedir(), 'go', 'bin', 'go')];
  let problem = 'Go is not installed';
  for (const go of candidates) {
    if (!go || !(await isExecutable(go))) continue;
    const res = await execa(go, ['env', 'GOVERSION'], { reject: false, stdin: 'ignore' });
    const m = /^go(\d+)\.(\d+)/.exec(String(res.stdout).trim());
    if (!m) continue;
    const [major, minor] = [Number(m[1]), Number(m[2])];
    if (major > MIN_GO[0] || (major === MIN_GO[0] && minor >= MIN_GO[1])) return { go };
    problem = `Go ${major}.${minor} at ${go} is too old`;
  }
  return { problem };
}

/** When go is at hand, confirms a cached binary was built from the expected module version. */
async function goBuildMatches(bin: string, tool: GoTool, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { go } = await findGo(env);
  if (!go) return true; // cannot check; the binary runs, which is what matters
  const res = await execa(go, ['version', '-m', bin], { reject: false, stdin: 'ignore' });
  return new RegExp(
    `\\bmod\\s+${tool.module.replace(/[.]/g, '\\.')}\\s+v${tool.version.replace(/[.]/g, '\\.')}\\b`,
  ).test(String(res.stdout));
}

/**
 * Finds or builds a Go tool: its variable, else its binary on PATH, else the stamped cache build, else a build
 * with `go install` (unless `noInstall`). Idempotent: a second call only checks the stamp.
 */
async function ensureGoTool(tool: GoTool, opts: ToolchainOptions): Promise<string> {
  const { env, log } = envAndLog(opts);

  const chosen = await toolFromVariable(env, {
    tool: tool.label,
    variable: tool.envVar,
    works: (bin) => runs(bin),
    problem: (bin) => `does not run (\`${bin} --version\` failed)`,
    remedy: `Point ${tool.envVar} at a working ${tool.binary} binary, or unset it to use the cached build`,
  });
  if (chosen) return chosen;
  const onPath = await which(tool.binary, env);
  if (onPath && (await runs(onPath))) return onPath;

  const dir = path.join(cacheRoot(env), `${tool.name}-${tool.version}`);
  const bin = path.join(dir, tool.binary);
  return buildOnce(
    dir,
    bin,
    (stamp) => stamp?.version === tool.version,
    async () => {
      // A binary without a stamp was built by hand or by an older setup: adopt it only if it runs and is the right version.
      if ((await isExecutable(bin)) && (await runs(bin)) && (await goBuildMatches(bin, tool, env))) {
        await writeStamp(dir, { tool: tool.name, version: tool.version, source: 'adopted existing build' });
        return bin;
      }
      if (opts.noInstall) {
        throw new ToolchainError(
          tool.label,
          `not found (no ${tool.envVar}, no \`${tool.binary}\` on PATH, no build in ${dir})`,
          'Run `npm run setup` to build it',
        );
      }
      const { go, problem } = await findGo(env);
      if (!go) {
        throw new ToolchainError(
          tool.label,
          `${problem}`,
          `Go >= ${MIN_GO.join('.')} is needed to build the ${tool.label}, or put \`${tool.binary}\` on PATH / set ${tool.envVar}`,
        );
      }
      const logFile = path.join(cacheRoot(env), 'logs', `${tool.name}-${tool.version}.log`);
      log(`Building ${tool.label} v${tool.version} with ${go} (about ${tool.minutes} min); log: ${logFile}`);
      // Build into a scratch folder, then move the finished binary into place and stamp it.
      await fs.mkdir(cacheRoot(env), { recursive: true });
      const scratch = await fs.mkdtemp(path.join(cacheRoot(env), `.build-${tool.name}-`));
      try {
        const code = await runLogged(go, ['install', `${tool.pkg}@v${tool.version}`], logFile, {
          env: { ...env, GOBIN: scratch, CGO_ENABLED: '0', GOFLAGS: env.GOFLAGS ?? '' },
          cwd: os.tmpdir(),
        });
        const built = path.join(scratch, tool.binary);
        if (code !== 0 || !(await isExecutable(built))) {
          throw new ToolchainError(
            tool.label,
            `\`go install ${tool.pkg}@v${tool.version}\` failed (exit ${code})`,
            `Read the log, fix the cause (network to the Go module proxy, disk space) and run \`npm run setup\` again, or set ${tool.envVar}`,
            logFile,
          );
        }
        await fs.rm(dir, { recursive: true, force: true });
        await fs.mkdir(dir, { recursive: true });
        await fs.rename(built, bin);
        await writeStamp(dir, {
          tool: tool.name,
          version: tool.version,
          source: `go install ${tool.pkg}@v${tool.version}`,
        });
        log(`Built ${tool.label} v${tool.version}: ${bin}`);
        return bin;
      } finally {
        await fs.rm(scratch, { recursive: true, force: true });
      }
    },
  );
}

/** Finds or builds the Temporal CLI: TEMPORAL_CLI, else `temporal` on PATH, else the cache, else `go install`. */
export function ensureTemporalCli(opts: ToolchainOptions = {}): Promise<string> {
  return ensureGoTool(TEMPORAL_TOOL, opts);
}

/** Finds or builds versitygw: VERSITYGW_BIN, else `versitygw` on PATH, else the cache, else `go install`. */
export function ensureVersitygw(opts: ToolchainOptions = {}): Promise<string> {
  return ensureGoTool(VERSITYGW_TOOL, opts);
}
