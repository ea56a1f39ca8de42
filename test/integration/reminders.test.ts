/**
 * Appointment reminders on the real stack (issue 12): the worker with its real activities, the Telegram emulator,
 * the bot (long polling) turning presses into Updates, the warehouse (scores, schedule, contacts, reminder events)
 * and a bucket of its own. Tomorrow's scored schedule is written by hand, small: one doctor whose shift starts
 * about 25 s from now, so each reminder's durable timer (until the appointment starts) ends within the test.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { createReminderActivities, inHoldout } from '../../src/activities/reminders.js';
import { createCallbackData } from '../../src/bot/callback-data.js';
import { createContactStore, type ContactStore } from '../../src/bot/contacts.js';
import { startBot, type RunningBot } from '../../src/bot/run.js';
import { callbackAnswers, control, SimulatedPatient, simulatedReminderFacts } from '../../src/bot/simulator.js';
import { TEXTS } from '../../src/bot/texts.js';
import { addDays } from '../../src/domain/dates.js';
import { reminderKeys, type ReminderFacts } from '../../src/domain/reminders.js';
import type { AppointmentRemindersResult, ReminderResult } from '../../src/workflows/appointment-reminders.js';
import { WORKFLOW_TYPES, workflowIds } from '../../src/workflow-ids.js';
import { writeScoredSchedule } from '../support/scored-schedule.js';
import { deleteBucket, freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';

const SECRET = `reminders-link-secret-${'z'.repeat(24)}`;
const HOLDOUT_SHARE = 0.2;

describe('appointment reminders', { timeout: 300_000 }, () => {
  let h: TestHarness;
  let bot: RunningBot;
  let contacts: ContactStore;
  let emulatorUrl: string;
  let botToken: string;
  const bucket = `hs-remind-${uniq()}`.toLowerCase();
  const today = new Date().toISOString().slice(0, 10);
  const runDate = addDays(today, -1);
  // Ids far apart per run: reminder-<id> workflow ids outlive the test in the shared Temporal server.
  const base = randomInt(1, 1_000_000) * 1000 + 7_000_000_000;
  /** The first ids from `from` that fall in the reminded arm (or the holdout). */
  const ids = (from: number, n: number, holdout = false) => {
    const out: number[] = [];
    for (let id = from; out.length < n; id++) if (inHoldout(id, HOLDOUT_SHARE) === holdout) out.push(id);
    return out;
  };
  const [confirmId, cancelId, silentId, blockedId, foreignId] = ids(base + 1, 5) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const [heldOutId] = ids(base + 100, 1, true) as [number];
  const [lowRiskId, optedOutId] = ids(base + 200, 2) as [number, number];
  let startsAt: Date;
  const patient = (appointmentId: number) => new SimulatedPatient(emulatorUrl, botToken, appointmentId - base + 900);
  const p = {
    confirm: undefined as unknown as SimulatedPatient,
    cancel: undefined as unknown as SimulatedPatient,
    silent: undefined as unknown as SimulatedPatient,
    blocked: undefined as unknown as SimulatedPatient,
    foreign: undefined as unknown as SimulatedPatient,
    heldOut: undefined as unknown as SimulatedPatient,
    lowRisk: undefined as unknown as SimulatedPatient,
    optedOut: undefined as unknown as SimulatedPatient,
  };

  before(async () => {
    botToken = `${randomInt(100_000, 999_999)}:remind-test-${uniq()}`;
    emulatorUrl = `http://127.0.0.1:${testConfig().localPorts.telegram}`;
    const config = testConfig({
      DATABASE_URL: await freshDatabase(`hs_remind_${uniq()}`),
      S3_BUCKET: bucket,
      HEALTHSYNTH_TIMEZONE: 'UTC',
      TELEGRAM_API_ROOT: emulatorUrl,
      TELEGRAM_BOT_TOKEN: botToken,
      TELEGRAM_LINK_SECRET: SECRET,
      REMINDER_RISK_THRESHOLD: '0.3',
      REMINDER_HOLDOUT_SHARE: String(HOLDOUT_SHARE),
    });
    h = await harness(config);
    await h.warehouse.ensureModelTables();
    contacts = createContactStore(config);
    await contacts.ensureTable();
    bot = await startBot(config, { mode: 'polling', temporal: h.client, log: () => undefined });

    p.confirm = patient(confirmId);
    p.cancel = patient(cancelId);
    p.silent = patient(silentId);
    p.blocked = patient(blockedId);
    p.foreign = patient(foreignId);
    p.heldOut = patient(heldOutId);
    p.lowRisk = patient(lowRiskId);
    p.optedOut = patient(optedOutId);
    // The silent patient's Telegram is in English: their reminder is too.
    for (const x of Object.values(p)) await contacts.link(x.patientId, String(x.chatId), x === p.silent ? 'en' : 'pt');
    await contacts.optOutPatient(p.optedOut.patientId);
    await p.blocked.block();

    // Tomorrow's schedule as scored on runDate: one clinic, one doctor whose shift starts in about 25 s.
    startsAt = new Date(Math.ceil((Date.now() + 25_000) / 1000) * 1000);
    await writeScoredSchedule(h.warehouse, {
      runDate,
      appointmentOn: today,
      shift: startsAt.toISOString().slice(11, 19),
      doctorName: 'Dra. Ana Souza',
      clinicName: 'Clínica Jardim Camburi',
      appointments: (
        [
          [confirmId, p.confirm, 0.9],
          [cancelId, p.cancel, 0.8],
          [silentId, p.silent, 0.7],
          [blockedId, p.blocked, 0.6],
          [foreignId, p.foreign, 0.5],
          [heldOutId, p.heldOut, 0.95],
          [lowRiskId, p.lowRisk, 0.1],
          [optedOutId, p.optedOut, 0.99],
        ] as const
      ).map(([appointmentId, who, probability]) => ({ appointmentId, patientId: who.patientId, probability })),
    });
  });

  after(async () => {
    await p.blocked?.block(false);
    await bot?.stop();
    await contacts?.close();
    if (h) await deleteBucket(h.store);
    await h?.close();
  });

  const runReminders = (suffix = '') =>
    h.client.workflow.execute(WORKFLOW_TYPES.appointmentReminders, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.reminders(runDate)}-${base}${suffix}`,
      args: [{ runDate }],
    }) as Promise<AppointmentRemindersResult>;
  const reminder = (id: number) => h.client.workflow.getHandle(workflowIds.reminder(id));
  const events = async (id: number) =>
    (
      await h.warehouse.query<{ event: string; arm: string; probability: number }>(
        'select event, arm, probability from raw.reminder_events where appointment_id = $1 order by at, event',
        [id],
      )
    ).map((r) => `${r.arm}:${r.event}`);
  /** Presses `data` as `who` and returns the bot's answer to the press. */
  const press = async (who: SimulatedPatient, data: string) => {
    const n = (await callbackAnswers(emulatorUrl, botToken)).length;
    await who.press(data);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const all = await callbackAnswers(emulatorUrl, botToken);
      if (all.length > n) return all[n]?.text;
      if (Date.now() > deadline) throw new Error('the bot did not answer the press');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  test('remind → confirm, cancel, no answer, 403 → undeliverable; the holdout is never messaged; a forged or foreign press changes nothing; a rerun sends nothing twice', async () => {
    const first = await runReminders();
    assert.equal(first.appointmentOn, today);
    assert.equal(first.reminded, 5, 'the five reminded-arm appointments above the threshold, linked and not opted out');
    assert.equal(first.holdout, 1);
    assert.equal(first.started, 5);
    assert.equal(first.existing, 0);

    // Each reachable patient got one message with the doctor, the clinic, the time and two buttons.
    const time = startsAt.toISOString().slice(11, 16);
    for (const who of [p.confirm, p.cancel, p.silent, p.foreign]) {
      const message = await who.waitForMessage(0, 20_000);
      assert.match(message.text, /Dra\. Ana Souza/);
      assert.match(message.text, /Clínica Jardim Camburi/);
      assert.match(message.text, new RegExp(time));
      assert.equal((await who.buttons()).length, 2);
      assert.match(message.text, who === p.silent ? /^Reminder: you have an appointment/ : /^Lembrete: tem consulta/);
    }
    const confirmButtons = await p.confirm.buttons();
    const cancelButtons = await p.cancel.buttons();
    const foreignButtons = await p.foreign.buttons();

    // A forged button, and another patient pressing their own well-signed button for someone else's appointment.
    assert.equal(await press(p.confirm, `r:${confirmId}:cancel:AAAAAAAAAAAA`), TEXTS.pt.expired);
    const othersButton = createCallbackData(
      { kind: 'r', appointmentId: confirmId, action: 'cancel' },
      p.cancel.chatId,
      SECRET,
    );
    assert.equal(await press(p.cancel, othersButton), TEXTS.pt.expired);
    // Someone else's button (signed for the other chat) pressed from a different chat.
    assert.equal(await press(p.confirm, foreignButtons[1] as string), TEXTS.pt.expired);

    assert.equal(await press(p.confirm, confirmButtons[0] as string), TEXTS.pt.received);
    assert.equal(await press(p.cancel, cancelButtons[1] as string), TEXTS.pt.received);
    // A second answer is refused.
    assert.equal(await press(p.confirm, confirmButtons[1] as string), TEXTS.pt.expired);

    // A rerun of the selection: the same decision, no reminder started again, no message sent again.
    const rerun = await runReminders('-rerun');
    assert.deepEqual({ ...rerun, reused: true }, { ...first, reused: true, started: 0, existing: 5 });

    const results = Object.fromEntries(
      await Promise.all(
        [confirmId, cancelId, silentId, blockedId, foreignId].map(
          async (id) => [id, ((await reminder(id).result()) as ReminderResult).outcome] as const,
        ),
      ),
    );
    assert.ok(Date.now() >= startsAt.getTime() - 100, 'no answer is decided only when the appointment starts');
    assert.deepEqual(results, {
      [confirmId]: 'confirmed',
      [cancelId]: 'cancelled',
      [silentId]: 'no-answer',
      [blockedId]: 'undeliverable',
      [foreignId]: 'no-answer',
    });

    // One message each, however often anything was pressed or rerun; the others got none.
    for (const who of [p.confirm, p.cancel, p.silent, p.foreign]) assert.equal((await who.messages()).length, 1);
    for (const who of [p.heldOut, p.lowRisk, p.optedOut, p.blocked]) assert.equal((await who.messages()).length, 0);
    assert.ok((await contacts.byPatient(p.blocked.patientId))?.optedOutAt instanceof Date, '403 opts out');

    // Every event once.
    assert.deepEqual(await events(confirmId), ['reminded:selected', 'reminded:sent', 'reminded:confirmed']);
    assert.deepEqual(await events(cancelId), ['reminded:selected', 'reminded:sent', 'reminded:cancelled']);
    assert.deepEqual(await events(silentId), ['reminded:selected', 'reminded:sent', 'reminded:no-answer']);
    assert.deepEqual(await events(blockedId), ['reminded:selected', 'reminded:undeliverable']);
    assert.deepEqual(await events(heldOutId), ['holdout:selected']);
    assert.deepEqual(await events(lowRiskId), []);
    assert.deepEqual(await events(optedOutId), []);

    // A reminder is a short history.
    for (const id of [confirmId, silentId, blockedId]) {
      const history = await reminder(id).fetchHistory();
      assert.ok((history.events?.length ?? 0) < 50, `reminder-${id}: ${history.events?.length} events`);
    }

    // Never a second reminder workflow for the appointment, even started by hand.
    await assert.rejects(
      h.client.workflow.start(WORKFLOW_TYPES.appointmentReminder, {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: workflowIds.reminder(confirmId),
        args: [{} as ReminderFacts],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      }),
      { name: 'WorkflowExecutionAlreadyStartedError' },
    );

    // The day's run finds the reminded set: sent reminders with their answers; undelivered and held out ones absent.
    const activities = createReminderActivities(h);
    const set = await activities.remindedSetFor({ runDate: today });
    assert.equal(set.remindedKey, reminderKeys.remindedSet(today));
    const lines = (await h.store.getText(reminderKeys.remindedSet(today))).trim().split('\n');
    assert.deepEqual(lines, [
      'appointment_id,answer',
      ...[`${confirmId},confirmed`, `${cancelId},cancelled`, `${silentId},`, `${foreignId},`].sort(),
    ]);
    assert.deepEqual(await activities.remindedSetFor({ runDate: addDays(today, 1) }), { reminded: 0 });
  });

  test('a press that comes before the workflow knows its reminder was sent is kept', async () => {
    const appointmentId = base + 500;
    const early = patient(appointmentId);
    await contacts.link(early.patientId, String(early.chatId), 'pt');
    // Telegram answers the first send 429 (retry after 3 s): the workflow waits for its send's result meanwhile,
    // as it does when a worker died after the message left.
    await control(emulatorUrl, 'faults', { chatId: early.chatId, rateLimit: { count: 1, retryAfter: 3 } });
    const handle = await h.client.workflow.start(WORKFLOW_TYPES.appointmentReminder, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.reminder(appointmentId),
      args: [
        {
          ...simulatedReminderFacts(early.patientId, new Date(Date.now() + 60_000), {
            doctorName: 'Dra. Ana Souza',
            clinicName: 'Clínica Jardim Camburi',
          }),
          appointmentId,
        } satisfies ReminderFacts,
      ],
    });
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await early.messages()).length, 0, 'the reminder has not arrived yet');
    const confirm = createCallbackData({ kind: 'r', appointmentId, action: 'confirm' }, early.chatId, SECRET);
    assert.equal(await press(early, confirm), TEXTS.pt.received);
    const result = (await handle.result()) as ReminderResult;
    assert.equal(result.outcome, 'confirmed');
    assert.equal(result.delivery, 'delivered');
    assert.equal((await early.messages()).length, 1, 'sent once');
    assert.deepEqual((await events(appointmentId)).sort(), ['reminded:confirmed', 'reminded:sent']);
  });
});
