/**
 * The patient population (issue 11 §1) on the real stack: patients return with a history.
 *
 * The statistics are measured over a backfilled window of 30 weekdays at small scale, from the generator's part files
 * as they are written (bench/population.ts, the same measurement as the README's table). Then five weekdays go
 * through the real object store, loader, publish step and dbt (a private database), and a returning patient's rows
 * must be the same in every batch: in raw.patients, in the marts.appointments rows of each of their visits, and in
 * staging.stg_patients.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { measurePopulation, weekdaysFrom } from '../../bench/population.js';
import { createDbtActivities } from '../../src/activities/dbt.js';
import { freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';
import { ingestDay } from '../support/ingest-day.js';

describe('patient population', { timeout: 900_000 }, () => {
  test('30 weekdays at small scale: repeat visits, no-show concentration and history, names', () => {
    const stats = measurePopulation('small', weekdaysFrom('2026-01-05', 30), 42);
    const within = (name: keyof typeof stats, lo: number, hi: number) =>
      assert.ok(stats[name] >= lo && stats[name] <= hi, `${name} ${stats[name]} outside ${lo}..${hi}`);
    assert.equal(stats.appointments, 30_000);
    within('repeat_share', 0.4, 0.48);
    within('top3_no_show_share', 0.18, 1);
    assert.ok(
      stats.no_show_after_no_show >= 1.5 * stats.no_show_after_show,
      `no-shows after a no-show ${stats.no_show_after_no_show} vs after a show ${stats.no_show_after_show}`,
    );
    within('no_show_rate', 0.19, 0.21);
    within('same_day_share', 0.3, 0.4);
    within('same_day_no_show_rate', 0, 0.06);
    within('names_per_patient', 0.9, 1);
    assert.equal(stats.differing_patients, 0);
  });

  describe('through the warehouse', () => {
    let h: TestHarness;
    let dataDir: string;
    // Five weekdays from a random date in 2001-2009: no other test's raw objects share their keys.
    const monday = weekdaysFrom(`${2001 + Math.floor(Math.random() * 9)}-0${1 + Math.floor(Math.random() * 9)}-07`, 1);
    const days = weekdaysFrom(monday[0] as string, 5);

    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-population-'));
      const databaseUrl = await freshDatabase(`hs_population_${uniq()}`);
      h = await harness(testConfig({ DATABASE_URL: databaseUrl, HEALTHSYNTH_DATA_DIR: dataDir }), { worker: false });
    });

    after(async () => {
      await h?.close();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    /** Generates, loads and publishes one day, as ingestEntity and publishDay do. */
    const ingest = (date: string): Promise<void> => ingestDay(h, date);

    test("a returning patient's rows are equal in every batch after load and dbt", async () => {
      const { runDbt } = createDbtActivities({ config: h.config });
      // Loaded day by day, then built in one build: a new warehouse's first build builds every batch from raw, the
      // marts the daily builds would have made (dbt-incremental.test.ts compares them), and stg_patients, which the
      // daily selector leaves out.
      for (const date of days) await ingest(date);
      assert.equal((await runDbt({ runDate: days.at(-1) as string, scope: 'full' })).testsFailed, 0);
      const [returning] = await h.warehouse.query<{ patients: string; visits: string }>(
        `select count(*) as patients, sum(batches) as visits
           from (select patient_id, count(*) as batches from raw.patients group by patient_id having count(*) > 1) r`,
      );
      assert.ok(Number(returning?.patients) > 200, `${returning?.patients} patients came back within five days`);

      // raw: every column but batch_date is the same in each batch that carries the patient.
      const rawDiffering = await h.warehouse.query<{ patient_id: string }>(
        `select patient_id from raw.patients
          group by patient_id
         having count(distinct (full_name, gender, birth_date, neighbourhood, scholarship, hypertension, diabetes,
                                alcoholism, handicap, registered_on)) > 1`,
      );
      assert.deepEqual(rawDiffering, [], 'patients whose raw rows differ between batches');

      // marts: the visits of one patient on different days carry the same patient attributes.
      const martDiffering = await h.warehouse.query<{ patient_id: string }>(
        `select patient_id from marts.appointments
          group by patient_id
         having count(distinct appointment_on) > 1
            and count(distinct (patient_gender, patient_has_hypertension, patient_has_diabetes,
                                patient_has_alcoholism)) > 1`,
      );
      assert.deepEqual(martDiffering, [], 'patients whose mart rows differ between visits');

      // staging keeps the latest row, which equals the raw row of every batch.
      const stagingDiffering = await h.warehouse.query<{ patient_id: string }>(
        `select s.patient_id from staging.stg_patients s
           join raw.patients r on r.patient_id::text = s.patient_id
          where s.full_name <> r.full_name or s.gender <> r.gender or s.born_on <> r.birth_date::date
             or s.neighbourhood <> r.neighbourhood or s.registered_on <> r.registered_on::date`,
      );
      assert.deepEqual(stagingDiffering, [], 'staging rows that differ from a raw row of the same patient');
      const [staged] = await h.warehouse.query<{ n: string }>(
        `select count(*) as n from staging.stg_patients where last_seen_on > registered_on`,
      );
      assert.ok(Number(staged?.n) > 0, 'returning patients were registered before their last visit');
    });
  });
});
