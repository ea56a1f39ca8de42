/**
 * The notifier against real HTTP: a local receiver that answers like Slack's webhook and the Telegram Bot API,
 * including their error responses (503 + Retry-After, 429, 403 invalid_token).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { renderDoctorRatingPng } from '../../src/activities/charts.js';
import { createNotifier, type Notifier, type NotifierOptions } from '../../src/activities/notify.js';
import { loadConfig } from '../../src/config.js';
import type { SlackMessage } from '../../src/domain/types.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';
import { startReceiver, type Receiver } from '../support/receiver.js';

const BOT_TOKEN = '123456:TEST-receiver-token';
const CHAT_ID = '-100424242';

interface Harness {
  receiver: Receiver;
  notifier: Notifier;
  /** Every line the notifier logged or warned, to check that secrets never leak. */
  lines: string[];
}

/** A fresh receiver and notifier per test (unique port, no shared request log); closed in finally. */
async function withHarness(fn: (h: Harness) => Promise<void>, retry: NotifierOptions['retry'] = {}): Promise<void> {
  const receiver = await startReceiver();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-notify-'));
  const lines: string[] = [];
  try {
    const config = loadConfig(
      {
        HEALTHSYNTH_DATA_DIR: dataDir,
        SLACK_WEBHOOK_URL: receiver.slackUrl,
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        TELEGRAM_CHAT_ID: CHAT_ID,
        TELEGRAM_API_ROOT: receiver.telegramApiRoot,
      },
      dataDir,
    );
    const notifier = createNotifier(config, {
      // A short base backoff: a test that waits about a second proves the server's Retry-After was honoured.
      retry: { baseDelayMs: 50, maxDelayMs: 5_000, ...retry },
      log: (l) => lines.push(l),
      warn: (l) => lines.push(l),
    });
    await fn({ receiver, notifier, lines });
    for (const line of lines) {
      assert.ok(!line.includes(BOT_TOKEN), `token leaked: ${line}`);
      assert.ok(!line.includes(receiver.slackUrl), `webhook URL leaked: ${line}`);
    }
  } finally {
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const message = (id: string): SlackMessage => ({
  name: 'doctor-rating',
  text: `Doctor rating ${id}`,
  blocks: [
    { type: 'header', text: { type: 'plain_text', text: `Doctor rating ${id}` } },
    { type: 'section', text: { type: 'mrkdwn', text: '*Top doctor:* Dr. Ana Souza (score 92.4)' } },
    { type: 'image', image_url: `https://reports.example.com/${id}.png`, alt_text: 'chart' },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `run ${id}` }] },
  ],
});

const uid = () => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

