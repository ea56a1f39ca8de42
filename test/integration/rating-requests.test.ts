/**
 * Patients rate their visits, on the real stack: two generated days in a database of this file's own, dbt, the
 * worker (ratingRequests → ratingRequest-<appointmentId>), the patients' bot polling the stack's Telegram emulator,
 * and simulated patients pressing its buttons. The answer window is shortened through the workflow's input
 * (`answerWindowMs`), never a 72-hour wait, and so is the comment window (`commentWindowMs`), never 24 hours.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDbtActivities } from '../../src/activities/dbt.js';
import { createRatingRequestActivities } from '../../src/activities/rating-requests.js';
import { createCallbackData, createReplyRef } from '../../src/bot/callback-data.js';
import { sealComment } from '../../src/bot/comment.js';
import { createContactStore, type ContactStore } from '../../src/bot/contacts.js';
import { startBot, type RunningBot } from '../../src/bot/run.js';
import { callbackAnswers, control, SimulatedPatient } from '../../src/bot/simulator.js';
import { TEXTS } from '../../src/bot/texts.js';
import { weekdaysFrom } from '../../src/domain/dates.js';
import { RATING_REQUESTS } from '../../src/domain/rating-requests.js';
import type { RatingRequestResult, RatingRequestsResult } from '../../src/workflows/rating-requests.js';
import { PATIENT_COMMENT_UPDATE, WORKFLOW_TYPES, workflowIds } from '../../src/workflow-ids.js';
import { freshDatabase, harness, testConfig, uniq, uniqueDate, type TestHarness } from '../support/env.js';
import { ingestDay } from '../support/ingest-day.js';
import { unusedDate } from '../support/workflow-runs.js';

const SECRET = `rating-link-secret-${'r'.repeat(24)}`;
/** Long enough for a simulated patient to press on a loaded machine, short enough to wait for "no response". */
const ANSWER_WINDOW_MS = 30_000;
/** The comment window: long enough for the test's replies, short enough to wait for its end. */
const COMMENT_WINDOW_MS = 30_000;

interface Visit {
  appointment_id: number;
  patient_id: number;
  doctor_id: string;
}

