/**
 * `healthsynth notice`: the real command, workflow and notifier, with Telegram (the patients' chat) over
 * HTTP to a local receiver. A second call for the same date sends nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { registerNoticeCommands } from '../../src/cli/notice.js';
import { memoryIo } from '../../src/cli/command.js';
import type { Config } from '../../src/config.js';
import { installQuietRuntime } from '../../src/worker.js';
import { harness, testConfig, uniqueWeekendDate } from '../support/env.js';
import { startReceiver, type Receiver } from '../support/receiver.js';

let receiver: Receiver;
let config: Config;
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
});
after(async () => {
  await receiver.close();
});

async function notice(date: string): Promise<ReturnType<typeof memoryIo>> {
  const io = memoryIo();
  const program = new Command().exitOverride();
  registerNoticeCommands(program, { io, config: () => config });
  await program.parseAsync(['node', 'healthsynth', 'notice', '--date', date]);
  return io;
}

test('notice sends once per date, with the emergency number', async () => {
  const date = uniqueWeekendDate();
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
  const date = uniqueWeekendDate();
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
