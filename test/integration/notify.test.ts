/**
 * The Slack/Telegram transport against real HTTP: a local receiver that answers like Slack's webhook and the
 * Telegram Bot API, including their error responses. Every call makes exactly one request (retries are
 * Temporal's job) and classifies a failure: refused for good, retryable with the server's wait, or ambiguous.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { renderDoctorRatingPng } from '../../src/activities/charts.js';
import {
  createNotifier,
  DeliveryError,
  slackBlocksFor,
  type DeliveryFailureKind,
  type Notifier,
} from '../../src/activities/notifier.js';
import { loadConfig } from '../../src/config.js';
import type { SlackContent } from '../../src/domain/types.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';
import { chatIdOf, startReceiver, type Receiver } from '../support/receiver.js';

const BOT_TOKEN = '123456:TEST-receiver-token';
const STAFF_CHAT = '-100424242';
const PATIENT_CHAT = '-100777777';

interface Harness {
  receiver: Receiver;
  notifier: Notifier;
}

/** A fresh receiver and notifier per test (unique port, no shared request log); closed in finally. */
async function withHarness(fn: (h: Harness) => Promise<void>, timeoutMs?: number): Promise<void> {
  const receiver = await startReceiver();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-notify-'));
  try {
    const config = loadConfig(
      {
        HEALTHSYNTH_DATA_DIR: dataDir,
        SLACK_WEBHOOK_URL: receiver.slackUrl,
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        TELEGRAM_STAFF_CHAT_ID: STAFF_CHAT,
        TELEGRAM_PATIENT_CHAT_ID: PATIENT_CHAT,
        TELEGRAM_API_ROOT: receiver.telegramApiRoot,
      },
      dataDir,
    );
    await fn({ receiver, notifier: createNotifier(config, timeoutMs ? { timeoutMs } : {}) });
  } finally {
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const message = (id: string): SlackContent => ({
  text: `Doctor rating ${id}`,
  blocks: [
    { type: 'header', text: { type: 'plain_text', text: `Doctor rating ${id}` } },
    { type: 'section', text: { type: 'mrkdwn', text: '*Top doctor:* Dr. Ana Souza (score 92.4)' } },
    { type: 'image', image_url: `https://reports.example.com/${id}.png`, alt_text: 'chart' },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `run ${id}` }] },
  ],
});