describe('rating requests', { timeout: 1_200_000 }, () => {
  let h: TestHarness;
  let dataDir: string;
  let contacts: ContactStore;
  let bot: RunningBot;
  let emulatorUrl: string;
  let botToken: string;
  let day: string;
  let nextDay: string;
  let visits: Visit[];
  let runDbt: ReturnType<typeof createDbtActivities>['runDbt'];

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-ratings-'));
    botToken = `${randomInt(100_000, 999_999)}:rating-test-${uniq()}`;
    emulatorUrl = `http://127.0.0.1:${testConfig().localPorts.telegram}`;
    const databaseUrl = await freshDatabase(`hs_ratings_${uniq()}`);
    h = await harness(
      testConfig({
        DATABASE_URL: databaseUrl,
        HEALTHSYNTH_DATA_DIR: dataDir,
        TELEGRAM_API_ROOT: emulatorUrl,
        TELEGRAM_BOT_TOKEN: botToken,
        TELEGRAM_LINK_SECRET: SECRET,
        // The smallest cache: the three open requests below cannot all stay in it, so every test here also proves
        // that a request evicted from the worker's cache picks up its answers after a replay.
        WORKER_MAX_CACHED_WORKFLOWS: '2',
      }),
    );
    // A date no earlier run asked about: appointment ids, and so ratingRequest-<id>, are the date's own.
    [day, nextDay] = weekdaysFrom(
      await unusedDate(h.client, () => weekdaysFrom(uniqueDate(), 1)[0]!, workflowIds.ratingRequests),
      2,
    ) as [string, string];
    runDbt = createDbtActivities({ config: h.config }).runDbt;
    for (const date of [day, nextDay]) await ingestDay(h, date);
    assert.equal((await runDbt({ runDate: day, scope: 'day' })).testsFailed, 0);
    contacts = createContactStore(h.config);
    await contacts.ensureTable();
    bot = await startBot(h.config, { mode: 'polling', temporal: h.client, log: () => undefined });
    // Patients with exactly one attended visit that day, so each is asked exactly once.
    visits = await h.warehouse.query<Visit>(
      `select min(cast(appointment_id as bigint)) as appointment_id, cast(patient_id as bigint) as patient_id,
              min(doctor_id) as doctor_id
       from marts.appointments
       where batch_on = cast($1 as date) and appointment_on = cast($1 as date) and not is_no_show
       group by patient_id
       having count(*) = 1
       order by 2`,
      [day],
    );
    visits = visits.map((v) => ({ ...v, appointment_id: Number(v.appointment_id), patient_id: Number(v.patient_id) }));
    assert.ok(visits.length >= 7, `attended visits on ${day}: ${visits.length}`);
  });

  after(async () => {
    await bot?.stop();
    await contacts?.close();
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const patient = (v: Visit, language = 'pt-br') => new SimulatedPatient(emulatorUrl, botToken, v.patient_id, language);
  const outcomes = async (appointmentId: number) =>
    h.warehouse.query<{ status: string; rating: number | null }>(
      `select status, rating from ${RATING_REQUESTS} where appointment_id = $1`,
      [appointmentId],
    );
  /** Runs the day's ratingRequests, as the pipeline does, with the short answer window. */
  const askDay = () =>
    h.client.workflow.execute<(i: object) => Promise<RatingRequestsResult>>(WORKFLOW_TYPES.ratingRequests, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.ratingRequests(day),
      args: [{ runDate: day, answerWindowMs: ANSWER_WINDOW_MS, commentWindowMs: COMMENT_WINDOW_MS }],
    });
  /** Presses `data` as `who` and returns the text the bot answered the press with. */
  const pressed = async (who: SimulatedPatient, data: string): Promise<string | undefined> => {
    const n = (await callbackAnswers(emulatorUrl, botToken)).length;
    await who.press(data);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const all = await callbackAnswers(emulatorUrl, botToken);
      if (all.length > n) return all[n]?.text;
      if (Date.now() > deadline) throw new Error('the bot did not answer the press');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** Sends a message as `who` (with `send`) and returns the text the bot replied with in that chat. */
  const botReplyTo = async (who: SimulatedPatient, send: () => Promise<void>): Promise<string> => {
    const n = (await who.messages()).length;
    await send();
    return (await who.waitForMessage(n, 20_000)).text;
  };
  /** Waits until the request's row is written (the rating is recorded before any comment is invited). */
  const recorded = async (appointmentId: number) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await outcomes(appointmentId);
      if (rows.length > 0) return rows;
      if (Date.now() > deadline) throw new Error(`no row for appointment ${appointmentId}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Starts one visit's ratingRequest by hand, with the short windows. */
  const startRequest = (visit: Visit, commentWindowMs = COMMENT_WINDOW_MS) =>
    h.client.workflow.start(WORKFLOW_TYPES.ratingRequest, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: workflowIds.ratingRequest(visit.appointment_id),
      args: [
        {
          appointmentId: visit.appointment_id,
          patientId: visit.patient_id,
          appointmentDay: day,
          answerWindowMs: ANSWER_WINDOW_MS,
          commentWindowMs,
        },
      ],
    });
  const commentOf = async (appointmentId: number) =>
    (
      await h.warehouse.query<{ comment: string | null }>(
        `select comment from ${RATING_REQUESTS} where appointment_id = $1`,
        [appointmentId],
      )
    ).map((r) => r.comment);

  test('linked patients are asked once; 4 stars are recorded at once and count in the next day’s doctor rating; a comment is recorded once with it (capped at 500), foreign, forged, early, second and late comments change nothing; silence is "no response"; opted-out patients get nothing', async () => {
    const [rater, silent, optedOut, unlinked, quiet] = visits as [Visit, Visit, Visit, Visit, Visit];
    const alice = patient(rater);
    const bob = patient(silent, 'en');
    const carol = patient(optedOut);
    await contacts.link(alice.patientId, String(alice.chatId), 'pt');
    await contacts.link(bob.patientId, String(bob.chatId), 'en');
    await contacts.link(carol.patientId, String(carol.chatId), 'pt');
    const dave = patient(quiet);
    await contacts.link(dave.patientId, String(dave.chatId), 'pt');
    await contacts.optOutPatient(carol.patientId);

    const started = await askDay();
    assert.deepEqual(started, { runDate: day, requested: 3, alreadyRequested: 0 });

    // Alice is asked in Portuguese, naming her doctor, with five star buttons signed for her chat.
    const question = await alice.waitForMessage(0, 30_000);
    const [doctor] = await h.warehouse.query<{ full_name: string }>(
      'select full_name from staging.stg_doctors where doctor_id = $1',
      [rater.doctor_id],
    );
    assert.equal(question.text, TEXTS.pt.ratingQuestion.replace('{doctor}', doctor!.full_name));
    const buttons = await alice.buttons();
    assert.equal(buttons.length, 5);
    assert.match((await bob.waitForMessage(0, 30_000)).text ?? '', /^How was your visit with Dr/);
    await dave.waitForMessage(0, 30_000);
    // Three requests wait for an answer; the worker's cache holds two (WORKER_MAX_CACHED_WORKFLOWS).
    assert.ok(
      h.worker!.worker.getStatus().numCachedWorkflows <= 2,
      `cached: ${h.worker!.worker.getStatus().numCachedWorkflows}`,
    );

    // Foreign and forged presses change nothing: Alice's button pressed in Bob's chat, Bob's own well-signed button
    // for Alice's appointment, and a forged signature.
    const aliceFour = createCallbackData(
      { kind: 'q', appointmentId: rater.appointment_id, action: '4' },
      alice.chatId,
      SECRET,
    );
    assert.equal(await pressed(bob, aliceFour), TEXTS.en.expired);
    const bobsForAlice = createCallbackData(
      { kind: 'q', appointmentId: rater.appointment_id, action: '1' },
      bob.chatId,
      SECRET,
    );
    assert.equal(await pressed(bob, bobsForAlice), TEXTS.en.expired);
    assert.equal(await pressed(alice, `q:${rater.appointment_id}:5:AAAAAAAAAAAA`), TEXTS.pt.expired);

    // A comment before any rating is refused: Bob replies with a reference to his own (well-signed) request.
    const bobRef = createReplyRef(silent.appointment_id, bob.chatId, SECRET);
    assert.equal(
      await botReplyTo(bob, () => bob.sendWithReplyTo('Too early', { message_id: 1, text: `Hi\n\n${bobRef}` })),
      TEXTS.en.commentExpired,
    );

    // Alice presses 4 stars: recorded at once (before any comment); a replayed press (5 stars) is refused.
    assert.equal(await pressed(alice, buttons[3]!), TEXTS.pt.received);
    const aliceRun = h.client.workflow.getHandle(workflowIds.ratingRequest(rater.appointment_id));
    assert.deepEqual(await recorded(rater.appointment_id), [{ status: 'rated', rating: 4 }]);
    assert.deepEqual(await commentOf(rater.appointment_id), [null]);
    assert.equal(await pressed(alice, buttons[4]!), TEXTS.pt.expired);

    // She is invited to comment, in Portuguese, as a ForceReply carrying a reference signed for her chat.
    const invitation = await alice.waitForMessage(1, 30_000);
    assert.ok(invitation.text.startsWith(TEXTS.pt.commentInvitation.split('{hours}')[0]!), invitation.text);
    assert.ok(invitation.text.endsWith(createReplyRef(rater.appointment_id, alice.chatId, SECRET)));
    assert.deepEqual(invitation.replyMarkup, { force_reply: true });
    assert.equal(typeof invitation.messageId, 'number');

    // Foreign and forged replies change nothing: Alice's invitation replayed from Bob's chat, a made-up reference.
    assert.equal(
      await botReplyTo(bob, () =>
        bob.sendWithReplyTo('Not mine', { message_id: invitation.messageId!, text: invitation.text }),
      ),
      TEXTS.en.commentExpired,
    );
    assert.equal(
      await botReplyTo(alice, () =>
        alice.sendWithReplyTo('Forged', { message_id: 1, text: `ref. ${rater.appointment_id}-AAAAAAAAAAAA` }),
      ),
      TEXTS.pt.commentExpired,
    );

    // Alice replies with 600 characters and control characters: 500 are kept, the bot says so; a second is refused.
    const long = `Muito bom\u0007 atendimento.\u0000 ${'x'.repeat(600)}`;
    assert.equal(await botReplyTo(alice, () => alice.reply(long, invitation.messageId)), TEXTS.pt.commentTruncated);
    assert.equal(
      await botReplyTo(alice, () => alice.reply('Mais uma coisa', invitation.messageId)),
      TEXTS.pt.commentExpired,
    );
    const result = (await aliceRun.result()) as RatingRequestResult;
    assert.deepEqual(result, {
      appointmentId: rater.appointment_id,
      status: 'rated',
      rating: 4,
      delivery: 'delivered',
      commented: true,
    });
    const expectedComment = `Muito bom atendimento. ${'x'.repeat(600)}`.slice(0, 500);
    assert.deepEqual(await commentOf(rater.appointment_id), [expectedComment]);
    assert.deepEqual(await outcomes(rater.appointment_id), [{ status: 'rated', rating: 4 }]);
    const events = (await aliceRun.fetchHistory()).events ?? [];
    console.log(`ratingRequest history (rated and commented): ${events.length} events`);
    assert.ok(events.length < 50, `ratingRequest history: ${events.length} events`);
    // Without the payload codec the history holds the comment only sealed.
    const historyJson = JSON.stringify(await aliceRun.fetchHistory());
    assert.ok(!historyJson.includes(Buffer.from('Muito bom').toString('base64')), 'the comment is not in the history');
    assert.ok(!historyJson.includes('Muito bom'));

    // Dave rates 2 stars and lets the comment window pass: no comment; a reply after it is refused, nothing changes.
    await dave.waitForMessage(0, 30_000);
    assert.equal(await pressed(dave, (await dave.buttons())[1]!), TEXTS.pt.received);
    const daveInvitation = await dave.waitForMessage(1, 30_000);
    const daveRun = h.client.workflow.getHandle(workflowIds.ratingRequest(quiet.appointment_id));
    assert.deepEqual(await daveRun.result(), {
      appointmentId: quiet.appointment_id,
      status: 'rated',
      rating: 2,
      delivery: 'delivered',
      commented: false,
    });
    assert.equal(
      await botReplyTo(dave, () => dave.reply('Tarde demais', daveInvitation.messageId)),
      TEXTS.pt.commentExpired,
    );
    assert.deepEqual(await commentOf(quiet.appointment_id), [null]);

    // Bob never answers: "no response" once the window has passed, and no invitation to comment.
    const bobRun = h.client.workflow.getHandle(workflowIds.ratingRequest(silent.appointment_id));
    assert.equal(((await bobRun.result()) as RatingRequestResult).status, 'no-response');
    assert.deepEqual(await outcomes(silent.appointment_id), [{ status: 'no-response', rating: null }]);
    assert.equal(
      (await bob.messages()).filter((m) => m.replyMarkup && 'force_reply' in (m.replyMarkup as object)).length,
      0,
    );

    // Carol opted out and the fourth patient never linked: no workflow, no message, no row.
    for (const v of [optedOut, unlinked]) {
      await assert.rejects(h.client.workflow.getHandle(workflowIds.ratingRequest(v.appointment_id)).describe());
      assert.deepEqual(await outcomes(v.appointment_id), []);
    }
    assert.equal((await carol.messages()).length, 0);

    // A rerun of the date asks nobody again.
    const aliceMessages = (await alice.messages()).length;
    const rerun = await askDay();
    assert.deepEqual(rerun, { runDate: day, requested: 0, alreadyRequested: 3 });
    assert.equal((await alice.messages()).length, aliceMessages);

    // The next day's build counts the Telegram rating in the doctor's ranking, by source, with its comment.
    assert.equal((await runDbt({ runDate: nextDay, scope: 'day' })).testsFailed, 0);
    const telegram = await h.warehouse.query<{
      appointment_id: string;
      rating: number;
      source: string;
      comment: string | null;
    }>('select appointment_id, rating, source, comment from staging.stg_telegram_ratings where appointment_id = $1', [
      String(rater.appointment_id),
    ]);
    assert.deepEqual(telegram, [
      { appointment_id: String(rater.appointment_id), rating: 4, source: 'telegram', comment: expectedComment },
    ]);
    const ranking = await h.warehouse.query<{
      as_of_on: string;
      telegram_rating_count: number;
      counts_add_up: boolean;
    }>(
      `select cast(as_of_on as varchar) as as_of_on, telegram_rating_count,
              rating_count = survey_rating_count + telegram_rating_count as counts_add_up
       from marts.doctor_rating where doctor_id = $1 order by as_of_on`,
      [rater.doctor_id],
    );
    assert.deepEqual(
      ranking.map((r) => [r.as_of_on, Number(r.telegram_rating_count), r.counts_add_up]),
      [
        [day, 0, true],
        [nextDay, quiet.doctor_id === rater.doctor_id ? 2 : 1, true],
      ],
    );
  });

  test('a star pressed before the workflow knows its question was sent is kept', async () => {
    const visit = visits[3]!; // the first test's unlinked patient: never asked there
    const erin = patient(visit);
    await contacts.link(erin.patientId, String(erin.chatId), 'pt');
    // Telegram answers the first send 429 (retry after 3 s): the workflow waits for its send's result meanwhile,
    // as it does when a worker died after the message left.
    await control(emulatorUrl, 'faults', { chatId: erin.chatId, rateLimit: { count: 1, retryAfter: 3 } });
    const handle = await startRequest(visit, 1_000);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await erin.messages()).length, 0, 'the question has not arrived yet');
    const five = createCallbackData(
      { kind: 'q', appointmentId: visit.appointment_id, action: '5' },
      erin.chatId,
      SECRET,
    );
    assert.equal(await pressed(erin, five), TEXTS.pt.received);
    const result = (await handle.result()) as RatingRequestResult;
    assert.deepEqual([result.status, result.rating, result.delivery], ['rated', 5, 'delivered']);
    assert.deepEqual(await outcomes(visit.appointment_id), [{ status: 'rated', rating: 5 }]);
  });

  test('a comment that comes before the workflow knows its invitation was sent is kept', async () => {
    const visit = visits[6]!; // not asked by the other tests
    const gil = patient(visit);
    await contacts.link(gil.patientId, String(gil.chatId), 'pt');
    const handle = await startRequest(visit);
    await gil.waitForMessage(0, 30_000);
    // Telegram answers the invitation's first send 429 (retry after 5 s): the workflow waits for its result, as it
    // does when a worker died after the invitation left. Gil replies meanwhile, with the invitation's reference.
    await control(emulatorUrl, 'faults', { chatId: gil.chatId, rateLimit: { count: 1, retryAfter: 5 } });
    assert.equal(await pressed(gil, (await gil.buttons())[4]!), TEXTS.pt.received);
    for (const deadline = Date.now() + 30_000; ;) {
      const { pendingActivities } = await handle.describe().then((d) => d.raw);
      if (pendingActivities?.some((a) => (a.attempt ?? 0) >= 2)) break; // the invitation's send got its 429
      if (Date.now() > deadline) throw new Error('the invitation was never answered 429');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ref = createReplyRef(visit.appointment_id, gil.chatId, SECRET);
    assert.equal(
      await botReplyTo(gil, () => gil.sendWithReplyTo('Excelente', { message_id: 1, text: `Comente?\n\n${ref}` })),
      TEXTS.pt.commentReceived,
    );
    const result = (await handle.result()) as RatingRequestResult;
    assert.deepEqual([result.status, result.rating, result.commented], ['rated', 5, true]);
    assert.deepEqual(await commentOf(visit.appointment_id), ['Excelente']);
  });

  test('a comment that does not open with the worker’s secret is dropped: the request still completes, rated', async () => {
    const visit = visits[5]!; // not asked by the first test
    const fay = patient(visit);
    await contacts.link(fay.patientId, String(fay.chatId), 'pt');
    const handle = await startRequest(visit);
    await fay.waitForMessage(0, 30_000);
    assert.equal(await pressed(fay, (await fay.buttons())[2]!), TEXTS.pt.received);
    await fay.waitForMessage(1, 30_000); // the invitation to comment
    // A bot with another TELEGRAM_LINK_SECRET than the worker's (a rotation half done) seals Fay's comment.
    const sealedComment = sealComment('Bom', visit.appointment_id, `${SECRET}-rotated`);
    await handle.executeUpdate(PATIENT_COMMENT_UPDATE, { args: [{ patientId: visit.patient_id, sealedComment }] });
    assert.deepEqual(await handle.result(), {
      appointmentId: visit.appointment_id,
      status: 'rated',
      rating: 3,
      delivery: 'delivered',
      commented: false,
      commentDropped: 'unreadable',
    });
    assert.deepEqual(await outcomes(visit.appointment_id), [{ status: 'rated', rating: 3 }]);
    assert.deepEqual(await commentOf(visit.appointment_id), [null]);
  });

  test('the question is read from the appointment’s own day: another day or a malformed one finds nothing', async () => {
    const visit = visits[6]!;
    const { ratingRequestQuestion } = createRatingRequestActivities({ config: h.config, warehouse: h.warehouse });
    const [doctor] = await h.warehouse.query<{ full_name: string }>(
      'select full_name from staging.stg_doctors where doctor_id = $1',
      [visit.doctor_id],
    );
    const ids = { appointmentId: visit.appointment_id, patientId: visit.patient_id };
    const question = await ratingRequestQuestion({ ...ids, appointmentDay: day });
    assert.ok(doctor && question.text.includes(doctor.full_name), `${question.text} names ${doctor?.full_name}`);
    // The day bounds the lookup to one batch (the mart's batch_on index), so the wrong day does not find it.
    await assert.rejects(ratingRequestQuestion({ ...ids, appointmentDay: nextDay }), /is not in marts\.appointments/);
    await assert.rejects(ratingRequestQuestion({ ...ids, appointmentDay: '2026-13-01x' }), /appointmentDay must be/);
  });
});