describe('notifier over HTTP', () => {
  test('Slack: posts the Block Kit payload as JSON to the webhook', () =>
    withHarness(async ({ receiver, notifier }) => {
      const id = uid();
      const result = await notifier.slack(message(id));
      assert.equal(result.status, 'delivered');
      assert.equal(result.channel, 'slack');
      assert.equal(receiver.requests.length, 1);
      const req = receiver.requests[0];
      assert.ok(req);
      assert.equal(req.method, 'POST');
      assert.equal(req.channel, 'slack');
      assert.match(String(req.headers['content-type']), /application\/json/);
      const body = req.json as { text: string; blocks: Array<{ type: string; image_url?: string }> };
      assert.equal(body.text, `Doctor rating ${id}`);
      assert.deepEqual(
        body.blocks.map((b) => b.type),
        ['header', 'section', 'image', 'context'],
      );
      assert.equal(body.blocks[2]?.image_url, `https://reports.example.com/${id}.png`);
    }));

  test('Telegram: sendPhoto uploads the exact PNG bytes with the caption', () =>
    withHarness(async ({ receiver, notifier }) => {
      const png = await renderDoctorRatingPng(sampleDoctorRatingRows(5), '2026-11-23');
      const caption = `Doctor rating ${uid()}`;
      const result = await notifier.telegramPhoto(png, caption, 'doctor-rating');
      assert.equal(result.status, 'delivered', result.detail);
      assert.equal(receiver.requests.length, 1);
      const req = receiver.requests[0];
      assert.ok(req);
      assert.equal(req.telegramMethod, 'sendPhoto');
      assert.equal(req.telegramToken, BOT_TOKEN);
      assert.equal(req.fields?.chat_id, CHAT_ID);
      assert.equal(req.fields?.caption, caption);
      const photo = req.files?.photo;
      assert.ok(photo, 'a photo part');
      assert.equal(photo.filename, 'doctor-rating.png');
      assert.ok(photo.bytes.equals(png), 'uploaded bytes equal the PNG');
    }));

  test('Telegram: sendMessage sends the text', () =>
    withHarness(async ({ receiver, notifier }) => {
      const text = `Clinics are closed this weekend ${uid()}`;
      const result = await notifier.telegramText(text, 'weekend-notice');
      assert.equal(result.status, 'delivered');
      const req = receiver.requests[0];
      assert.equal(req?.telegramMethod, 'sendMessage');
      assert.deepEqual(req?.json, { chat_id: CHAT_ID, text });
    }));

  test('Slack: 503 with Retry-After: 1 is retried after the server-given wait and then delivered', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 1, { status: 503, retryAfter: 1 });
      const result = await notifier.slack(message(uid()));
      assert.equal(result.status, 'delivered');
      assert.match(result.detail ?? '', /after 2 attempts/);
      assert.deepEqual(
        receiver.requests.map((r) => r.status),
        [503, 200],
      );
      const [first, second] = receiver.requests;
      assert.ok(first && second);
      const waited = second.receivedAt - first.receivedAt;
      // Backoff alone would be 50 ms; Retry-After asked for 1 s.
      assert.ok(waited >= 950, `waited ${waited} ms`);
      assert.deepEqual(second.json, first.json, 'the same payload is resent');
    }));

  test('Slack: 429 rate_limited is retried (the library alone would not) and then delivered', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 2, { status: 429, retryAfter: 0 });
      const result = await notifier.slack(message(uid()));
      assert.equal(result.status, 'delivered');
      assert.deepEqual(
        receiver.requests.map((r) => r.status),
        [429, 429, 200],
      );
    }));

  test('Slack: 403 invalid_token is not retried: exactly one request, status failed with the reason', () =>
    withHarness(async ({ receiver, notifier, lines }) => {
      receiver.failNext('slack', 1, { status: 403, error: 'invalid_token' });
      const result = await notifier.slack(message(uid()));
      assert.equal(result.status, 'failed');
      assert.match(result.detail ?? '', /HTTP 403 invalid_token \(not retried\)/);
      assert.equal(receiver.requests.length, 1);
      assert.ok(
        lines.some((l) => l.includes('invalid_token')),
        'the failure is logged',
      );
    }));

  test('Slack: 404 channel_not_found is not retried', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 1, { status: 404 });
      const result = await notifier.slack(message(uid()));
      assert.equal(result.status, 'failed');
      assert.match(result.detail ?? '', /channel_not_found/);
      assert.equal(receiver.requests.length, 1);
    }));

  test('Slack: a persistent 503 gives up after maxAttempts and resolves as failed (never throws)', () =>
    withHarness(
      async ({ receiver, notifier }) => {
        receiver.failNext('slack', 10, { status: 503 });
        const result = await notifier.slack(message(uid()));
        assert.equal(result.status, 'failed');
        assert.match(result.detail ?? '', /gave up after 3 attempts: HTTP 503/);
        assert.equal(receiver.requests.length, 3);
      },
      { maxAttempts: 3 },
    ));

  test('Telegram: 429 with parameters.retry_after is retried after that wait', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('telegram', 1, { status: 429, retryAfter: 1 });
      const result = await notifier.telegramText(`hello ${uid()}`);
      assert.equal(result.status, 'delivered');
      const [first, second] = receiver.requests;
      assert.ok(first && second);
      assert.equal(first.status, 429);
      assert.equal(second.status, 200);
      assert.ok(second.receivedAt - first.receivedAt >= 950, `waited ${second.receivedAt - first.receivedAt} ms`);
    }));

  test('Telegram: a 502 is retried; sendPhoto resends the same bytes', () =>
    withHarness(async ({ receiver, notifier }) => {
      const png = await renderDoctorRatingPng(sampleDoctorRatingRows(3), '2026-11-24');
      receiver.failNext('telegram', 1, { status: 502 });
      const result = await notifier.telegramPhoto(png, 'retry me');
      assert.equal(result.status, 'delivered');
      assert.equal(receiver.requests.length, 2);
      assert.ok(receiver.requests[1]?.files?.photo?.bytes.equals(png));
    }));

  test('Telegram: 403 (bot blocked) is not retried', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('telegram', 1, { status: 403 });
      const result = await notifier.telegramText(`hello ${uid()}`);
      assert.equal(result.status, 'failed');
      assert.match(result.detail ?? '', /403 Forbidden: bot was blocked by the user/);
      assert.equal(receiver.requests.length, 1);
    }));

  test('an unreachable endpoint is retried as a network error and ends failed, without leaking secrets', async () => {
    // Take a free port, then close it so connections are refused.
    const gone = await startReceiver();
    await gone.close();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-notify-'));
    const lines: string[] = [];
    try {
      const notifier = createNotifier(
        loadConfig(
          {
            SLACK_WEBHOOK_URL: gone.slackUrl,
            TELEGRAM_BOT_TOKEN: BOT_TOKEN,
            TELEGRAM_CHAT_ID: CHAT_ID,
            TELEGRAM_API_ROOT: gone.telegramApiRoot,
          },
          dataDir,
        ),
        { retry: { maxAttempts: 2, baseDelayMs: 10 }, log: (l) => lines.push(l), warn: (l) => lines.push(l) },
      );
      const [slack, telegram] = await Promise.all([notifier.slack(message(uid())), notifier.telegramText('hi')]);
      assert.equal(slack.status, 'failed');
      assert.match(slack.detail ?? '', /gave up after 2 attempts: request failed/);
      assert.equal(telegram.status, 'failed');
      assert.match(telegram.detail ?? '', /gave up after 2 attempts: request failed/);
      for (const text of [...lines, slack.detail ?? '', telegram.detail ?? '']) {
        assert.ok(!text.includes(BOT_TOKEN), `token leaked: ${text}`);
        assert.ok(!text.includes(gone.slackUrl), `webhook URL leaked: ${text}`);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
