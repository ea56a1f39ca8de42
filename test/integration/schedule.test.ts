/**
 * Tomorrow's schedule, the truth files and the reminded set (issue 11 §2) on the real stack (PostgreSQL, S3, dbt), at
 * small scale: a Friday's schedule loaded into raw.schedule equals Monday's loaded appointments booked by Friday's
 * end, row for row; a second load of it changes nothing; the truth is in the object store for every appointment and
 * nowhere in the warehouse or dbt's sources; a reminded set read by key scales exactly the reminded probabilities;
 * retention deletes the truth of an expired day with its raw objects.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { parse as parseYaml } from 'yaml';
import { ApplicationFailure } from '@temporalio/common';
import { createCleanupActivities } from '../../src/activities/cleanup.js';
import { createDbtActivities } from '../../src/activities/dbt.js';
import { createGenerateActivities } from '../../src/activities/generate.js';
import { createLoadActivities } from '../../src/activities/load.js';
import { keys } from '../../src/activities/storage.js';
import { addDays } from '../../src/domain/dates.js';
import { ID_DAY_STRIDE, TRUTH_HEADER, parseDayIndex } from '../../src/domain/generator/index.js';
import { planShards } from '../../src/domain/shards.js';
import {
  deleteBucket,
  freshDatabase,
  harness,
  testConfig,
  uniq,
  uniqueDate,
  type TestHarness,
} from '../support/env.js';
import { ingestDay } from '../support/ingest-day.js';

type Row = Record<string, string>;

/** A random Friday in the warehouse tests' range (2000-2009), so no other test shares its raw objects. */
function uniqueFriday(): string {
  const date = uniqueDate('warehouse');
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
  return addDays(date, (5 - weekday + 7) % 7);
}

