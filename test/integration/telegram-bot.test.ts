/**
 * The patients' bot on the real stack: the Telegram Bot API emulator of `npm test`'s stack, the warehouse for
 * contacts, Temporal for button presses. Simulated patients talk to the bot through the emulator's client API.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import type { Update } from 'telegraf/types';
import { createPatientBot } from '../../src/bot/bot.js';
import { createCallbackData } from '../../src/bot/callback-data.js';
import { createContactStore } from '../../src/bot/contacts.js';
import { createLinkToken, deepLink, verifyLinkToken } from '../../src/bot/link-token.js';
import { startBot, WEBHOOK_PATH, type RunningBot } from '../../src/bot/run.js';
import { callbackAnswers, planPatients, SimulatedPatient } from '../../src/bot/simulator.js';
import { TEXTS } from '../../src/bot/texts.js';
import { SECRET_HEADER } from '../../src/bot/webhook.js';
import type { Config } from '../../src/config.js';
import { connectClient } from '../../src/temporal.js';
import { workflowIds } from '../../src/workflow-ids.js';
import { answersQuery, finishSignal } from '../support/answer-workflows.js';
import { testConfig, uniq } from '../support/env.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const SECRET = `test-link-secret-${'x'.repeat(24)}`;

/** The Update Telegram delivers for a button press with callback query `id` in `chatId`. */
const callbackUpdate = (id: string, chatId: number, data: string): Update => ({
  update_id: 1,
  callback_query: {
    id,
    from: { id: chatId, is_bot: false, first_name: 'Patient' },
    chat_instance: '1',
    message: { message_id: 1, date: 0, chat: { id: chatId, type: 'private', first_name: 'Patient' } },
    data,
  } as Update.CallbackQueryUpdate['callback_query'],
});
const WEBHOOK_SECRET = `hook_${uniq()}_${'s'.repeat(16)}`;

