/**
 * Outbox mode: without SLACK_WEBHOOK_URL / TELEGRAM_BOT_TOKEN / an audience's chat id, the notifier writes the
 * exact payload to `<dataDir>/outbox/` (real files on disk), one file per channel, audience and message, and says
 * plainly that nothing was delivered.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { renderDoctorRatingPng } from '../../src/activities/charts.js';
import { createNotifier } from '../../src/activities/notifier.js';
import { loadConfig } from '../../src/config.js';
import type { SlackContent } from '../../src/domain/types.js';
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

/** Environment with every channel unset (an empty value counts as unset), whatever the developer's shell holds. */
const unconfigured = (dataDir: string) =>
  loadConfig(
    {
      HEALTHSYNTH_DATA_DIR: dataDir,
      SLACK_WEBHOOK_URL: '',
      TELEGRAM_BOT_TOKEN: '',
      TELEGRAM_STAFF_CHAT_ID: '',
      TELEGRAM_PATIENT_CHAT_ID: '',
    },
    dataDir,
  );

describe('notifier outbox mode', () => {
  test('Slack: writes the exact webhook payload and logs NOT DELIVERED with the missing setting', () =>
    withOutbox(async (dataDir, lines) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: (l) => lines.push(l) });
      const content: SlackContent = {
        text: 'Pipeline 2016-11-23 failed',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*ingest* failed: CsvLoadError' } }],
      };
      assert.equal(notifier.missingSetting('slack', 'staff'), 'SLACK_WEBHOOK_URL');
      const outboxPath = await notifier.writeOutbox('slack', 'staff', 'pipeline-failed', content);
      assert.equal(path.dirname(outboxPath), path.join(dataDir, 'outbox'));
      assert.match(path.basename(outboxPath), /^\d{4}-\d\d-\d\dT[\d-]+Z-slack-staff-pipeline-failed\.json$/);
      assert.deepEqual(JSON.parse(await readFile(outboxPath, 'utf8')), content);
      assert.equal(lines.length, 1);
      assert.match(
        lines[0] ?? '',
        /^NOT DELIVERED \(no SLACK_WEBHOOK_URL set\): slack message "pipeline-failed" for staff written to /,
      );
    }));

  test('Telegram photo for staff: writes the request as JSON and the PNG beside it', () =>
    withOutbox(async (dataDir, lines) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: (l) => lines.push(l) });
      const png = await renderDoctorRatingPng(sampleDoctorRatingRows(4), '2016-11-23');
      const outboxPath = await notifier.writeOutbox('telegram', 'staff', 'doctor-rating', {
        png,
        caption: 'Doctor rating — 2016-11-23',
        filename: 'doctor-rating.png',
      });
      assert.match(path.basename(outboxPath), /-telegram-staff-doctor-rating\.json$/);
      const payload = JSON.parse(await readFile(outboxPath, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(payload, {
        method: 'sendPhoto',
        chat_id: null,
        caption: 'Doctor rating — 2016-11-23',
        photo: path.basename(outboxPath).replace(/\.json$/, '.png'),
      });
      const written = await readFile(path.join(dataDir, 'outbox', String(payload.photo)));
      assert.ok(written.equals(png), 'the PNG beside the JSON is the exact image');
      assert.match(lines[0] ?? '', /^NOT DELIVERED \(no TELEGRAM_BOT_TOKEN set\): telegram message "doctor-rating"/);
    }));

  test("patients' outbox when only the staff chat is configured: names TELEGRAM_PATIENT_CHAT_ID", () =>
    withOutbox(async (dataDir, lines) => {
      const config = loadConfig(
        { HEALTHSYNTH_DATA_DIR: dataDir, TELEGRAM_BOT_TOKEN: '123456:ABC-DEF', TELEGRAM_STAFF_CHAT_ID: '-1001' },
        dataDir,
      );
      const notifier = createNotifier(config, { log: (l) => lines.push(l) });
      assert.equal(notifier.missingSetting('telegram', 'staff'), undefined);
      assert.equal(notifier.missingSetting('telegram', 'patients'), 'TELEGRAM_PATIENT_CHAT_ID');
      const outboxPath = await notifier.writeOutbox('telegram', 'patients', 'weekend-notice', { text: 'closed' });
      assert.match(path.basename(outboxPath), /-telegram-patients-weekend-notice\.json$/);
      assert.deepEqual(JSON.parse(await readFile(outboxPath, 'utf8')), {
        method: 'sendMessage',
        chat_id: null,
        text: 'closed',
      });
      assert.match(lines[0] ?? '', /no TELEGRAM_PATIENT_CHAT_ID set.*for patients/);
    }));

  test('two messages with the same name in the same millisecond get two files', () =>
    withOutbox(async (dataDir) => {
      const notifier = createNotifier(unconfigured(dataDir), { log: () => {} });
      const paths = await Promise.all(
        ['first', 'second', 'third'].map((text) =>
          notifier.writeOutbox('telegram', 'patients', 'weekend-notice', { text }),
        ),
      );
      const files = await readdir(path.join(dataDir, 'outbox'));
      assert.equal(files.length, 3);
      const texts = await Promise.all(
        paths.map(async (p) => (JSON.parse(await readFile(p, 'utf8')) as { text: string }).text),
      );
      assert.deepEqual(texts, ['first', 'second', 'third']);
    }));
});
