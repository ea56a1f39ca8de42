/**
 * A day's reminders with the worker SIGKILLed mid-send (issue 12): REMINDER_KILL_COUNT appointmentReminder
 * workflows (default 600; `REMINDER_KILL_COUNT=10000 npm run test:faults test/faults/reminder-kill.test.ts` is the
 * issue's full day) on a worker process, the fault stack's Telegram emulator and the bot (long polling, in this
 * process). Once a third of the reminders reached the emulator the worker is killed; while it is down the patients
 * who got the last reminders press their buttons, then a second worker finishes the day and every other patient
 * with a reminder answers.
 *
 * Checked: no chat gets a reminder twice; a chat without one is exactly a reminder whose send was cut off by the
 * kill (its delivery record says `unknown`: it may have left, so it is never sent again); every reminder is
 * recorded `sent` once and every press once, with the answer pressed, including the presses made while no worker
 * ran; histories stay under 50 events. A worker that dies of Node's known crash in the SDK's workflow thread
 * (KNOWN_WORKER_CRASH) is started again at once, as production's restart policy does, and the result says so.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { patientDeliveryKey } from '../../src/activities/patient-sender.js';
import { createContactStore } from '../../src/bot/contacts.js';
import { startBot, type RunningBot } from '../../src/bot/run.js';
import { callbackAnswers, SimulatedPatient, simulatedReminderFacts } from '../../src/bot/simulator.js';
import { loadConfig } from '../../src/config.js';
import type { SentMessage } from '../../src/stack/telegram-emulator.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/workflow-ids.js';
import { faultResultsFile, recordFaultResult } from '../support/fault-results.js';
import { FaultScenario, sleep, waitFor } from '../support/faults.js';

const COUNT = Number(process.env.REMINDER_KILL_COUNT ?? 600);
/** Presses made while no worker runs. */
const PRESSES_WHILE_DOWN = 20;

