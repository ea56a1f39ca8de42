/**
 * A delivery attempt cancelled before its request went out (a heartbeat timeout on a starved worker cancels the
 * attempt at its next heartbeat, which can land while the 'sending' intent is being written) must not leave the
 * message looking "possibly delivered": the next attempt sends it, once. Real S3 server and the local
 * Slack/Telegram receiver; the activity runs in Temporal's MockActivityEnvironment, whose cancel() is the one the
 * worker calls. The store is the real one, wrapped only to cancel the attempt right after the intent is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDeliveryActivities, deliveryKey } from '../../src/activities/delivery.js';
import { createNotifier } from '../../src/activities/notifier.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { loadConfig } from '../../src/config.js';
import type { StaffMessage } from '../../src/domain/types.js';
import { uniq } from '../support/env.js';
import { startReceiver, type Receiver } from '../support/receiver.js';

describe('a delivery cancelled before its request', () => {
  let receiver: Receiver;
  let store: ObjectStore;
  const written: string[] = [];

  before(async () => {
    receiver = await startReceiver();
    const config = loadConfig({
      ...process.env,
      SLACK_WEBHOOK_URL: receiver.slackUrl,
      TELEGRAM_BOT_TOKEN: '123456:CANCEL-test',
      TELEGRAM_STAFF_CHAT_ID: '777',
      TELEGRAM_API_ROOT: receiver.telegramApiRoot,
    });
    store = ObjectStore.fromConfig(config.s3);
    await store.ensureBucket();
    const notifier = createNotifier(config, { log: () => {} });
    activities = (s) => createDeliveryActivities({ store: s, notifier });
  });
  let activities: (s: ObjectStore) => ReturnType<typeof createDeliveryActivities>;

  after(async () => {
    await store.delete(written);
    store.client.destroy();
    await receiver.close();
  });

  for (const channel of ['slack', 'telegram'] as const) {
    test(`${channel}: nothing is sent, the record says so, and the next attempt delivers it once`, async () => {
      const text = `daily run ${uniq()}`;
      const message: StaffMessage = {
        audience: 'staff',
        scope: `test-cancel-${uniq()}`,
        name: 'pipeline-summary',
        slack: { text },
        telegram: { text },
      };
      const key = deliveryKey(message.scope, message.name, channel);
      written.push(key);
      const first = new MockActivityEnvironment();
      // The real store; the attempt is cancelled right after it writes its 'sending' intent.
      const cancelling = Object.create(store) as ObjectStore;
      cancelling.put = async (...args: Parameters<ObjectStore['put']>) => {
        const result = await store.put(...args);
        if (String(args[1]).includes('"sending"')) first.cancel('TIMED_OUT');
        return result;
      };
      const deliver = (s: ObjectStore) =>
        channel === 'slack' ? activities(s).deliverSlack(message) : activities(s).deliverTelegram(message);

      await assert.rejects(
        first.run(() => deliver(cancelling)),
        CancelledFailure,
      );
      const sent = () => receiver.requests.filter((r) => r.channel === channel).length;
      assert.equal(sent(), 0, 'the cancelled attempt sent nothing');
      const record = JSON.parse(await store.getText(key)) as { status: string; detail: string };
      assert.equal(record.status, 'retrying');
      assert.match(record.detail, /cancelled before the request was made; nothing was sent/);

      const second = (await new MockActivityEnvironment().run(() => deliver(store))) as { status: string };
      assert.equal(second.status, 'delivered');
      assert.equal(sent(), 1, 'the next attempt sent it once');
    });
  }
});
