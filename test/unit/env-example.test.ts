/**
 * .env.example documents every setting src/config.ts reads, and nothing it doesn't.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_ENV_NAMES } from '../../src/config.js';

test('.env.example lists exactly the settings config.ts reads (plus compose-only secrets)', () => {
  const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const documented = new Set([...text.matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1] as string));
  const missing = CONFIG_ENV_NAMES.filter((n) => !documented.has(n));
  assert.deepEqual(missing, [], `settings missing from .env.example: ${missing.join(', ')}`);
  const unknown = [...documented].filter((n) => !CONFIG_ENV_NAMES.includes(n) && !n.startsWith('STACK_'));
  assert.deepEqual(unknown, [], `.env.example documents settings config.ts does not read: ${unknown.join(', ')}`);
});