describe('reminders with the worker killed mid-send', { timeout: Math.max(1_500_000, COUNT * 700) }, () => {
  let s: FaultScenario | undefined;
  let bot: RunningBot | undefined;
  after(async () => {
    await bot?.stop();
    await s?.close();
  });

  test(`${COUNT} reminders: each sent at most once, each recorded once, each answer recorded once`, async () => {
    assert.ok(Number.isInteger(COUNT) && COUNT >= 60, 'REMINDER_KILL_COUNT is a whole number of at least 60');
    const botToken = `${randomInt(100_000, 999_999)}:kill-${randomBytes(6).toString('hex')}`;
    const emulatorUrl = `http://127.0.0.1:${loadConfig().localPorts.telegram}`;
    s = await FaultScenario.create('reminder-kill', {
      TELEGRAM_API_ROOT: emulatorUrl,
      TELEGRAM_BOT_TOKEN: botToken,
      TELEGRAM_LINK_SECRET: randomBytes(24).toString('hex'),
      // A day of reminders is many short sends at once: the slots the reminders benchmark measured best.
      WORKER_MAX_CONCURRENT_ACTIVITIES: '16',
    });
    const { client, config, store } = s.h;
    assert.equal(config.telegram.apiRoot, emulatorUrl);

    const firstId = randomInt(1, 100_000) * 100_000 + 7_000_000_000;
    const patients = Array.from({ length: COUNT }, (_, i) => new SimulatedPatient(emulatorUrl, botToken, firstId + i));
    const contacts = createContactStore(config);
    try {
      await contacts.ensureTable();
      for (const p of patients) await contacts.link(p.patientId, String(p.chatId));
    } finally {
      await contacts.close();
    }
    // The bot's log is kept for the failure message: a press answered "received" whose Update then failed says so.
    const botLog: string[] = [];
    bot = await startBot(config, { mode: 'polling', temporal: client, log: (line) => void botLog.push(line) });
    await s.startWorker({ restartOnKnownCrash: true });

    // Their appointments start in an hour or more: every reminder is still waiting for its answer when the presses
    // come. A 10,000-reminder day with a kill took about an hour here, so the window grows with the count (1 s each).
    const startsAt = new Date(Date.now() + Math.max(60 * 60_000, COUNT * 1000));
    const ids = patients.map((p) => workflowIds.reminder(p.patientId));
    for (let i = 0; i < COUNT; i += 200) {
      await Promise.all(
        patients.slice(i, i + 200).map((p) =>
          client.workflow.start(WORKFLOW_TYPES.appointmentReminder, {
            taskQueue: config.temporal.taskQueue,
            workflowId: workflowIds.reminder(p.patientId),
            args: [
              simulatedReminderFacts(p.patientId, startsAt, { doctorName: 'Dra. Falha', clinicName: 'Clínica Falha' }),
            ],
          }),
        ),
      );
    }

    const sent = async (): Promise<SentMessage[]> => {
      const res = await fetch(`${emulatorUrl}/_emulator/sent?botToken=${encodeURIComponent(botToken)}`);
      return ((await res.json()) as { result: SentMessage[] }).result;
    };
    const byChat = new Map(patients.map((p) => [String(p.chatId), p]));
    const buttonsOf = (m: SentMessage) =>
      (m.replyMarkup as { inline_keyboard: { callback_data: string }[][] }).inline_keyboard[0]!.map(
        (b) => b.callback_data,
      );
    /** Presses Confirm (even patient ids) or Cancel (odd) on `m`; returns the answer expected. */
    const answer = async (m: SentMessage): Promise<[number, string]> => {
      const p = byChat.get(m.chatId)!;
      const [confirm, cancel] = buttonsOf(m);
      const cancels = p.patientId % 2 === 1;
      await p.press((cancels ? cancel : confirm)!);
      return [p.patientId, cancels ? 'cancelled' : 'confirmed'];
    };

    await waitFor(`a third of ${COUNT} reminders in the emulator`, async () => (await sent()).length >= COUNT / 3, {
      timeoutMs: COUNT * 1000,
      intervalMs: 500,
    });
    const killedAt = await s.killWorker();
    const atKill = await sent();
    const inEmulatorAtKill = atKill.length;
    const expected = new Map<number, string>();
    // The patients who got their reminder last press at once: the worker may have died before it learnt that
    // those sends succeeded.
    for (const m of atKill.slice(-PRESSES_WHILE_DOWN)) {
      const [id, outcome] = await answer(m);
      expected.set(id, outcome);
    }
    // Down long enough for the presses to reach the bot and be answered "received" without a worker.
    await sleep(3_000);
    await s.startWorker({ restartOnKnownCrash: true });

    const db = await s.session();
    const events = async (event: string) =>
      Number(
        (
          await db.query<{ n: string }>(
            `select count(*) as n from raw.reminder_events where event = $1 and appointment_id between $2 and $3`,
            [event, firstId, firstId + COUNT - 1],
          )
        ).rows[0]!.n,
      );
    await waitFor(`${COUNT} reminders recorded sent`, async () => (await events('sent')) === COUNT, {
      timeoutMs: COUNT * 1000,
      intervalMs: 1000,
    });
    const recoveredAt = Date.now();

    const messages = await sent();
    const perChat = new Map<string, number>();
    for (const m of messages) perChat.set(m.chatId, (perChat.get(m.chatId) ?? 0) + 1);
    const twice = [...perChat.values()].filter((n) => n > 1).length;
    assert.equal(twice, 0, `${twice} chats got a reminder more than once`);
    assert.ok(
      messages.every((m) => byChat.has(m.chatId)),
      'every message went to a patient of this test',
    );

    // A reminder that never arrived was cut off mid-send by the kill, and says so.
    const missing = patients.filter((p) => !perChat.has(String(p.chatId)));
    for (const p of missing) {
      const record = JSON.parse(await store.getText(patientDeliveryKey(workflowIds.reminder(p.patientId), 'reminder')));
      assert.equal(record.status, 'unknown', `chat ${p.chatId} has no reminder: ${JSON.stringify(record)}`);
    }
    assert.ok(missing.length <= 32, `${missing.length} reminders cut off by one kill (at most the sends in flight)`);

    // Every other patient with a reminder answers it, 25 at a time.
    const rest = messages.filter((m) => !expected.has(byChat.get(m.chatId)!.patientId));
    for (let i = 0; i < rest.length; i += 25) {
      for (const [id, outcome] of await Promise.all(rest.slice(i, i + 25).map(answer))) expected.set(id, outcome);
    }
    const answered = async () =>
      (
        await db.query<{ appointment_id: string; events: string[] }>(
          `select appointment_id, array_agg(event order by event) as events
             from raw.reminder_events
            where appointment_id between $1 and $2 and event in ('confirmed', 'cancelled', 'no-answer')
            group by appointment_id`,
          [firstId, firstId + COUNT - 1],
        )
      ).rows;
    const outcomes = await waitFor(
      `${expected.size} answers recorded`,
      async () => {
        const rows = await answered();
        return rows.length >= expected.size ? rows : undefined;
      },
      // Alone, 600 answers are recorded in about 10 s; beside other suites on two cores it took minutes. The bot
      // tries each Update for UPDATE_RETRY_FOR_MS (15 min), so that is what a patient is promised; 10 min here.
      { timeoutMs: Math.max(600_000, expected.size * 1000), intervalMs: 1000 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await whyUnanswered()}`);
    });
    /** What a failed wait reports: how many are missing, how the bot answered the presses, what it logged, and
     * where the first missing reminders stand. */
    async function whyUnanswered(): Promise<string> {
      const recorded = new Set((await answered()).map((r) => Number(r.appointment_id)));
      const missingIds = [...expected.keys()].filter((id) => !recorded.has(id));
      const answers = await callbackAnswers(emulatorUrl, botToken);
      const answerTexts = new Map<string, number>();
      for (const a of answers) answerTexts.set(a.text ?? '', (answerTexts.get(a.text ?? '') ?? 0) + 1);
      const states = await Promise.all(
        missingIds.slice(0, 5).map(async (id) => {
          const handle = client.workflow.getHandle(workflowIds.reminder(id));
          const d = await handle.describe();
          const events = (await handle.fetchHistory()).events ?? [];
          const types = events.slice(-6).map((e) => String(e.eventType));
          return `${d.workflowId}: ${d.status.name}, ${d.historyLength} events, last ${types.join(' ')}`;
        }),
      );
      // A worker that died (a crash, not the kill) leaves every later task to time out: say so, with its last lines.
      const workers = s!.workers.map((w, i) => {
        const { exitCode, signalCode } = w.proc;
        const state = exitCode === null && signalCode === null ? 'running' : `exited (${signalCode ?? exitCode})`;
        return `worker ${i + 1} (pid ${w.workerPid}): ${state}; last output: ${w.output().slice(-600)}`;
      });
      return [
        `${missingIds.length} of ${expected.size} answers not recorded`,
        ...workers,
        `workers started again after the known crash: ${s!.knownCrashes.join(', ') || 'none'}`,
        `${answers.length} presses answered, as ${JSON.stringify(Object.fromEntries(answerTexts))}`,
        `bot log (last 20 of ${botLog.length}): ${botLog.slice(-20).join(' | ')}`,
        ...states,
      ].join('\n');
    }
    const wrong = outcomes.filter((r) => r.events.join() !== expected.get(Number(r.appointment_id)));
    assert.deepEqual(wrong, [], 'each answer recorded once, as pressed');
    assert.equal(outcomes.length, expected.size);

    // Histories: the presses made while the worker was down and a sample of the rest.
    const sample = [...expected.keys()].slice(0, PRESSES_WHILE_DOWN + 100).map((id) => workflowIds.reminder(id));
    const lengths = await Promise.all(
      sample.map(async (id) => (await client.workflow.getHandle(id).describe()).historyLength),
    );
    const longest = Math.max(...lengths);
    assert.ok(longest < 50, `a reminder history of ${longest} events`);

    const duplicateKeys = Number(
      (
        await db.query<{ n: string }>(
          `select count(*) - count(distinct (appointment_id, event)) as n
               from raw.reminder_events where appointment_id between $1 and $2`,
          [firstId, firstId + COUNT - 1],
        )
      ).rows[0]!.n,
    );
    recordFaultResult(faultResultsFile(config.dataDir), {
      order: 10,
      fault: `Worker SIGKILLed while sending ${COUNT} reminders`,
      happened:
        `killed with ${inEmulatorAtKill} of ${COUNT} reminders in the emulator; ${PRESSES_WHILE_DOWN} patients ` +
        `answered while no worker ran; ${missing.length} sends cut off mid-request (recorded unknown, not resent); ` +
        `${expected.size} answers recorded once; histories at most ${longest} events` +
        (s.knownCrashes.length > 0
          ? `; besides the kill, a worker died of Node's "async hook stack has become corrupted" ` +
            `${s.knownCrashes.length} time(s) and was started again`
          : ''),
      rowsLost: COUNT - (await events('sent')),
      duplicateKeys,
      duplicateMessages: twice,
      recoverySeconds: Math.round((recoveredAt - killedAt) / 100) / 10,
    });

    assert.equal(duplicateKeys, 0, 'an event recorded twice');

    // The unanswered (cut off) reminders would wait an hour for their appointment.
    await Promise.all(
      ids.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('fault scenario over')
          .catch(() => undefined),
      ),
    );
  });
});