describe("tomorrow's schedule and the truth on the real stack", { timeout: 900_000 }, () => {
  let h: TestHarness;
  let dataDir: string;
  const bucket = `hs-schedule-${uniq()}`.toLowerCase();
  const friday = uniqueFriday();
  const monday = addDays(friday, 3);
  // Only generated, never loaded: the reminded-set runs rewrite its raw objects.
  const wednesday = addDays(friday, -2);
  const shared = 'appointment_id, patient_id, doctor_id, scheduled_at, appointment_day, sms_received';

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-schedule-'));
    const databaseUrl = await freshDatabase(`hs_schedule_${uniq()}`);
    // A bucket of its own: the retention test sweeps every day before its cutoff.
    const config = testConfig({ DATABASE_URL: databaseUrl, HEALTHSYNTH_DATA_DIR: dataDir, S3_BUCKET: bucket });
    h = await harness(config, { worker: false });
    await ingestDay(h, friday);
    await ingestDay(h, monday);
  });

  after(async () => {
    if (h) await deleteBucket(h.store);
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const truthOf = async (date: string): Promise<Row[]> => {
    const objects = await h.store.list(`truth/appointments/dt=${date}/`);
    const texts = await Promise.all(objects.map((o) => h.store.getText(o.key)));
    for (const text of texts) assert.equal(text.slice(0, text.indexOf('\n')), TRUTH_HEADER);
    return texts.flatMap((text) => parse(text, { columns: true }) as Row[]);
  };

  test("a Friday's schedule is Monday's appointments booked by Friday's end, row for row, after load", async () => {
    const schedule = await h.warehouse.query<Row>(
      `select ${shared} from raw.schedule where batch_date = '${friday}' order by appointment_id`,
    );
    const booked = await h.warehouse.query<Row>(
      `select ${shared} from raw.appointments
        where batch_date = '${monday}' and scheduled_at < date '${friday}' + 1 order by appointment_id`,
    );
    const all = await h.warehouse.query<{ n: string }>(
      `select count(*) as n from raw.appointments where batch_date = '${monday}'`,
    );
    assert.ok(schedule.length > 300 && schedule.length < Number(all[0]?.n), `${schedule.length} booked by Friday`);
    assert.deepEqual(schedule, booked);
  });

  test('the schedule loads exactly once: a second load of the same objects changes nothing', async () => {
    const { generateShard } = createGenerateActivities({ store: h.store, config: h.config });
    const { loadBatch } = createLoadActivities({ warehouse: h.warehouse });
    const before = await h.warehouse.countBatch('schedule', friday);
    const objects = await Promise.all(
      Array.from({ length: planShards('schedule', 'small', h.config.shardRows) }, (_, shard) =>
        generateShard({ entity: 'schedule', runDate: friday, scale: 'small', shard, seed: h.config.seed }),
      ),
    );
    const again = await loadBatch({ entity: 'schedule', batchDate: friday, objects });
    assert.equal(again.status, 'unchanged');
    assert.equal(again.rows, before);
    assert.equal(await h.warehouse.countBatch('schedule', friday), before);
    const [dupes] = await h.warehouse.query<{ n: string }>(
      `select count(*) - count(distinct appointment_id) as n from raw.schedule where batch_date = '${friday}'`,
    );
    assert.equal(Number(dupes?.n), 0);
  });

  test('dbt builds stg_schedule from the published batches, and its source tests pass', async () => {
    const { runDbt } = createDbtActivities({ config: h.config });
    for (const date of [friday, monday]) {
      const summary = await runDbt({ runDate: date, scope: 'day' });
      assert.equal(summary.testsFailed, 0, summary.failingTests.join(', '));
    }
    const [counts] = await h.warehouse.query<{ staged: string; raw: string }>(
      `select (select count(*) from staging.stg_schedule where batch_on = '${friday}') as staged,
              (select count(*) from raw.schedule where batch_date = '${friday}') as raw`,
    );
    assert.equal(counts?.staged, counts?.raw);
  });

  test('truth: every appointment of the day, probabilities in (0, 1), mean near the realized rate', async () => {
    const truth = await truthOf(friday);
    const appointments = await h.warehouse.query<{ appointment_id: string; no_show: boolean }>(
      `select appointment_id, no_show from raw.appointments where batch_date = '${friday}' order by appointment_id`,
    );
    assert.deepEqual(
      truth.map((r) => r.appointment_id).sort(),
      appointments.map((r) => String(r.appointment_id)).sort(),
    );
    const p = truth.map((r) => Number(r.no_show_probability));
    assert.ok(
      p.every((x) => x > 0 && x < 1),
      'probabilities in (0, 1)',
    );
    const mean = p.reduce((a, b) => a + b, 0) / p.length;
    const realized = appointments.filter((r) => r.no_show).length / appointments.length;
    // 1,000 draws: the realized rate's standard error is about 0.013.
    assert.ok(Math.abs(mean - realized) < 0.05, `mean probability ${mean}, realized ${realized}`);
  });

  test('no raw table and no dbt source holds the truth', async () => {
    const columns = await h.warehouse.query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns
        where table_schema in ('raw', 'staging', 'marts') and column_name like '%probab%'
        order by table_name, column_name`,
    );
    // Only the model's own scores may be called a probability: the reminders keep the score that chose them. The
    // generator's true probabilities never reach a table.
    const modelScores = ['no_show_risk', 'reminder_events', 'reminder_outcomes'];
    assert.deepEqual(
      columns.filter((c) => !(modelScores.includes(c.table_name) && c.column_name === 'probability')),
      [],
    );
    // dbt's sources the same way: only raw.reminder_events' probability (the model's score) may say so.
    const sources = parseYaml(
      await readFile(new URL('../../dbt/models/staging/__sources.yml', import.meta.url), 'utf8'),
    ) as { sources: { tables: { name: string; columns: { name: string }[] }[] }[] };
    for (const table of sources.sources.flatMap((s) => s.tables)) {
      if (table.name === 'reminder_events') table.columns = table.columns.filter((c) => c.name !== 'probability');
    }
    assert.doesNotMatch(JSON.stringify(sources), /probab|truth/i);
    assert.equal((await h.store.list('raw/truth/')).length, 0);
  });

  test('a reminded set, by key: reminded probabilities exactly RR times, the other rows unchanged', async () => {
    const { generateShard } = createGenerateActivities({ store: h.store, config: h.config });
    const rr = h.config.reminderRelativeRisk;
    assert.equal(rr, 0.77);
    const base = { runDate: wednesday, scale: 'small' as const, shard: 0, seed: h.config.seed };
    const rowsOf = async (entity: 'appointments' | 'records', remindedKey?: string) => {
      await generateShard({ ...base, entity, ...(remindedKey ? { remindedKey } : {}) });
      return parse(await h.store.getText(keys.rawPart(entity, wednesday, 0)), { columns: true }) as Row[];
    };
    const plainAppointments = await rowsOf('appointments');
    const plainRecords = await rowsOf('records');
    const plainTruth = await truthOf(wednesday);

    const day = parseDayIndex(wednesday) as number;
    const reminded = new Set(plainAppointments.filter((_, k) => k % 4 === 0).map((r) => r.appointment_id as string));
    const remindedKey = `reminders/dt=${wednesday}/${uniq()}.csv`;
    await h.store.put(remindedKey, [Buffer.from(`appointment_id\n${[...reminded].join('\n')}\n`)], 'text/csv');

    const appointments = await rowsOf('appointments', remindedKey);
    const records = await rowsOf('records', remindedKey);
    const truth = await truthOf(wednesday);
    assert.equal(truth.length, plainTruth.length);
    for (let k = 0; k < truth.length; k++) {
      const id = truth[k]?.appointment_id as string;
      assert.equal(id, plainTruth[k]?.appointment_id);
      const p = Number(plainTruth[k]?.no_show_probability);
      assert.equal(Number(truth[k]?.no_show_probability), reminded.has(id) ? p * rr : p, id);
      if (!reminded.has(id)) assert.deepEqual(appointments[k], plainAppointments[k]);
    }
    const others = (rows: Row[]) => rows.filter((r) => !reminded.has(r.appointment_id as string));
    assert.deepEqual(others(records), others(plainRecords));
    const noShows = (rows: Row[]) => rows.filter((r) => r.no_show === 'true').length;
    assert.ok(noShows(appointments) < noShows(plainAppointments), 'reminders turned some no-shows into visits');

    // Bad sets fail for good, naming the key: a missing object, an id of another day.
    const invalid = (err: unknown) =>
      err instanceof ApplicationFailure && err.type === 'InvalidInput' && err.nonRetryable === true;
    await assert.rejects(
      generateShard({ ...base, entity: 'appointments', remindedKey: 'reminders/none.csv' }),
      invalid,
    );
    const otherDay = `reminders/dt=${wednesday}/${uniq()}-other.csv`;
    await h.store.put(otherDay, [Buffer.from(`${(day + 1) * ID_DAY_STRIDE + 3}\n`)], 'text/csv');
    await assert.rejects(generateShard({ ...base, entity: 'feedback', remindedKey: otherDay }), invalid);
    // Entities without outcomes do not read it.
    await generateShard({ ...base, entity: 'patients', remindedKey: 'reminders/none.csv' });
  });

  test("retention deletes an expired day's truth with its raw objects", async () => {
    const { cleanupRawObjects } = createCleanupActivities({ warehouse: h.warehouse, store: h.store, config: h.config });
    assert.ok((await h.store.list(keys.truthRoot('appointments'))).some((o) => o.key.includes(`dt=${wednesday}/`)));
    // Cut off right after Wednesday: its objects go, Friday's stay.
    await cleanupRawObjects({ cutoff: addDays(wednesday, 1) });
    assert.deepEqual(await h.store.list(`truth/appointments/dt=${wednesday}/`), []);
    assert.deepEqual(await h.store.list(`raw/appointments/dt=${wednesday}/`), []);
    assert.ok((await h.store.list(`truth/appointments/dt=${friday}/`)).length > 0, "Friday's truth stays");
  });
});
