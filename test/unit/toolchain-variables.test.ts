/**
 * A tool's variable is the user's choice: a set variable that does not point at a working tool fails with the
 * variable, its value and what to do, and is never replaced by another tool (toolFromVariable in
 * src/stack/toolchain/common.ts). A working one is used as given, as an absolute path.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ensureDbt, ensurePostgresBinaries, ensureTemporalCli, ToolchainError } from '../../src/stack/toolchain.js';
import { toolFromVariable } from '../../src/stack/toolchain/common.js';

const missing = path.join(os.tmpdir(), 'hs-no-such-tool', 'bin');
const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...process.env, ...extra });

describe('tool variables', () => {
  test('DBT_BIN, PG_BIN_DIR and TEMPORAL_CLI that do not work fail naming the variable, value and remedy', async () => {
    await assert.rejects(ensureDbt({ env: env({ DBT_BIN: missing }), noInstall: true }), (err: unknown) => {
      assert.ok(err instanceof ToolchainError);
      assert.equal(err.message, `dbt: DBT_BIN=${missing} does not run. Point DBT_BIN at a working dbt, or unset it`);
      return true;
    });
    await assert.rejects(ensurePostgresBinaries({ env: env({ PG_BIN_DIR: missing }), noInstall: true }), (err) => {
      assert.ok(err instanceof ToolchainError);
      assert.equal(
        err.message,
        `PostgreSQL: PG_BIN_DIR=${missing} does not hold initdb, pg_ctl and postgres. ` +
          'Point PG_BIN_DIR at the server bin folder (e.g. /usr/lib/postgresql/16/bin) or unset it',
      );
      return true;
    });
    await assert.rejects(ensureTemporalCli({ env: env({ TEMPORAL_CLI: missing }), noInstall: true }), (err) => {
      assert.ok(err instanceof ToolchainError);
      assert.match(
        err.message,
        new RegExp(`TEMPORAL_CLI=${missing} does not run \\(\`${missing} --version\` failed\\)`),
      );
      assert.match(
        err.message,
        /Point TEMPORAL_CLI at a working temporal binary, or unset it to use the cached build$/,
      );
      return true;
    });
  });

  test('an unset variable gives undefined; a working one its absolute path', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hs-tool-var-'));
    try {
      const spec = { tool: 't', variable: 'HS_TOOL', works: async () => true, problem: 'x', remedy: 'y' };
      assert.equal(await toolFromVariable({}, spec), undefined);
      const relative = path.relative(process.cwd(), dir);
      assert.equal(await toolFromVariable({ HS_TOOL: relative }, spec), dir);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
