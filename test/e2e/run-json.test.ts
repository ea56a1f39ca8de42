/**
 * `healthsynth run --json --follow` as a separate process with no Slack or Telegram settings: every staff message
 * goes to the outbox (per channel and audience), the NOT DELIVERED notices and the followed progress go to stderr,
 * and stdout is exactly one JSON document that a script can parse (`… --json | jq`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { PipelineSummary } from '../../src/domain/types.js';
import { freshDatabase, uniq, uniqueDate } from '../support/env.js';

test('run --json --follow prints one JSON document on stdout; progress and outbox notices go to stderr', async () => {
  const date = uniqueDate();
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/client.ts',
      'run',
      '--json',
      '--follow',
      '--date',
      date,
      '--scale',
      '100',
      '--worker',
      'always',
    ],
    {
      env: {
        ...process.env,
        TEMPORAL_TASK_QUEUE: `run-json-${uniq()}`,
        DATABASE_URL: await freshDatabase('hs_run_json_test'),
        SLACK_WEBHOOK_URL: '',
        TELEGRAM_BOT_TOKEN: '',
        TELEGRAM_STAFF_CHAT_ID: '',
        TELEGRAM_PATIENT_CHAT_ID: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  assert.equal(code, 0, `${stdout}\n${stderr}`);

  // One document on one line: JSON.parse refuses anything before or after it, and `tail -1` finds it.
  assert.equal(stdout.trimEnd().split('\n').length, 1, stdout);
  const outcome = JSON.parse(stdout) as { summary: PipelineSummary; workflowId: string };
  assert.equal(outcome.summary.runDate, date);
  // --follow's progress went to stderr as plain lines.
  assert.match(stderr, /^\d\d:\d\d:\d\d step dbt: completed/m, stderr);
  assert.match(stderr, new RegExp(`^following ${outcome.workflowId} `, 'm'), stderr);
  const notices = stderr.split('\n').filter((l) => l.startsWith('NOT DELIVERED'));
  // The chart, the cleanup note and the summary, each on Slack and the staff Telegram chat.
  assert.equal(notices.length, 6, stderr);
  assert.ok(
    notices.every((l) => / for staff written to /.test(l)),
    notices.join('\n'),
  );
  const summaryOutbox = outcome.summary.notifications.find((n) => n.channel === 'telegram');
  assert.equal(summaryOutbox?.status, 'outbox');
  assert.match(summaryOutbox?.outboxPath ?? '', /-telegram-staff-pipeline-summary\.json$/);
  const written = JSON.parse(await readFile(summaryOutbox?.outboxPath ?? '', 'utf8')) as { text: string };
  assert.match(written.text, new RegExp(`Health Synth daily run ${date}`));
});
