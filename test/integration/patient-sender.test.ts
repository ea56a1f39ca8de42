/**
 * sendPatientMessage on the real stack: the stack's Telegram emulator (with its 403 and 429 faults), the warehouse's
 * raw.patient_contacts, the object store's delivery records, and Temporal's retry policy for 429.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createNotifier, type Notifier } from '../../src/activities/notifier.js';
import { createPatientSenderActivities, patientDeliveryKey } from '../../src/activities/patient-sender.js';
import { ObjectStore } from '../../src/activities/storage.js';
import { parseCallbackData } from '../../src/bot/callback-data.js';
import { createContactStore, type ContactStore } from '../../src/bot/contacts.js';
import { callbackAnswers, control, SimulatedPatient } from '../../src/bot/simulator.js';
import type { SentMessage } from '../../src/stack/telegram-emulator.js';
import type { Config } from '../../src/config.js';
import { connectClient } from '../../src/temporal.js';
import { testConfig, uniq } from '../support/env.js';

const SECRET = `sender-link-secret-${'y'.repeat(24)}`;

describe('sendPatientMessage', () => {
  let config: Config;
  let emulatorUrl: string;
  let botToken: string;
  let store: ObjectStore;
  let contacts: ContactStore;
  let sender: ReturnType<typeof createPatientSenderActivities>;
  let client: Client;
  let worker: Worker;
  let workerRun: Promise<void>;
  const base = randomInt(1, 1_000_000) * 1000 + 5_000_000_000;
  const scope = `test-${uniq()}`;

  before(async () => {
    botToken = `${randomInt(100_000, 999_999)}:sender-test-${uniq()}`;
    emulatorUrl = `http://127.0.0.1:${testConfig().localPorts.telegram}`;
    config = testConfig({ TELEGRAM_API_ROOT: emulatorUrl, TELEGRAM_BOT_TOKEN: botToken, TELEGRAM_LINK_SECRET: SECRET });
    store = ObjectStore.fromConfig(config.s3);
    await store.ensureBucket();
    contacts = createContactStore(config);
    await contacts.ensureTable();
    const notifier = createNotifier(config, { log: () => undefined });
    sender = createPatientSenderActivities({ config, store, notifier, contacts });
    client = await connectClient(config);
    worker = await Worker.create({
      connection: await NativeConnection.connect({ address: config.temporal.address }),
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowsPath: fileURLToPath(new URL('../support/answer-workflows.ts', import.meta.url)),
      activities: sender,
    });
    workerRun = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await workerRun;
    await client?.connection.close();
    await contacts?.close();
  });

  const linked = async (n: number) => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + n);
    await contacts.link(p.patientId, String(p.chatId));
    return p;
  };
  const reminder = (p: SimulatedPatient, name: string) => ({
    scope,
    name,
    patientId: p.patientId,
    text: 'Lembrete: consulta amanhã às 09:00.',
    buttons: {
      kind: 'r' as const,
      appointmentId: base + 1,
      options: [
        { action: 'confirm', label: 'Confirmar' },
        { action: 'cancel', label: 'Cancelar' },
      ],
    },
  });

  test('sends once, with buttons signed for the patient’s chat; a second call finds the record and sends nothing', async () => {
    const p = await linked(1);
    assert.deepEqual(await sender.sendPatientMessage(reminder(p, 'once')), { status: 'delivered' });
    const again = await sender.sendPatientMessage(reminder(p, 'once'));
    assert.equal(again.status, 'delivered');
    assert.equal(again.alreadyDelivered, true);
    const sent = await p.messages();
    assert.equal(sent.length, 1);
    const buttons = await p.buttons();
    assert.deepEqual(
      buttons.map((b) => parseCallbackData(b, p.chatId, SECRET)?.action),
      ['confirm', 'cancel'],
    );
    assert.equal(parseCallbackData(buttons[0]!, p.chatId + 1, SECRET), undefined, 'not valid in another chat');
  });

  test('not linked and opted out send nothing', async () => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + 2);
    assert.deepEqual(await sender.sendPatientMessage(reminder(p, 'unlinked')), { status: 'not-linked' });
    const q = await linked(3);
    await contacts.optOutPatient(q.patientId);
    assert.deepEqual(await sender.sendPatientMessage(reminder(q, 'opted-out')), { status: 'opted-out' });
    assert.equal((await q.messages()).length, 0);
  });

  test('403 "bot was blocked" marks the patient opted out, without a retry', async () => {
    const p = await linked(4);
    await p.block();
    const result = await sender.sendPatientMessage(reminder(p, 'blocked'));
    assert.equal(result.status, 'blocked');
    assert.ok((await contacts.byPatient(p.patientId))?.optedOutAt instanceof Date);
    const rec = JSON.parse(await store.getText(patientDeliveryKey(scope, 'blocked'))) as { status: string };
    assert.equal(rec.status, 'failed');
    await p.block(false);
  });

  test('429 waits retry_after through Temporal’s retry policy, then delivers once', async () => {
    const p = await linked(5);
    await control(emulatorUrl, 'faults', { chatId: p.chatId, rateLimit: { count: 1, retryAfter: 2 } });
    const t0 = Date.now();
    const result = await client.workflow.execute('sendOnePatientMessage', {
      taskQueue: config.temporal.taskQueue,
      workflowId: `send-429-${uniq()}`,
      args: [reminder(p, 'rate-limited')],
    });
    const elapsed = Date.now() - t0;
    assert.deepEqual(result, { status: 'delivered' });
    assert.ok(elapsed >= 2000, `retried after ${elapsed} ms, Telegram asked for 2 s`);
    assert.equal((await p.messages()).length, 1);
    const rec = JSON.parse(await store.getText(patientDeliveryKey(scope, 'rate-limited'))) as { attempt: number };
    assert.equal(rec.attempt, 2);
  });

  /** A sender whose notifier notes when each request to Telegram starts, and whose object-store writes take 0 or 400 ms in turn. */
  const observedSender = () => {
    const requests: { chatId: string; at: number }[] = [];
    const notifier = createNotifier(config, { log: () => undefined });
    const recording: Notifier = {
      ...notifier,
      sendTelegramChat: (chatId, payload, signal) => {
        requests.push({ chatId, at: Date.now() });
        return notifier.sendTelegramChat(chatId, payload, signal);
      },
    };
    const slowStore = Object.create(store) as ObjectStore;
    let writes = 0;
    slowStore.put = async (...args: Parameters<ObjectStore['put']>) => {
      if (writes++ % 2 === 0) await new Promise((r) => setTimeout(r, 400));
      return store.put(...args);
    };
    return {
      requests,
      sender: createPatientSenderActivities({ config, store: slowStore, notifier: recording, contacts }),
    };
  };

  test('one chat gets at most one message a second, counted between the requests', async () => {
    const p = await linked(6);
    const observed = observedSender();
    const results = await Promise.all(
      ['t1', 't2', 't3'].map((n) => observed.sender.sendPatientMessage(reminder(p, n))),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['delivered', 'delivered', 'delivered'],
    );
    const starts = observed.requests.map((r) => r.at);
    assert.equal(starts.length, 3);
    for (let i = 1; i < starts.length; i++) {
      assert.ok(starts[i]! - starts[i - 1]! >= 1100, `requests ${starts[i]! - starts[i - 1]!} ms apart`);
    }
    const at = (await p.messages()).map((m) => m.at).sort((a, b) => a - b);
    assert.equal(at.length, 3);
    for (let i = 1; i < at.length; i++)
      assert.ok(at[i]! - at[i - 1]! >= 950, `arrived ${at[i]! - at[i - 1]!} ms apart`);
  });

  test('the bot makes at most 25 requests a second, however many messages are due at once and however long their records take', async () => {
    const patients = await Promise.all(Array.from({ length: 80 }, (_, i) => linked(100 + i)));
    const observed = observedSender();
    const results = await Promise.all(
      patients.map((p) => observed.sender.sendPatientMessage(reminder(p, `burst-${p.chatId}`))),
    );
    assert.ok(
      results.every((r) => r.status === 'delivered'),
      JSON.stringify(results.filter((r) => r.status !== 'delivered')),
    );
    // Telegram received each once.
    const chats = new Set(patients.map((p) => String(p.chatId)));
    const res = await fetch(`${emulatorUrl}/_emulator/sent?botToken=${encodeURIComponent(botToken)}`);
    const arrived = ((await res.json()) as { result: SentMessage[] }).result.filter((m) => chats.has(String(m.chatId)));
    assert.deepEqual(arrived.map((m) => m.chatId).sort(), [...chats].sort());
    // The requests as the sender made them: at most 25 in any second (the 26th starts 1,025 ms after the 1st, so a
    // request run late by the event loop still leaves 25), and no faster than 25/s over the whole burst.
    const starts = observed.requests.map((r) => r.at).sort((a, b) => a - b);
    assert.equal(starts.length, patients.length);
    let busiest = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i]! - starts[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    assert.ok(busiest <= 25, `${busiest} requests within one second`);
    const perSecond = ((starts.length - 1) * 1000) / (starts.at(-1)! - starts[0]!);
    assert.ok(perSecond <= 25, `${perSecond.toFixed(2)} requests/s over the burst`);
  });

  test('the emulator lists one bot’s callback answers: files running beside each other share it', async () => {
    const otherBot = `${randomInt(100_000, 999_999)}:other-test-${uniq()}`;
    const answer = async (token: string, id: string) => {
      const res = await fetch(`${emulatorUrl}/bot${token}/answerCallbackQuery`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ callback_query_id: id, text: `from ${id}` }),
      });
      assert.equal(res.status, 200);
    };
    const before = await callbackAnswers(emulatorUrl, botToken);
    await answer(otherBot, 'other-1');
    await answer(botToken, 'own-1');
    await answer(otherBot, 'other-2');
    const own = (await callbackAnswers(emulatorUrl, botToken)).slice(before.length);
    assert.deepEqual(
      own.map((a) => [a.callbackQueryId, a.text]),
      [['own-1', 'from own-1']],
    );
    assert.deepEqual(
      (await callbackAnswers(emulatorUrl, otherBot)).map((a) => a.callbackQueryId),
      ['other-1', 'other-2'],
    );
    const all = await fetch(`${emulatorUrl}/_emulator/callback-answers`);
    assert.equal(all.status, 400, 'every bot’s answers at once is what let one file read another’s');
  });
});
