/**
 * The README is the map of the code: every relative link in it must lead to a file or folder that
 * exists, so a renamed or moved file cannot leave a README row pointing nowhere.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/stack/toolchain.js';

/** Relative link targets of a Markdown text: `[text](target)`, without #anchors or external URLs. */
export function relativeLinks(markdown: string): string[] {
  const targets = [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  return targets.filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#')).map((t) => t.split('#')[0]!);
}

test('relativeLinks finds relative targets and skips URLs and anchors', () => {
  const md = '[a](src/a.ts) [b](https://x.org) [c](#tests) [d](dbt/models#x) `[e](not/code)`';
  assert.deepEqual(relativeLinks(md), ['src/a.ts', 'dbt/models', 'not/code']);
});

test('every relative link in README.md leads to a file or folder that exists', () => {
  const links = relativeLinks(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
  assert.ok(
    links.length >= 30,
    `README.md links ${links.length} files; the map should link every command, workflow and activity group`,
  );
  const missing = links.filter((l) => !existsSync(path.join(REPO_ROOT, l)));
  assert.deepEqual(missing, [], `README.md links files that do not exist: ${missing.join(', ')}`);
});
