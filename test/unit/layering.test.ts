/**
 * The layers point one way, checked two ways without Docker:
 * - the lint rules in eslint.config.js refuse an import from src/ into scripts/, test/ or bench/ (workflow code
 *   included), from bench/ into test/, and of a devDependency into src/ at run time; and they allow the imports
 *   each layer does need;
 * - the Docker image's file set runs `healthsynth --help`: exactly what the Dockerfile COPYs (minus
 *   .dockerignore) is copied into a temporary folder beside this checkout's node_modules and started, so an
 *   import of a file the image does not ship fails here instead of in the image.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '../..');

describe('lint rules for the layers', () => {
  // eslint.config.js as `npm run lint` uses it, minus type information (the probes are not files of the project,
  // so the type-aware rule that needs it is off here).
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: {
      languageOptions: { parserOptions: { projectService: false, project: null } },
      rules: { '@typescript-eslint/no-floating-promises': 'off' },
    },
  });

  /** What eslint.config.js says about `code` as if it were `file`: `rule: message` per problem. */
  async function lint(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(`${code}\nexport const probe = 1;\n`, { filePath: path.join(root, file) });
    return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parser'}: ${m.message}`);
  }

  const refusals: [string, string, RegExp][] = [
    ['src/cli/probe.ts', "import '../../scripts/ensure-deps.mjs';", /^no-restricted-imports: .*src\/ must not import/],
    [
      'src/probe.ts',
      "import type { TestHarness } from '../test/support/env.js'; export type Probe = TestHarness;",
      /^no-restricted-imports: /,
    ],
    ['src/activities/warehouse/probe.ts', "import '../../../bench/load.js';", /^no-restricted-imports: /],
    ['src/workflows/probe.ts', "import '../../test/support/env.js';", /^no-restricted-imports: .*src\/ must not/],
    ['bench/probe.ts', "import '../test/support/env.js';", /^no-restricted-imports: .*bench\/ must not import test/],
    // The image installs without devDependencies.
    ['src/probe.ts', "import '@temporalio/testing';", /^import-x\/no-extraneous-dependencies: /],
  ];
  for (const [file, code, expected] of refusals) {
    test(`${file} may not: ${code}`, async () => {
      const messages = await lint(file, code);
      assert.equal(messages.length, 1, messages.join('\n'));
      assert.match(messages[0] ?? '', expected);
    });
  }

  const allowed: [string, string][] = [
    ['src/cli/probe.ts', "import '../config.js';"],
    ['src/stack/probe.ts', "import './toolchain.js';"],
    ['src/probe.ts', "import type { TestWorkflowEnvironment as T } from '@temporalio/testing'; export type Probe = T;"],
    ['bench/probe.ts', "import '../src/config.js';"],
    ['bench/probe.ts', "import './load.js';"],
    ['scripts/probe.ts', "import '../test/support/env.js';"],
  ];
  for (const [file, code] of allowed) {
    test(`${file} may: ${code}`, async () => {
      assert.deepEqual(await lint(file, code), []);
    });
  }
});

/** The Dockerfile's COPY instructions as [sources, destination] pairs (flags such as --chown dropped). */
function dockerCopies(dockerfile: string): { sources: string[]; dest: string }[] {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => /^COPY\s/i.test(line.trim()))
    .map((line) => {
      const args = line
        .trim()
        .split(/\s+/)
        .slice(1)
        .filter((a) => !a.startsWith('--'));
      const dest = args.pop();
      assert.ok(dest && args.length > 0, `cannot read: ${line}`);
      return { sources: args, dest };
    });
}

test('dockerCopies reads sources and destination, without flags', () => {
  assert.deepEqual(dockerCopies('FROM x\nCOPY a.json b.json ./\nCOPY --chown=node:node dbt ./dbt\nRUN true\n'), [
    { sources: ['a.json', 'b.json'], dest: './' },
    { sources: ['dbt'], dest: './dbt' },
  ]);
});

test("the Docker image's files (what the Dockerfile COPYs) run `healthsynth --help`", async () => {
  const dockerfile = await readFile(path.join(root, 'Dockerfile'), 'utf8');
  const ignored = (await readFile(path.join(root, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('!') && !/[*?]/.test(l));
  const app = await mkdtemp(path.join(os.tmpdir(), 'hs-image-'));
  try {
    const copies = dockerCopies(dockerfile);
    assert.ok(
      copies.some((c) => c.sources.includes('src')),
      'the Dockerfile no longer copies src/',
    );
    for (const { sources, dest } of copies) {
      for (const source of sources) {
        const from = path.join(root, source);
        const isDir = (await stat(from)).isDirectory();
        // Docker copies a folder's contents into dest, and a file into dest/ when dest ends with a slash.
        const to = isDir || !dest.endsWith('/') ? path.join(app, dest) : path.join(app, dest, path.basename(source));
        await mkdir(isDir ? to : path.dirname(to), { recursive: true });
        await cp(from, to, {
          recursive: true,
          filter: (file) => !ignored.some((i) => path.relative(root, file) === i),
        });
      }
    }
    // The image installs the locked packages itself (npm ci); the same packages are linked in here.
    await symlink(path.join(root, 'node_modules'), path.join(app, 'node_modules'), 'dir');
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/healthsynth.js', '--help'], {
      cwd: app,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
      timeout: 60_000,
    });
    assert.match(stdout, /^Usage: healthsynth /m);
    for (const command of ['run', 'worker', 'schedules', 'backfill', 'follow', 'status', 'notice', 'stack']) {
      assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), stdout);
    }
  } finally {
    await rm(app, { recursive: true, force: true });
  }
});