describe('patients’ Telegram bot', () => {
  let config: Config;
  let emulatorUrl: string;
  let botToken: string;
  let client: Client;
  let worker: Worker;
  let workerRun: Promise<void>;
  let polling: RunningBot;
  let db: pg.Pool;
  const base = randomInt(1, 1_000_000) * 1000;

  before(async () => {
    botToken = `${randomInt(100_000, 999_999)}:bot-test-${uniq()}`;
    const probe = testConfig();
    emulatorUrl = `http://127.0.0.1:${probe.localPorts.telegram}`;
    config = testConfig({
      TELEGRAM_API_ROOT: emulatorUrl,
      TELEGRAM_BOT_TOKEN: botToken,
      TELEGRAM_LINK_SECRET: SECRET,
      TELEGRAM_BOT_USERNAME: 'HealthSynthTestBot',
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      HEALTHSYNTH_BOT_PORT: '1',
    });
    client = await connectClient(config);
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowsPath: fileURLToPath(new URL('../support/answer-workflows.ts', import.meta.url)),
    });
    workerRun = worker.run();
    polling = await startBot(config, { mode: 'polling', temporal: client, log: () => undefined });
    db = new pg.Pool({ connectionString: config.warehouse.kind === 'postgres' ? config.warehouse.databaseUrl : '' });
  });

  after(async () => {
    await polling?.stop();
    worker?.shutdown();
    await workerRun;
    await client?.connection.close();
    await db?.end();
  });

  const contact = async (patientId: number) =>
    (
      await db.query('select chat_id, linked_at, opted_out_at from raw.patient_contacts where patient_id = $1', [
        patientId,
      ])
    ).rows[0] as { chat_id: string; linked_at: Date; opted_out_at: Date | null } | undefined;
  const link = (patientId: number, ttlMs = 86_400_000) =>
    deepLink('HealthSynthTestBot', createLinkToken(patientId, new Date(Date.now() + ttlMs), SECRET));

  /** Links `p`'s chat through its deep link, as the patient would, and waits for the bot's reply. */
  const linkChat = async (p: SimulatedPatient) => {
    const n = (await p.messages()).length;
    await p.openLink(link(p.patientId));
    await p.waitForMessage(n);
  };
  /** A stand-in reminder workflow for `patientId`'s appointment, waiting for its answer. */
  const startProbe = (appointmentId: number, patientId: number, taskQueue = config.temporal.taskQueue) =>
    client.workflow.start('answerProbe', {
      taskQueue,
      workflowId: workflowIds.reminder(appointmentId),
      args: [patientId],
    });

  test('a link token is at most 64 base64url characters and verifies only with its secret', () => {
    const token = createLinkToken(9_123_456_789, new Date(Date.now() + 60_000), SECRET);
    assert.match(token, /^[A-Za-z0-9_-]{1,64}$/);
    assert.deepEqual(verifyLinkToken(token, SECRET).ok, true);
    assert.deepEqual(verifyLinkToken(token, `${SECRET}-other`), { ok: false, reason: 'forged' });
    const flipped = `${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`;
    assert.deepEqual(verifyLinkToken(flipped, SECRET), { ok: false, reason: 'forged' });
  });

  test('/start with a valid token links the chat (idempotently), in Portuguese by default', async () => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + 1);
    const before = (await p.messages()).length;
    await p.openLink(link(p.patientId));
    const reply = await p.waitForMessage(before);
    assert.equal(reply.text, TEXTS.pt.linked);
    const first = await contact(p.patientId);
    assert.equal(first?.chat_id, String(p.chatId));
    assert.equal(first?.opted_out_at, null);
    await p.openLink(link(p.patientId));
    await p.waitForMessage(before + 1);
    assert.deepEqual(await contact(p.patientId), first, 'linking again keeps the first linked_at');
  });

  test('an expired or forged token gets a polite refusal and links nothing', async () => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + 2, 'en');
    const expired = await p.ask(`/start ${createLinkToken(p.patientId, new Date(Date.now() - 1000), SECRET)}`);
    assert.equal(expired.text, TEXTS.en.linkExpired);
    const forged = await p.ask(
      `/start ${createLinkToken(p.patientId, new Date(Date.now() + 60_000), 'another-secret-of-32-characters!!')}`,
    );
    assert.equal(forged.text, TEXTS.en.linkInvalid);
    assert.equal(await contact(p.patientId), undefined);
  });

  test('/help answers in English for language_code en and in Portuguese otherwise', async () => {
    const en = new SimulatedPatient(emulatorUrl, botToken, base + 3, 'en-GB');
    const pt = new SimulatedPatient(emulatorUrl, botToken, base + 4, 'pt-br');
    const none = new SimulatedPatient(emulatorUrl, botToken, base + 5, '');
    assert.equal((await en.ask('/help')).text, TEXTS.en.help);
    assert.equal((await pt.ask('/help')).text, TEXTS.pt.help);
    assert.equal((await none.ask('/help')).text, TEXTS.pt.help);
  });

  test('the emulator’s outbox filtered by bot: another bot’s message to the same chat is not this bot’s', async () => {
    const patient = new SimulatedPatient(emulatorUrl, botToken, base + 6);
    await patient.ask('/help');
    const otherToken = `${randomInt(100_000, 999_999)}:bot-other-${uniq()}`;
    const res = await fetch(`${emulatorUrl}/bot${otherToken}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: patient.chatId, text: 'from another bot' }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      (await patient.messages()).map((m) => m.text),
      [TEXTS.pt.help],
    );
    const other = new SimulatedPatient(emulatorUrl, otherToken, base + 6);
    assert.deepEqual(
      (await other.messages()).map((m) => m.text),
      ['from another bot'],
    );
  });

  test('the emulator returns an update again until a getUpdates offset confirms it, as Telegram does', async () => {
    // A bot token no bot polls: this test is the only reader of its updates.
    const quietToken = `${randomInt(100_000, 999_999)}:bot-quiet-${uniq()}`;
    const patient = new SimulatedPatient(emulatorUrl, quietToken, base + 7);
    await patient.command('/help');
    await patient.command('/stop');
    const getUpdates = async (query: string) => {
      const res = await fetch(`${emulatorUrl}/bot${quietToken}/getUpdates?${query}`);
      assert.equal(res.status, 200);
      return ((await res.json()) as { result: Update.MessageUpdate[] }).result;
    };
    const texts = (updates: Update.MessageUpdate[]) => updates.map((u) => (u.message as { text: string }).text);

    const first = await getUpdates('timeout=0');
    assert.deepEqual(texts(first), ['/help', '/stop']);
    // A bot that died before handling them asks again without an offset: Telegram hands them out again.
    assert.deepEqual(texts(await getUpdates('timeout=0')), ['/help', '/stop']);
    assert.deepEqual(texts(await getUpdates('timeout=0&limit=1')), ['/help'], 'limit caps the batch');
    const [help, stop] = first as [Update.MessageUpdate, Update.MessageUpdate];
    assert.deepEqual(texts(await getUpdates(`timeout=0&offset=${help.update_id + 1}`)), ['/stop']);
    assert.deepEqual(await getUpdates(`timeout=0&offset=${stop.update_id + 1}`), []);
    assert.deepEqual(await getUpdates('timeout=0'), [], 'a confirmed update stays confirmed');
  });

  test('a reply to a bot message that is no comment invitation gets no answer; one made to look like it is refused', async () => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + 8, 'en');
    await linkChat(p);
    const help = await p.ask('/help');
    const replyTo = (text: string): Update => ({
      update_id: 1,
      message: {
        message_id: 2,
        date: Math.floor(Date.now() / 1000),
        chat: { id: p.chatId, type: 'private', first_name: 'Patient' },
        from: { id: p.chatId, is_bot: false, first_name: 'Patient', language_code: 'en' },
        text: 'thanks!',
        reply_to_message: {
          message_id: help.messageId!,
          date: 0,
          chat: { id: p.chatId, type: 'private', first_name: 'Patient' },
          text,
        },
      } as Update.MessageUpdate['message'],
    });
    // handleUpdate returns once the handlers are done, and the emulator records a reply before answering it.
    const before = (await p.messages()).length;
    await polling.bot.handleUpdate(replyTo(help.text));
    assert.equal((await p.messages()).length, before, 'a reply to /help is not taken for a comment');
    await polling.bot.handleUpdate(replyTo(`${help.text}\n\nref. 123-AAAAAAAAAAAA`));
    assert.deepEqual(
      (await p.messages()).slice(before).map((m) => m.text),
      [TEXTS.en.commentExpired],
    );
  });

  test('/stop opts the patient out (and a second /stop keeps the first time)', async () => {
    const p = new SimulatedPatient(emulatorUrl, botToken, base + 6);
    const n = (await p.messages()).length;
    await p.openLink(link(p.patientId));
    await p.waitForMessage(n);
    assert.equal((await p.ask('/stop')).text, TEXTS.pt.stopped);
    const first = await contact(p.patientId);
    assert.ok(first?.opted_out_at instanceof Date);
    await p.ask('/stop');
    assert.deepEqual(await contact(p.patientId), first);
  });

  test('a press reaches its workflow as an Update once; a replay, another patient’s button and a missing workflow change nothing', async () => {
    const alice = new SimulatedPatient(emulatorUrl, botToken, base + 7);
    const bob = new SimulatedPatient(emulatorUrl, botToken, base + 8, 'en');
    for (const p of [alice, bob]) await linkChat(p);
    const appointmentId = base + 700;
    const handle = await startProbe(appointmentId, alice.patientId);
    try {
      const answered = async (count: number) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const all = await callbackAnswers(emulatorUrl, botToken);
          if (all.length >= count) return all;
          if (Date.now() > deadline) throw new Error(`only ${all.length} callback answers, expected ${count}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      // The workflow's first task has run (a cold worker could otherwise take longer than the answer's second).
      assert.deepEqual(await handle.query(answersQuery), []);
      const start = (await callbackAnswers(emulatorUrl, botToken)).length;
      /** Presses and returns the text the bot answered the press with. */
      const pressed = async (who: SimulatedPatient, data: string) => {
        const n = (await callbackAnswers(emulatorUrl, botToken)).length;
        await who.press(data);
        return (await answered(n + 1))[n]?.text;
      };
      // Bob presses a button made for Alice's chat (e.g. forwarded): its signature is for Alice's chat.
      const alicesButton = createCallbackData({ kind: 'r', appointmentId, action: 'cancel' }, alice.chatId, SECRET);
      assert.equal(await pressed(bob, alicesButton), TEXTS.en.expired);
      // Bob presses a well-signed button of his own chat for Alice's appointment: the workflow's validator refuses.
      const bobsButton = createCallbackData({ kind: 'r', appointmentId, action: 'cancel' }, bob.chatId, SECRET);
      assert.equal(await pressed(bob, bobsButton), TEXTS.en.expired);
      // A forged button.
      assert.equal(await pressed(alice, `r:${appointmentId}:cancel:AAAAAAAAAAAA`), TEXTS.pt.expired);
      let answers = await answered(start + 3);
      assert.deepEqual(await handle.query(answersQuery), []);

      const t0 = Date.now();
      await alice.press(createCallbackData({ kind: 'r', appointmentId, action: 'confirm' }, alice.chatId, SECRET));
      answers = await answered(start + 4);
      assert.equal(answers[start + 3]?.text, TEXTS.pt.received);
      assert.ok((answers[start + 3]?.at ?? Infinity) - t0 < 1000, 'answered within a second');
      // Telegram delivering the same press again (same callback query id) runs the Update once.
      const cbId = answers[start + 3]!.callbackQueryId;
      await polling.bot.handleUpdate(
        callbackUpdate(
          cbId,
          alice.chatId,
          createCallbackData({ kind: 'r', appointmentId, action: 'confirm' }, alice.chatId, SECRET),
        ),
      );
      // A second press (a new callback) after the answer: refused by the validator.
      await alice.press(createCallbackData({ kind: 'r', appointmentId, action: 'cancel' }, alice.chatId, SECRET));
      answers = await answered(start + 6);
      assert.equal(answers[start + 5]?.text, TEXTS.pt.expired);
      assert.deepEqual(await handle.query(answersQuery), [{ action: 'confirm', patientId: alice.patientId }]);

      // No workflow for this appointment: "this request has expired".
      await alice.press(
        createCallbackData({ kind: 'q', appointmentId: base + 999, action: '5' }, alice.chatId, SECRET),
      );
      answers = await answered(start + 7);
      assert.equal(answers[start + 6]?.text, TEXTS.pt.expired);
    } finally {
      await handle.signal(finishSignal);
      await handle.result();
    }
  });

  test('a press answered before its workflow took it: stopping the bot waits for the Update (settle)', async () => {
    const carol = new SimulatedPatient(emulatorUrl, botToken, base + 11);
    await linkChat(carol);
    // Nobody polls this task queue yet, so the Update cannot be accepted: the patient is told "received" anyway.
    const lateQueue = `${config.temporal.taskQueue}-late-${uniq()}`;
    const appointmentId = base + 900;
    const handle = await startProbe(appointmentId, carol.patientId, lateQueue);
    let late: Worker | undefined;
    let lateRun: Promise<void> | undefined;
    try {
      const before = (await callbackAnswers(emulatorUrl, botToken)).length;
      await carol.press(createCallbackData({ kind: 'r', appointmentId, action: 'confirm' }, carol.chatId, SECRET));
      for (let i = 0; (await callbackAnswers(emulatorUrl, botToken)).length <= before; i++) {
        assert.ok(i < 200, 'the press was answered');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await callbackAnswers(emulatorUrl, botToken))[before]?.text, TEXTS.pt.received);
      assert.deepEqual(await polling.bot.settle(300), { unsettled: 1 }, 'its Update is still waiting');

      late = await Worker.create({
        connection: await NativeConnection.connect({ address: config.temporal.address }),
        namespace: config.temporal.namespace,
        taskQueue: lateQueue,
        workflowsPath: fileURLToPath(new URL('../support/answer-workflows.ts', import.meta.url)),
      });
      lateRun = late.run();
      assert.deepEqual(await polling.bot.settle(30_000), { unsettled: 0 });
      assert.deepEqual(await handle.query(answersQuery), [{ action: 'confirm', patientId: carol.patientId }]);
    } finally {
      await handle.signal(finishSignal);
      if (late) {
        await handle.result();
        late.shutdown();
        await lateRun;
      } else {
        await handle.terminate('test over');
      }
    }
  });

  test('a press whose Update cannot reach Temporal for a while is tried again with its id until it arrives', async () => {
    const dan = new SimulatedPatient(emulatorUrl, botToken, base + 12);
    await linkChat(dan);
    const appointmentId = base + 950;
    const handle = await startProbe(appointmentId, dan.patientId);
    assert.deepEqual(await handle.query(answersQuery), []);
    // A second bot whose Temporal connection runs through a proxy we can cut. Its gRPC client gives up after 4
    // attempts (about 1 s) instead of the default 10 (about 20 s), so a short outage outlasts it.
    const [host, port] = config.temporal.address.split(':');
    const proxy = await startTcpProxy({ host: host!, port: Number(port) });
    const connection = await Connection.connect({
      address: proxy.address,
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 }))],
    });
    const contacts = createContactStore(config);
    const lines: string[] = [];
    const flaky = createPatientBot({
      config,
      contacts,
      temporal: new Client({ connection, namespace: config.temporal.namespace }),
      log: (line) => void lines.push(line),
    });
    try {
      proxy.cut();
      const callbackId = `cut-${uniq()}`;
      await flaky.handleUpdate(
        callbackUpdate(
          callbackId,
          dan.chatId,
          createCallbackData({ kind: 'r', appointmentId, action: 'confirm' }, dan.chatId, SECRET),
        ),
      );
      const answered = (await callbackAnswers(emulatorUrl, botToken)).find((a) => a.callbackQueryId === callbackId);
      assert.equal(answered?.text, TEXTS.pt.received, 'the patient is told the answer was received');
      await new Promise((r) => setTimeout(r, 5_000));
      assert.ok(
        lines.some(
          (l) =>
            l.includes(`update of ${workflowIds.reminder(appointmentId)} failed (attempt 2)`) &&
            // The gRPC status under the SDK's "Workflow Update failed" says why.
            /\(gRPC \d+: .+\)$/.test(l),
        ),
        `the Update failed while Temporal was unreachable and was tried again, with its gRPC status: ${lines.join(' | ')}`,
      );
      assert.deepEqual(await handle.query(answersQuery), [], 'nothing arrived while the connection was cut');
      proxy.restore();
      assert.deepEqual(await flaky.settle(60_000), { unsettled: 0 });
      assert.deepEqual(await handle.query(answersQuery), [{ action: 'confirm', patientId: dan.patientId }]);
    } finally {
      await handle.signal(finishSignal);
      await handle.result();
      await connection.close();
      await contacts.close();
      await proxy.close();
    }
  });

  test('webhook mode: a request without the right secret header gets 401 and changes nothing', async () => {
    const hook = await startBot(
      { ...config, bot: { ...config.bot, port: 0, host: '127.0.0.1' } },
      { mode: 'webhook', temporal: client, log: () => undefined },
    );
    try {
      const patientId = base + 9;
      const chatId = 2_000_000_000_000 + patientId;
      const update = {
        update_id: 10,
        message: {
          message_id: 1,
          date: Math.floor(Date.now() / 1000),
          chat: { id: chatId, type: 'private', first_name: 'X' },
          from: { id: chatId, is_bot: false, first_name: 'X' },
          text: `/start ${createLinkToken(patientId, new Date(Date.now() + 60_000), SECRET)}`,
          entities: [{ offset: 0, length: 6, type: 'bot_command' }],
        },
      };
      const url = `http://127.0.0.1:${hook.port}${WEBHOOK_PATH}`;
      const post = (headers: Record<string, string>) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(update),
        });
      assert.equal((await post({})).status, 401);
      assert.equal((await post({ [SECRET_HEADER]: `${WEBHOOK_SECRET}x` })).status, 401);
      assert.equal(await contact(patientId), undefined);
      assert.equal((await post({ [SECRET_HEADER]: WEBHOOK_SECRET })).status, 200);
      assert.equal((await contact(patientId))?.chat_id, String(chatId));
    } finally {
      await hook.stop();
    }
  });

  test('the simulator picks the same patients and languages for a seed', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => i + 1);
    const a = planPatients(ids, { seed: 7, linkShare: 0.3 });
    assert.deepEqual(planPatients(ids, { seed: 7, linkShare: 0.3 }), a);
    const linked = a.filter((p) => p.links).length;
    assert.ok(linked > 250 && linked < 350, `${linked} of 1000 link at share 0.3`);
    assert.notDeepEqual(planPatients(ids, { seed: 8, linkShare: 0.3 }), a);
  });
});
