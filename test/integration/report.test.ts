/**
 * The report activities end to end on real services: PostgreSQL (a private database holding a hand-filled
 * `marts.doctor_rating`, since dbt is not run here), the S3 server, and the local Slack/Telegram receiver, with
 * the chart delivered to staff by the delivery activities (called directly here; the workflow tests run them
 * under Temporal). Nothing is mocked; the only stand-in is the mart's contents, inserted by the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import sharp from 'sharp';
import { createDeliveryActivities, deliveryKey } from '../../src/activities/delivery.js';
import { createNotifier } from '../../src/activities/notifier.js';
import { createNotifyActivities } from '../../src/activities/notify.js';
import { createReportActivities, type QueryFn } from '../../src/activities/report.js';
import { keys, ObjectStore } from '../../src/activities/storage.js';
import { loadConfig, type Config } from '../../src/config.js';
import { doctorRatingCaption, doctorRatingMessage, noShowRiskMessage } from '../../src/domain/messages.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';
import { freshDatabase, uniq, uniqueDate } from '../support/env.js';
import { chatIdOf, startReceiver, type Receiver } from '../support/receiver.js';

const DB = 'hs_report_test';

type SlackBody = { text: string; blocks: Array<{ type: string; image_url?: string; text?: { text: string } }> };

describe('doctor-rating report activities', () => {
  let receiver: Receiver;
  let config: Config;
  let store: ObjectStore;
  let pool: pg.Pool;
  const written: string[] = [];

  /** The warehouse's small-result query, run for real against the private database. */
  const query: QueryFn = async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[];

  /**
   * Replaces the ranking as of `asOf` with `count` sample rows (other dates' rankings stay, as in the mart); the
   * i-th doctor has i of its ratings from Telegram.
   */
  async function fillMart(asOf: string, count: number): Promise<void> {
    await pool.query('delete from marts.doctor_rating where as_of_on = $1', [asOf]);
    for (const [i, r] of sampleDoctorRatingRows(count).entries()) {
      await pool.query(
        `insert into marts.doctor_rating values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          asOf,
          r.doctor_id,
          r.full_name,
          r.specialty,
          r.clinic_name,
          r.rating_count,
          r.avg_rating,
          r.patients,
          r.billing_per_patient_amount,
          r.score,
          r.score_rank,
          Number(r.rating_count) - i,
          i,
        ],
      );
    }
  }

  function activities() {
    const notifier = createNotifier(config, { log: () => {} });
    return {
      ...createReportActivities({ store, notifier, query }),
      ...createNotifyActivities({ notifier, store }),
      ...createDeliveryActivities({ store, notifier }),
    };
  }

  before(async () => {
    receiver = await startReceiver();
    pool = new pg.Pool({ connectionString: await freshDatabase(DB), max: 2 });
    await pool.query('create schema if not exists marts');
    await pool.query('drop table if exists marts.doctor_rating');
    await pool.query(`create table marts.doctor_rating (
      as_of_on date not null, doctor_id bigint not null, full_name text, specialty text, clinic_name text, rating_count integer,
      avg_rating numeric(4,2), patients integer, billing_per_patient_amount numeric(12,2), score numeric(8,2),
      score_rank integer, survey_rating_count integer, telegram_rating_count integer,
      primary key (as_of_on, doctor_id))`);
    // As dbt builds it (dbt/models/marts/reminder_effect.sql); empty unless a test fills it.
    await pool.query(`create table marts.reminder_effect (
      period text, period_start date, period_end date, strata integer, reminded integer, reminded_no_shows integer,
      holdout integer, holdout_no_shows integer, cancelled integer, relative_risk double precision,
      relative_risk_low double precision, relative_risk_high double precision, prevented_no_shows double precision,
      prevented_low double precision, prevented_high double precision)`);
    config = loadConfig({
      ...process.env,
      HEALTHSYNTH_DATA_DIR: '/nonexistent-outbox-must-not-be-used',
      SLACK_WEBHOOK_URL: receiver.slackUrl,
      TELEGRAM_BOT_TOKEN: '123456:REPORT-test',
      TELEGRAM_STAFF_CHAT_ID: '777',
      TELEGRAM_PATIENT_CHAT_ID: '888',
      TELEGRAM_API_ROOT: receiver.telegramApiRoot,
    });
    store = ObjectStore.fromConfig(config.s3);
    await store.ensureBucket();
  });

  after(async () => {
    try {
      await store.delete(written);
      await pool.query('drop schema marts cascade');
    } finally {
      store.client.destroy();
      await pool.end();
      await receiver.close();
    }
  });

  test('build stores the chart; delivery sends it to Slack and the staff Telegram chat, once', async () => {
    const runDate = uniqueDate('warehouse');
    await fillMart(runDate, 18);
    const { buildDoctorRatingReport, deliverSlack, deliverTelegram } = activities();

    const built = await buildDoctorRatingReport({ runDate });
    written.push(built.reportKey);
    assert.equal(built.reportKey, keys.report(runDate));
    assert.equal(built.doctorsRanked, 18);
    assert.deepEqual(built.topDoctor, { name: sampleDoctorRatingRows(1)[0]?.full_name, score: 92.4 });
    // Ratings by source over the whole ranking, not only the charted top 15: Telegram 0 + 1 + … + 17.
    const total = sampleDoctorRatingRows(18).reduce((n, r) => n + Number(r.rating_count), 0);
    assert.deepEqual(built.ratingsBySource, { survey: total - 153, telegram: 153 });

    const head = await store.head(built.reportKey);
    assert.ok(head && head.size > 10_000, `stored PNG of ${head?.size} bytes`);
    // The URL really serves the image (presigned against the local S3 server).
    const res = await fetch(built.reportUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const stored = Buffer.from(await res.arrayBuffer());
    assert.equal((await sharp(stored).metadata()).width, 1200);

    // A scope of its own: delivery records stay in the bucket, and this test must send for real.
    const message = doctorRatingMessage(`test-report-${uniq()}`, built);
    written.push(
      deliveryKey(message.scope, message.name, 'slack'),
      deliveryKey(message.scope, message.name, 'telegram'),
    );
    const results = [await deliverSlack(message), await deliverTelegram(message)];
    assert.deepEqual(
      results.map((r) => [r.channel, r.status, r.audience]),
      [
        ['slack', 'delivered', 'staff'],
        ['telegram', 'delivered', 'staff'],
      ],
    );
    const slack = receiver.requests.find((r) => r.channel === 'slack');
    const body = slack?.json as SlackBody;
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ['header', 'section', 'image', 'context'],
    );
    assert.equal(body.blocks[2]?.image_url, built.reportUrl);
    assert.match(body.blocks[1]?.text?.text ?? '', /\*Doctors ranked:\* 18/);
    const photo = receiver.requests.find((r) => r.telegramMethod === 'sendPhoto');
    assert.ok(photo);
    assert.ok(photo.files?.photo?.bytes.equals(stored), 'Telegram got the stored PNG');
    assert.equal(chatIdOf(photo), '777', 'the chart goes to the staff chat');
    assert.match(photo?.fields?.caption ?? '', new RegExp(`Doctor rating — ${runDate}`));

    // Delivered again (a retry or a rerun of the date): the records answer, nothing is sent.
    const before = receiver.requests.length;
    const again = [await deliverSlack(message), await deliverTelegram(message)];
    assert.deepEqual(
      again.map((r) => [r.status, r.alreadyDelivered]),
      [
        ['delivered', true],
        ['delivered', true],
      ],
    );
    assert.equal(receiver.requests.length, before, 'no second request');
  });

  test('the no-show chart: clinic aggregates stored beside the rating chart, sent to both staff channels once', async () => {
    const runDate = uniqueDate('warehouse');
    await pool.query(`create table if not exists marts.no_show_risk (appointment_id varchar(64), appointment_day date,
      doctor_id varchar(64), clinic_id varchar(64), probability double precision, risk_decile integer,
      model_version varchar(64), scored_on date)`);
    const { buildNoShowRiskReport, deliverSlack, deliverTelegram } = activities();
    assert.equal(await buildNoShowRiskReport({ runDate }), undefined, 'nothing scored: no chart');
    // 30 appointments in 3 clinics: probabilities 0.05 … 0.95, deciles 1-10 (three of decile 10, one per clinic).
    for (let i = 0; i < 30; i += 1) {
      await pool.query('insert into marts.no_show_risk values ($1, $2, $3, $4, $5, $6, $7, $8)', [
        `APT-${runDate}-${i}`,
        '2030-01-02',
        `DOC-${i % 5}`,
        `CLN-000${i % 3}`,
        0.05 + (0.9 * i) / 29,
        Math.floor(i / 3) + 1,
        `no-show-${runDate}`,
        runDate,
      ]);
    }
    const built = await buildNoShowRiskReport({ runDate });
    assert.ok(built);
    written.push(built.reportKey);
    assert.equal(built.reportKey, keys.riskReport(runDate));
    assert.deepEqual(
      [built.appointmentDay, built.clinics, built.appointments, built.expectedNoShows, built.highRisk],
      ['2030-01-02', 3, 30, 15, 3],
    );
    const stored = await store.get(built.reportKey);
    const png = Buffer.concat(await stored.toArray());
    assert.equal((await sharp(png).metadata()).width, 1200);

    const message = noShowRiskMessage(`test-risk-${uniq()}`, built);
    written.push(
      deliveryKey(message.scope, message.name, 'slack'),
      deliveryKey(message.scope, message.name, 'telegram'),
    );
    const before = receiver.requests.length;
    const results = [await deliverSlack(message), await deliverTelegram(message)];
    assert.deepEqual(
      results.map((r) => [r.channel, r.status, r.audience]),
      [
        ['slack', 'delivered', 'staff'],
        ['telegram', 'delivered', 'staff'],
      ],
    );
    const mine = receiver.requests.slice(before);
    const body = mine.find((r) => r.channel === 'slack')?.json as SlackBody;
    assert.equal(body.blocks[2]?.image_url, built.reportUrl);
    assert.match(body.blocks[1]?.text?.text ?? '', /\*Expected no-shows:\* 15\.0/);
    const photo = mine.find((r) => r.telegramMethod === 'sendPhoto');
    assert.ok(photo?.files?.photo?.bytes.equals(png), 'Telegram got the stored PNG');
    assert.equal(chatIdOf(photo!), '777', 'the chart goes to the staff chat');
    assert.doesNotMatch(JSON.stringify(mine.map((r) => [r.json, r.fields])), /APT-|DOC-/, 'no appointment or doctor');

    const again = [await deliverSlack(message), await deliverTelegram(message)];
    assert.deepEqual(
      again.map((r) => r.alreadyDelivered),
      [true, true],
    );
    assert.equal(receiver.requests.length, before + 2, 'sent once');
  });

  test("Mondays carry the reminders' effect, last week's and to date; other days do not", async () => {
    // A Monday: 2016-03-07. Rows of marts.reminder_effect: two weeks and the whole history; the week that ended in
    // the seven days before the Monday is 2016-02-29..2016-03-04, the one before it is left out.
    const monday = '2016-03-07';
    await pool.query('delete from marts.reminder_effect');
    await pool.query(`insert into marts.reminder_effect values
      ('week', '2016-02-22', '2016-02-26', 3, 700, 160, 180, 58, 9, 0.86, 0.70, 1.05, 26.0, -7.6, 68.6),
      ('week', '2016-02-29', '2016-03-04', 3, 800, 170, 200, 70, 12, 0.7712, 0.6501, 0.9148, 50.4, 15.8, 91.5),
      ('all', '2016-02-22', '2016-03-04', 4, 1500, 330, 380, 128, 21, 0.80, 0.70, 0.92, 82.5, 28.7, 141.4)`);
    await fillMart(monday, 3);
    const { buildDoctorRatingReport } = activities();
    const built = await buildDoctorRatingReport({ runDate: monday });
    written.push(built.reportKey);
    assert.deepEqual(built.reminderEffect, {
      week: {
        from: '2016-02-29',
        to: '2016-03-04',
        reminded: 800,
        holdout: 200,
        cancelled: 12,
        relativeRisk: 0.7712,
        low: 0.6501,
        high: 0.9148,
        prevented: 50.4,
        preventedLow: 15.8,
        preventedHigh: 91.5,
      },
      toDate: {
        from: '2016-02-22',
        to: '2016-03-04',
        reminded: 1500,
        holdout: 380,
        cancelled: 21,
        relativeRisk: 0.8,
        low: 0.7,
        high: 0.92,
        prevented: 82.5,
        preventedLow: 28.7,
        preventedHigh: 141.4,
      },
    });
    assert.match(
      doctorRatingCaption(built),
      /Reminders last week 2016-02-29–2016-03-04: no-show risk ×0\.77 \(95% CI 0\.65–0\.91\), 50 no-shows prevented \(16–92\); 800 reminded, 200 held out, 12 cancelled\nReminders to date 2016-02-22–2016-03-04: no-show risk ×0\.80/,
    );

    // The Tuesday after: the same rows, no section.
    const tuesday = '2016-03-08';
    await fillMart(tuesday, 3);
    const other = await buildDoctorRatingReport({ runDate: tuesday });
    written.push(other.reportKey);
    assert.equal(other.reminderEffect, undefined);
    assert.doesNotMatch(doctorRatingCaption(other), /Reminders/);
    await pool.query('delete from marts.reminder_effect');
  });

  test('build is idempotent: a retry writes the same bytes to the same key', async () => {
    const runDate = uniqueDate('warehouse');
    await fillMart(runDate, 6);
    const { buildDoctorRatingReport } = activities();
    const a = await buildDoctorRatingReport({ runDate });
    written.push(a.reportKey);
    const first = await store.head(a.reportKey);
    const b = await buildDoctorRatingReport({ runDate });
    const second = await store.head(b.reportKey);
    assert.equal(a.reportKey, b.reportKey);
    assert.equal(first?.etag, second?.etag);
    assert.equal(first?.size, second?.size);
  });

  test("the report reads its own date's ranking while other dates' rankings sit in the mart", async () => {
    const runDate = uniqueDate('warehouse');
    const [y, m, d] = runDate.split('-').map(Number) as [number, number, number];
    const dayBefore = new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
    const dayAfter = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    await fillMart(dayBefore, 4);
    await fillMart(runDate, 7);
    await fillMart(dayAfter, 12);
    const built = await activities().buildDoctorRatingReport({ runDate });
    written.push(built.reportKey);
    assert.equal(built.doctorsRanked, 7);
    assert.equal(built.topDoctor?.score, 92.4);
  });

  test('no ranking for the run date fails with NoRatingData, without writing a report', async () => {
    const runDate = uniqueDate('warehouse');
    const [y, m, d] = runDate.split('-').map(Number) as [number, number, number];
    await fillMart(new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10), 5); // only yesterday's ranking
    await assert.rejects(activities().buildDoctorRatingReport({ runDate }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
      assert.equal(err.type, 'NoRatingData');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, new RegExp(`dbt has not built the ranking for that date.*${runDate}`));
      return true;
    });
    assert.equal(await store.head(keys.report(runDate)), undefined, 'no chart is stored for a date without data');
  });

  test('the legacy notify activity (runs started before per-message delivery) sends to staff only, once', async () => {
    const name = `legacy-${uniq()}`;
    written.push(deliveryKey('legacy', `${name}-run`, 'slack'), deliveryKey('legacy', `${name}-run`, 'telegram'));
    const before = receiver.requests.length;
    const send = () =>
      activities().notify({
        name,
        slack: { name, text: 'Health Synth run failed at step ingest' },
        telegramText: 'Health Synth run failed at step ingest',
      });
    const results = await send();
    assert.deepEqual(
      results.map((r) => [r.channel, r.status]),
      [
        ['slack', 'delivered'],
        ['telegram', 'delivered'],
      ],
    );
    const mine = receiver.requests.slice(before);
    assert.equal(mine.length, 2);
    const text = mine.find((r) => r.telegramMethod === 'sendMessage');
    assert.ok(text);
    assert.equal(chatIdOf(text), '777', 'alerts reach the staff chat, never the patients chat (888)');
    assert.ok((await send()).every((r) => r.alreadyDelivered));
    assert.equal(receiver.requests.length, before + 2, 'a retry sends nothing again');
  });
});
