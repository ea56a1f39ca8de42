/**
 * `healthsynth notice`: the real command, workflow and notifier, with Telegram (the patients' chat) over
 * HTTP to a local receiver. A second call for the same date sends nothing. Each test takes a date whose notice no
 * earlier file touched: the delivery records share one bucket, and a date another file left `unknown` or
 * `delivered` sends nothing at all.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { Command } from 'commander';
import { deliveryKey } from '../../src/activities/delivery.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { registerNoticeCommands } from '../../src/cli/notice.js';
import { memoryIo } from '../../src/cli/command.js';
import type { Config } from '../../src/config.js';
import { connectClient, workflowIds } from '../../src/temporal.js';
import { installQuietRuntime } from '../../src/worker.js';
import { harness, testConfig, uniq, uniqueWeekendDate } from '../support/env.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { unusedDate, unusedWeekendNoticeDate } from '../support/workflow-runs.js';

let receiver: Receiver;
let config: Config;
let client: Client;
let store: ObjectStore;
before(async () => {
  installQuietRuntime();
  receiver = await startReceiver();
  config = testConfig({
    SLACK_WEBHOOK_URL: receiver.slackUrl,
    TELEGRAM_BOT_TOKEN: '123456:NOTICE-token',
    TELEGRAM_PATIENT_CHAT_ID: '-100999',
    TELEGRAM_API_ROOT: receiver.telegramApiRoot,
    EMERGENCY_PHONE: '+55 27 3382-0000',
  });
  client = await connectClient(config);
  store = ObjectStore.fromConfig(config.s3);
});
after(async () => {
  store?.client.destroy();
  await client?.connection.close();
  await receiver?.close();
});

const unusedNoticeDate = () => unusedWeekendNoticeDate(client, store, uniqueWeekendDate);

async function notice(date: string): Promise<ReturnType<typeof memoryIo>> {
  const io = memoryIo();
  const program = new Command().exitOverride();
  registerNoticeCommands(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', 'notice', '--date', date]);
  return io;
}

test('notice sends once per date, with the emergency number', async () => {
  const date = await unusedNoticeDate();
  const first = await notice(date);
  assert.equal(first.exitCode ?? 0, 0, first.text());
  const telegram = receiver.requests.filter((r) => r.telegramMethod === 'sendMessage');
  assert.equal(telegram.length, 1);
  assert.match(telegram[0]?.fields?.text ?? JSON.stringify(telegram[0]?.json), /\+55 27 3382-0000/);
  assert.match(first.text(), /telegram: delivered/);

  const second = await notice(date);
  assert.match(second.text(), /already sent; nothing sent again/);
  assert.equal(receiver.requests.filter((r) => r.telegramMethod === 'sendMessage').length, 1, 'no second message');
});

test('weekendNotice started twice by hand for one date (default id reuse) sends once', async () => {
  const date = await unusedNoticeDate();
  const h = await harness(config);
  try {
    const start = () =>
      h.client.workflow.execute('weekendNotice', {
        taskQueue: config.temporal.taskQueue,
        workflowId: `weekend-notice-${date}`,
        args: [{ date }],
      });
    const before = receiver.requests.filter((r) => r.telegramMethod === 'sendMessage').length;
    const first = (await start()) as { alreadySent?: boolean };
    const second = (await start()) as { alreadySent?: boolean; notifications: unknown[] };
    assert.equal(first.alreadySent, undefined);
    assert.equal(second.alreadySent, true);
    assert.deepEqual(second.notifications, []);
    assert.equal(receiver.requests.filter((r) => r.telegramMethod === 'sendMessage').length, before + 1);
  } finally {
    await h.close();
  }
});

test('a date whose notice another file left a delivery record for (no run of its id) is not taken', async () => {
  // An `unknown` record makes every run for its date send nothing: the test above failed in CI (about 1 run in 830)
  // on the Saturday deliveries.test.ts cut off mid-send. There a run of weekend-notice-<date> exists too; a notice
  // started under another workflow id (encryption.test.ts, deliveries' manual rerun) leaves only the record.
  const taken = await unusedDate(client, uniqueWeekendDate, workflowIds.weekendNotice);
  const key = deliveryKey(workflowIds.weekendNotice(taken), 'weekend-notice', 'telegram');
  await store.put(
    key,
    JSON.stringify({ status: 'unknown', workflowId: `manual-notice-${uniq()}` }),
    'application/json',
  );
  try {
    const draws = [taken];
    const date = await unusedWeekendNoticeDate(client, store, () => draws.shift() ?? uniqueWeekendDate());
    assert.notEqual(date, taken);
  } finally {
    await store.delete([key]);
  }
});