const uid = () => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** Runs `send`, expecting a DeliveryError of `kind`; returns it. */
async function failure(send: Promise<void>, kind: DeliveryFailureKind): Promise<DeliveryError> {
  try {
    await send;
  } catch (err) {
    assert.ok(err instanceof DeliveryError, `expected DeliveryError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.ok(!err.message.includes(BOT_TOKEN), `token leaked: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ${kind} DeliveryError`);
}

describe('notifier over HTTP: one request per call', () => {
  test('Slack: posts the Block Kit payload as JSON to the webhook', () =>
    withHarness(async ({ receiver, notifier }) => {
      const id = uid();
      await notifier.sendSlack(message(id));
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

  test('Telegram: staff photos go to the staff chat, patient texts to the patients chat', () =>
    withHarness(async ({ receiver, notifier }) => {
      const png = await renderDoctorRatingPng(sampleDoctorRatingRows(5), '2016-11-23');
      const caption = `Doctor rating ${uid()}`;
      await notifier.sendTelegram('staff', { png, caption, filename: 'doctor-rating.png' });
      const text = `Clinics are closed this weekend ${uid()}`;
      await notifier.sendTelegram('patients', { text });

      assert.equal(receiver.requests.length, 2);
      const [photoReq, textReq] = receiver.requests;
      assert.equal(photoReq?.telegramMethod, 'sendPhoto');
      assert.equal(photoReq?.telegramToken, BOT_TOKEN);
      assert.equal(chatIdOf(photoReq!), STAFF_CHAT);
      assert.equal(photoReq?.fields?.caption, caption);
      const photo = photoReq?.files?.photo;
      assert.ok(photo, 'a photo part');
      assert.equal(photo.filename, 'doctor-rating.png');
      assert.ok(photo.bytes.equals(png), 'uploaded bytes equal the PNG');
      assert.equal(textReq?.telegramMethod, 'sendMessage');
      assert.deepEqual(textReq?.json, { chat_id: PATIENT_CHAT, text });
    }));

  test('Slack: 503 is a retryable server error after ONE request (no retry inside the notifier)', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 1, { status: 503 });
      const err = await failure(notifier.sendSlack(message(uid())), 'server-error');
      assert.equal(err.httpStatus, 503);
      assert.equal(err.retryable, true);
      assert.match(err.message, /HTTP 503 service_unavailable/);
      assert.deepEqual(
        receiver.requests.map((r) => r.status),
        [503],
      );
    }));

  test("Slack: 429 is rate-limited, with the server's Retry-After as the next wait", () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 1, { status: 429, retryAfter: 7 });
      const err = await failure(notifier.sendSlack(message(uid())), 'rate-limited');
      assert.equal(err.retryAfterMs, 7_000);
      assert.equal(err.retryable, true);
      assert.equal(receiver.requests.length, 1);
    }));

  test('Slack: 403 invalid_token and 404 channel_not_found are refused for good', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('slack', 1, { status: 403, error: 'invalid_token' });
      receiver.failNext('slack', 1, { status: 404 });
      const forbidden = await failure(notifier.sendSlack(message(uid())), 'rejected');
      assert.equal(forbidden.retryable, false);
      assert.equal(forbidden.httpStatus, 403);
      assert.match(forbidden.message, /HTTP 403 invalid_token/);
      const gone = await failure(notifier.sendSlack(message(uid())), 'rejected');
      assert.match(gone.message, /channel_not_found/);
      assert.equal(receiver.requests.length, 2);
    }));

  test('Telegram: 429 carries parameters.retry_after as the next wait; 502 retryable; 403 refused', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.failNext('telegram', 1, { status: 429, retryAfter: 30 });
      receiver.failNext('telegram', 1, { status: 502 });
      receiver.failNext('telegram', 1, { status: 403 });
      const limited = await failure(notifier.sendTelegram('patients', { text: 'a' }), 'rate-limited');
      assert.equal(limited.retryAfterMs, 30_000);
      assert.equal(limited.httpStatus, 429);
      const bad = await failure(notifier.sendTelegram('patients', { text: 'b' }), 'server-error');
      assert.equal(bad.httpStatus, 502);
      const blocked = await failure(notifier.sendTelegram('staff', { text: 'c' }), 'rejected');
      assert.match(blocked.message, /403 Forbidden: bot was blocked by the user/);
      assert.equal(receiver.requests.length, 3);
    }));

  test('every request goes on a connection of its own: none is sent on an idle keep-alive connection', () =>
    // A server closes an idle keep-alive connection after a few seconds; a request written to it just then fails
    // with ECONNRESET, which delivery takes for "may have arrived" and never sends again (the staff summary was
    // lost that way in CI). Two of each kind of request, back to back, as a run's chart and summary are sent.
    withHarness(async ({ receiver, notifier }) => {
      const png = Buffer.from('not really a png');
      for (let i = 0; i < 2; i++) {
        await notifier.sendSlack({ text: `summary ${i}` });
        await notifier.sendTelegram('staff', { text: `summary ${i}` });
        await notifier.sendTelegram('staff', { png, caption: `chart ${i}`, filename: 'chart.png' });
        await notifier.sendTelegramChat('42', { text: `reminder ${i}` });
      }
      assert.equal(receiver.requests.length, 8);
      const ports = receiver.requests.map((r) => r.remotePort);
      assert.equal(new Set(ports).size, 8, `client ports ${ports.join(', ')}: a connection was reused`);
      // Slack's fetch says so too (telegraf always writes `connection: keep-alive`; its agent closes anyway).
      assert.deepEqual(
        receiver.requests.filter((r) => r.channel === 'slack').map((r) => r.headers.connection),
        ['close', 'close'],
      );
    }));

  test('no answer within the timeout is ambiguous: the message may have arrived', () =>
    withHarness(async ({ receiver, notifier }) => {
      receiver.hangNext('slack', 1);
      receiver.hangNext('telegram', 1);
      const slack = await failure(notifier.sendSlack(message(uid())), 'ambiguous');
      assert.equal(slack.retryable, false);
      assert.match(slack.message, /no answer within 0.5 s/);
      await failure(notifier.sendTelegram('staff', { text: 'x' }), 'ambiguous');
      assert.equal(receiver.requests.length, 2, 'both requests arrived, neither was answered');
    }, 500));

  test('an unreachable endpoint (connection refused) is retryable, and no secret leaks', async () => {
    // Take a free port, then close it so connections are refused.
    const gone = await startReceiver();
    await gone.close();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-notify-'));
    try {
      const notifier = createNotifier(
        loadConfig(
          {
            SLACK_WEBHOOK_URL: gone.slackUrl,
            TELEGRAM_BOT_TOKEN: BOT_TOKEN,
            TELEGRAM_STAFF_CHAT_ID: STAFF_CHAT,
            TELEGRAM_API_ROOT: gone.telegramApiRoot,
          },
          dataDir,
        ),
      );
      const slack = await failure(notifier.sendSlack(message(uid())), 'unreachable');
      const telegram = await failure(notifier.sendTelegram('staff', { text: 'hi' }), 'unreachable');
      for (const err of [slack, telegram]) {
        assert.equal(err.retryable, true);
        assert.match(err.message, /ECONNREFUSED/);
        assert.ok(!err.message.includes(gone.slackUrl), `webhook URL leaked: ${err.message}`);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('missingSetting names what each audience lacks; Slack never serves patients', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hs-notify-'));
    try {
      const staffOnly = createNotifier(
        loadConfig(
          {
            SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x',
            TELEGRAM_BOT_TOKEN: BOT_TOKEN,
            TELEGRAM_STAFF_CHAT_ID: STAFF_CHAT,
          },
          dataDir,
        ),
      );
      assert.equal(staffOnly.missingSetting('slack', 'staff'), undefined);
      assert.equal(staffOnly.missingSetting('telegram', 'staff'), undefined);
      assert.equal(staffOnly.missingSetting('telegram', 'patients'), 'TELEGRAM_PATIENT_CHAT_ID');
      assert.match(staffOnly.missingSetting('slack', 'patients') ?? '', /Slack is for staff only/);
      const nothing = createNotifier(loadConfig({}, dataDir));
      assert.equal(nothing.missingSetting('slack', 'staff'), 'SLACK_WEBHOOK_URL');
      assert.equal(nothing.missingSetting('telegram', 'patients'), 'TELEGRAM_BOT_TOKEN');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('Slack image blocks', () => {
  test('an image Slack could not fetch (private URL) is dropped for a public webhook, kept for a local one', () => {
    const content: SlackContent = {
      text: 'chart',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '<http://127.0.0.1:9100/x.png|Open the chart>' } },
        {
          type: 'image',
          image_url: 'http://127.0.0.1:9100/healthsynth/reports/x.png?X-Amz-Signature=abc',
          alt_text: 'c',
        },
      ],
    };
    const types = (blocks: SlackContent['blocks']) => blocks?.map((b) => b.type);
    assert.deepEqual(types(slackBlocksFor(content, 'https://hooks.slack.com/services/T/B/x')), ['section']);
    assert.deepEqual(types(slackBlocksFor(content, 'http://127.0.0.1:4000/services/T/B/x')), ['section', 'image']);
    const publicImage = {
      ...content,
      blocks: [{ type: 'image', image_url: 'https://bucket.s3.amazonaws.com/x.png', alt_text: 'c' }],
    };
    assert.deepEqual(types(slackBlocksFor(publicImage, 'https://hooks.slack.com/services/T/B/x')), ['image']);
  });
});
