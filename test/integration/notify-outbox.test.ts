/**
 * Outbox mode: with no SLACK_WEBHOOK_URL / TELEGRAM_BOT_TOKEN the notifier writes the exact payload to
 * `<dataDir>/outbox/` (real files on disk) and says plainly that nothing was delivered.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { renderDoctorRatingPng } from '../../src/activities/charts.js';
import { createNotifier } from '../../src/activities/notify.js';
import { loadConfig } from '../../src/config.js';
import type { SlackMessage } from '../../src/domain/types.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';

async function withOutbox(fn: (dataDir: string, lines: string[]) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-outbox-'));
  const lines: string[] = [];
  try {
    await fn(dataDir, lines);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Environment with both channels unset (an empty value counts as unset), whatever the developer's shell holds. */
const unconfigured = (dataDir: string) =>
  loadConfig(
    { HEALTHSYNTH_DATA_DIR: dataDir, SLACK_WEBHOOK_URL: '', TELEGRAM_BOT_TOKEN: '', TELEGRAM_CHAT_ID: '' },
    dataDir,
  );

describe('notifier outbox mode', () => {
  test('Slack: writes the exact webhook payload and logs NOT DELIVERED', () =>
    withOutbox(async (dataDir, lines) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: (l) => lines.push(l), warn: (l) => lines.push(l) });
      const message: SlackMessage = {
        name: 'pipeline-failed',
        text: 'Pipeline 2026-11-23 failed',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*ingest-patients* failed: disk full' } }],
      };
      const result = await notifier.slack(message);
      assert.equal(result.status, 'outbox');
      assert.equal(result.channel, 'slack');
      assert.ok(result.outboxPath);
      assert.equal(path.dirname(result.outboxPath), path.join(dataDir, 'outbox'));
      assert.match(path.basename(result.outboxPath), /^\d{4}-\d\d-\d\dT[\d-]+Z-slack-pipeline-failed\.json$/);
      assert.deepEqual(JSON.parse(await readFile(result.outboxPath, 'utf8')), {
        text: message.text,
        blocks: message.blocks,
      });
      assert.equal(lines.length, 1);
      assert.match(
        lines[0] ?? '',
        /^NOT DELIVERED \(no SLACK_WEBHOOK_URL set\): slack message "pipeline-failed" written to /,
      );
    }));

  test('Telegram photo: writes the request as JSON and the PNG beside it', () =>
    withOutbox(async (dataDir, lines) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: (l) => lines.push(l) });
      const png = await renderDoctorRatingPng(sampleDoctorRatingRows(4), '2026-11-23');
      const result = await notifier.telegramPhoto(png, 'Doctor rating — 2026-11-23', 'doctor-rating');
      assert.equal(result.status, 'outbox');
      assert.ok(result.outboxPath);
      const payload = JSON.parse(await readFile(result.outboxPath, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(payload, {
        method: 'sendPhoto',
        chat_id: null,
        caption: 'Doctor rating — 2026-11-23',
        photo: path.basename(result.outboxPath).replace(/\.json$/, '.png'),
      });
      const written = await readFile(path.join(dataDir, 'outbox', String(payload.photo)));
      assert.ok(written.equals(png), 'the PNG beside the JSON is the exact image');
      assert.match(lines[0] ?? '', /^NOT DELIVERED \(no TELEGRAM_BOT_TOKEN set\): telegram message "doctor-rating"/);
    }));

  test('two messages with the same name in the same millisecond get two files', () =>
    withOutbox(async (dataDir) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: () => {} });
      const results = await Promise.all([
        notifier.telegramText('first', 'weekend-notice'),
        notifier.telegramText('second', 'weekend-notice'),
        notifier.telegramText('third', 'weekend-notice'),
      ]);
      const files = await readdir(path.join(dataDir, 'outbox'));
      assert.equal(files.length, 3);
      const texts = await Promise.all(
        results.map(async (r) => (JSON.parse(await readFile(r.outboxPath ?? '', 'utf8')) as { text: string }).text),
      );
      assert.deepEqual(texts, ['first', 'second', 'third']);
    }));

  test('only the configured channel is delivered; the other goes to the outbox', () =>
    withOutbox(async (dataDir, lines) => {
      // Slack configured at an address that refuses connections; Telegram not configured.
      const config = loadConfig(
        {
          HEALTHSYNTH_DATA_DIR: dataDir,
          SLACK_WEBHOOK_URL: 'http://127.0.0.1:1/services/T/B/x',
          TELEGRAM_BOT_TOKEN: '',
        },
        dataDir,
      );
      const notifier = createNotifier(config, {
        retry: { maxAttempts: 1 },
        log: (l) => lines.push(l),
        warn: (l) => lines.push(l),
      });
      const [slack, telegram] = await Promise.all([
        notifier.slack({ name: 'x', text: 'x' }),
        notifier.telegramText('x'),
      ]);
      assert.equal(slack.status, 'failed');
      assert.equal(telegram.status, 'outbox');
      assert.ok(!lines.some((l) => l.includes('/services/T/B/x')), 'the webhook URL is never logged');
    }));
});
