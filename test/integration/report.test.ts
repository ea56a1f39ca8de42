/**
 * The report activities end to end on real services: PostgreSQL (a private database holding a hand-filled
 * `marts.doctor_rating`, since dbt is not run here), the S3 server, and the local Slack/Telegram receiver.
 * Nothing is mocked; the only stand-in is the mart's contents, inserted by the test instead of built by dbt.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import sharp from 'sharp';
import { createNotifier } from '../../src/activities/notify.js';
import {
  createNotifyActivities,
  createReportActivities,
  doctorRatingSlackMessage,
  type QueryFn,
} from '../../src/activities/report.js';
import { keys, ObjectStore } from '../../src/activities/storage.js';
import { loadConfig, type Config } from '../../src/config.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { privateDatabase, uniqueDate } from '../support/warehouse-db.js';

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

  /** Replaces the ranking as of `asOf` with `count` sample rows (other dates' rankings stay, as in the mart). */
  async function fillMart(asOf: string, count: number): Promise<void> {
    await pool.query('delete from marts.doctor_rating where as_of_on = $1', [asOf]);
    for (const r of sampleDoctorRatingRows(count)) {
      await pool.query(`insert into marts.doctor_rating values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
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
      ]);
    }
  }

  function activities() {
    const notifier = createNotifier(config, { retry: { baseDelayMs: 20 }, log: () => {}, warn: () => {} });
    return {
      ...createReportActivities({ config, store, notifier, query }),
      ...createNotifyActivities({ notifier, store }),
    };
  }

  before(async () => {
    receiver = await startReceiver();
    const dbConfig = await privateDatabase(DB);
    if (dbConfig.warehouse.kind !== 'postgres') throw new Error('needs PostgreSQL');
    pool = new pg.Pool({ connectionString: dbConfig.warehouse.databaseUrl, max: 2 });
    await pool.query('create schema if not exists marts');
    await pool.query('drop table if exists marts.doctor_rating');
    await pool.query(`create table marts.doctor_rating (
      as_of_on date not null, doctor_id bigint not null, full_name text, specialty text, clinic_name text, rating_count integer,
      avg_rating numeric(4,2), patients integer, billing_per_patient_amount numeric(12,2), score numeric(8,2),
      score_rank integer, primary key (as_of_on, doctor_id))`);
    config = loadConfig({
      ...process.env,
      HEALTHSYNTH_DATA_DIR: '/nonexistent-outbox-must-not-be-used',
      SLACK_WEBHOOK_URL: receiver.slackUrl,
      TELEGRAM_BOT_TOKEN: '123456:REPORT-test',
      TELEGRAM_CHAT_ID: '777',
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

  test('build stores the chart in the object store; post sends it to Slack and Telegram', async () => {
    const runDate = uniqueDate();
    await fillMart(runDate, 18);
    const { buildDoctorRatingReport, postDoctorRatingReport } = activities();

    const built = await buildDoctorRatingReport({ runDate });
    written.push(built.reportKey);
    assert.equal(built.reportKey, keys.report(runDate));
    assert.equal(built.doctorsRanked, 18);
    assert.deepEqual(built.topDoctor, { name: sampleDoctorRatingRows(1)[0]?.full_name, score: 92.4 });

    const head = await store.head(built.reportKey);
    assert.ok(head && head.size > 10_000, `stored PNG of ${head?.size} bytes`);
    // The URL really serves the image (presigned against the local S3 server).
    const res = await fetch(built.reportUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const stored = Buffer.from(await res.arrayBuffer());
    assert.equal((await sharp(stored).metadata()).width, 1200);

    const results = await postDoctorRatingReport(built);
    assert.deepEqual(
      results.map((r) => [r.channel, r.status]),
      [
        ['slack', 'delivered'],
        ['telegram', 'delivered'],
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
    assert.ok(photo?.files?.photo?.bytes.equals(stored), 'Telegram got the stored PNG');
    assert.match(photo?.fields?.caption ?? '', new RegExp(`Doctor rating — ${runDate}`));
  });

  test('build is idempotent: a retry writes the same bytes to the same key', async () => {
    const runDate = uniqueDate();
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
    const runDate = uniqueDate();
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
    const runDate = uniqueDate();
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

  test('notify sends Slack, Telegram text and a stored photo in one call', async () => {
    const key = `reports/dt=${uniqueDate()}/notify-test.png`;
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#0a0' } })
      .png()
      .toBuffer();
    await store.put(key, png, 'image/png');
    written.push(key);
    const before = receiver.requests.length;
    const results = await activities().notify({
      slack: { name: 'weekend-notice', text: 'Closed this weekend' },
      telegramText: 'Closed this weekend. Emergency: 112',
      telegramPhoto: { key, caption: 'map' },
    });
    assert.deepEqual(
      results.map((r) => r.status),
      ['delivered', 'delivered', 'delivered'],
    );
    const mine = receiver.requests.slice(before);
    assert.equal(mine.length, 3);
    assert.ok(mine.find((r) => r.telegramMethod === 'sendPhoto')?.files?.photo?.bytes.equals(png));
    assert.deepEqual(mine.find((r) => r.telegramMethod === 'sendMessage')?.json, {
      chat_id: '777',
      text: 'Closed this weekend. Emergency: 112',
    });
  });

  test('the Slack message drops the image block when Slack could not fetch a private URL', () => {
    const report = {
      runDate: '2026-11-23',
      reportKey: keys.report('2026-11-23'),
      reportUrl: 'http://127.0.0.1:9100/healthsynth/reports/dt=2026-11-23/doctor-rating.png?X-Amz-Signature=abc',
      doctorsRanked: 3,
      topDoctor: { name: 'Dr. Ana Souza', score: 92.4 },
    };
    const toSlack = doctorRatingSlackMessage(report, 'https://hooks.slack.com/services/T/B/x');
    assert.ok(!toSlack.blocks?.some((b) => b.type === 'image'), 'no image block for a loopback URL');
    const publicUrl = { ...report, reportUrl: 'https://bucket.s3.amazonaws.com/reports/x.png?sig=1' };
    assert.ok(
      doctorRatingSlackMessage(publicUrl, 'https://hooks.slack.com/services/T/B/x').blocks?.some(
        (b) => b.type === 'image',
      ),
    );
  });
});
