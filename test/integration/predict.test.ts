/**
 * The no-show model on the real stack: real PostgreSQL (a private database), the real object store, generator,
 * loader, dbt, the model's Python (ml/no_show.py in the toolchain's virtualenv) and a worker for the workflow.
 *
 * Eight weekdays at 3,000 appointments a day (the harness's fixed seed) are loaded and built. Then: a model trained
 * on days 1-7 scores day 8's appointments out of time and beats a lead-time-only baseline; training and scoring
 * the same date again reuse the model and the scores; a corrupt, unknown or unexpected model file is refused before
 * Python sees it; an AUC above the Bayes AUC fails as a leak; the predictNoShows workflow runs end to end; and a model
 * trained on a full sample serves the next RETRAIN_EVERY_DAYS days while a young warehouse's is retrained daily.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createDbtActivities } from '../../src/activities/dbt.js';
import type { RiskReport } from '../../src/cli/risk.js';
import { createPredictActivities, modelKeys, type TrainedModel } from '../../src/activities/predict.js';
import { HIGH_RISK_DECILE } from '../../src/activities/risk-chart.js';
import { keys } from '../../src/activities/storage.js';
import { createTruthActivities, rocAuc, truthPrefix } from '../../src/activities/truth.js';
import { addDays, weekdaysFrom } from '../../src/domain/dates.js';
import { workflowIds } from '../../src/workflow-ids.js';
import type { PredictResult } from '../../src/workflows/predict-no-shows.js';
import { freshDatabase, harness, testConfig, uniq, type TestHarness } from '../support/env.js';
import { ingestDay } from '../support/ingest-day.js';
import { risk } from '../support/risk-cli.js';

const rejected = (type: string) => (err: unknown) =>
  err instanceof ApplicationFailure && err.type === type && err.nonRetryable;

describe('no-show model', { timeout: 1_500_000 }, () => {
  let h: TestHarness;
  let dataDir: string;
  // Fixed days with the harness's fixed seed: the data, the model (its random_state) and so the comparison are the
  // same on every run, as the issue asks ("beats a lead-time-only baseline on a fixed seed"). Random days made it a
  // draw: on 21,000 training rows the model's edge over lead time alone is about the AUC's sampling noise (one CI
  // run measured 0.6966 against 0.6958). No other test loads 2019.
  const days = weekdaysFrom('2019-03-04', 8);
  const trainDay = days[6] as string;
  const testDay = days[7] as string;
  let predict: ReturnType<typeof createPredictActivities>;
  let model: TrainedModel;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'hs-predict-'));
    const databaseUrl = await freshDatabase(`hs_predict_${uniq()}`);
    h = await harness(testConfig({ DATABASE_URL: databaseUrl, HEALTHSYNTH_DATA_DIR: dataDir }));
    predict = createPredictActivities({ config: h.config, store: h.store, warehouse: h.warehouse });
    const { runDbt } = createDbtActivities({ config: h.config });
    // The eight days are loaded, then built in one build: a new warehouse's first build builds every batch from raw,
    // the marts eight daily builds would have made (dbt-incremental.test.ts and no-show-features.test.ts compare
    // them), for about what one daily build costs.
    for (const date of days) await ingestDay(h, date, 3000);
    assert.equal((await runDbt({ runDate: testDay, scope: 'full' })).testsFailed, 0);
  });

  after(async () => {
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('trained on days 1-7, it scores day 8 out of time better than lead time alone', async () => {
    const trained = await predict.trainNoShowModel({ runDate: trainDay });
    assert.ok('version' in trained, 'a model was trained');
    model = trained;
    assert.equal(model.reused, false);
    assert.ok(model.trainRows > 15_000, `${model.trainRows} training rows`);
    const scored = await predict.scoreNoShows({ ...model, runDate: trainDay, appointmentsOn: testDay });
    assert.ok(scored.rows > 2_500, `${scored.rows} scored`);
    const risk = await h.warehouse.query<{ n: number; deciles: number }>(
      `select count(*)::int as n, count(distinct risk_decile)::int as deciles from marts.no_show_risk
       where scored_on = $1 and probability between 0 and 1`,
      [trainDay],
    );
    assert.deepEqual(risk[0], { n: scored.rows, deciles: 10 });

    const evaluation = await predict.evaluateNoShows({ runDate: testDay });
    const auc = evaluation.metrics?.roc_auc ?? 0;
    const outcomes = await h.warehouse.query<{ lead: number; y: boolean }>(
      `select lead_time_days as lead, is_no_show as y from marts.no_show_features
       where batch_on = $1 and appointment_on = batch_on`,
      [testDay],
    );
    const baseline = rocAuc(
      outcomes.map((o) => o.lead),
      outcomes.map((o) => (o.y ? 1 : 0)),
    );
    assert.ok(baseline !== null && baseline > 0.55, `lead time alone: AUC ${baseline}`);
    assert.ok(auc > baseline + 0.01, `model AUC ${auc.toFixed(4)} vs lead-time-only ${baseline.toFixed(4)}`);
    assert.ok(
      (evaluation.metrics?.calibration_error ?? 1) < 0.06,
      `calibration ${evaluation.metrics?.calibration_error}`,
    );
  });

  test('a rerun of the date reuses its model and its scores', async () => {
    const again = await predict.trainNoShowModel({ runDate: trainDay });
    assert.ok('version' in again);
    assert.deepEqual([again.reused, again.version, again.sha256], [true, model.version, model.sha256]);
    const before = await h.store.getText(modelKeys.scores(trainDay));
    const rescored = await predict.scoreNoShows({ ...model, runDate: trainDay, appointmentsOn: testDay });
    assert.equal(rescored.reused, true);
    assert.equal(await h.store.getText(modelKeys.scores(trainDay)), before);
    const rows = await h.warehouse.query<{ n: number }>(
      'select count(*)::int as n from marts.no_show_risk where scored_on = $1',
      [trainDay],
    );
    assert.equal(rows[0]?.n, rescored.rows, 'the day holds one set of scores');
  });

  test('healthsynth risk lists the riskiest of the scores the real predict path wrote, ids only', async () => {
    const io = await risk(h.config, ['--date', trainDay, '--limit', '5', '--json']);
    assert.equal(io.exitCode, 0, io.stderr.join('\n'));
    assert.equal(io.stdout.length, 1, 'one JSON document');
    const report = JSON.parse(io.text()) as RiskReport;
    const top = await h.warehouse.query<{ appointment_id: string; probability: number; n: number }>(
      `select appointment_id, probability, count(*) over ()::int as n from marts.no_show_risk
       where scored_on = $1 order by probability desc, appointment_id limit 5`,
      [trainDay],
    );
    assert.equal(report.scored, top[0]?.n);
    assert.deepEqual(
      report.appointments.map((a) => a.appointmentId),
      top.map((r) => r.appointment_id),
    );
    for (const a of report.appointments) {
      assert.deepEqual(Object.keys(a).sort(), [
        'appointmentDay',
        'appointmentId',
        'clinicId',
        'doctorId',
        'modelVersion',
        'probability',
        'riskDecile',
      ]);
      assert.deepEqual([a.appointmentDay, a.riskDecile, a.modelVersion], [testDay, 10, model.version]);
    }
  });

  test('an unknown, unexpected or corrupt model file is refused before it is loaded', async () => {
    const score = (version: string, sha256: string) =>
      predict.scoreNoShows({ runDate: trainDay, version, sha256, appointmentsOn: testDay });
    await assert.rejects(score('no-show-2001-01-01', model.sha256), rejected('ModelArtifactRejected'));
    await assert.rejects(score(model.version, 'f'.repeat(64)), rejected('ModelArtifactRejected'));
    const key = `${modelKeys.model(model.version)}model.skops`;
    const original = await h.store.get(key);
    const bytes = Buffer.concat(await original.toArray());
    try {
      await h.store.put(key, Buffer.concat([bytes, Buffer.from('tampered')]));
      await assert.rejects(score(model.version, model.sha256), (err: unknown) => {
        assert.ok(rejected('ModelArtifactRejected')(err), String(err));
        assert.match((err as Error).message, /corrupt or replaced/);
        return true;
      });
    } finally {
      await h.store.put(key, bytes);
    }
  });

  test('an AUC above the Bayes AUC fails as a leak, after recording the day', async () => {
    const evaluation = await predict.evaluateNoShows({ runDate: testDay });
    assert.ok(evaluation.metrics && evaluation.predictionsKey);
    const lines = (await h.store.list(evaluation.predictionsKey)).length;
    assert.ok(lines > 0);
    // Truth that knows little (every probability the same but one): its AUC is about 0.5, far below the model's.
    const ids = await h.warehouse.query<{ id: string }>(
      'select appointment_id as id from marts.no_show_risk where appointment_day = $1 order by 1',
      [testDay],
    );
    const truth = ids.map((r, i) => `${r.id},${i === 0 ? 0.9 : 0.2}`).join('\n');
    const key = `${truthPrefix(testDay)}part-00000.csv`;
    await h.store.put(key, `appointment_id,no_show_probability\n${truth}\n`, 'text/csv');
    try {
      const { recordModelPerformance } = createTruthActivities({ store: h.store, warehouse: h.warehouse });
      await assert.rejects(
        recordModelPerformance({
          evaluatedOn: testDay,
          metrics: evaluation.metrics,
          predictionsKey: evaluation.predictionsKey,
        }),
        rejected('ModelLeakSuspected'),
      );
      const recorded = await h.warehouse.query<{ auc: number; bayes: number }>(
        'select roc_auc as auc, bayes_auc as bayes from marts.model_performance where evaluated_on = $1',
        [testDay],
      );
      assert.equal(recorded.length, 1);
      assert.ok(recorded[0]!.bayes < 0.55 && recorded[0]!.auc > recorded[0]!.bayes);
    } finally {
      await h.store.delete([key]);
    }
  });

  test('predictNoShows runs as a workflow: a model for the date, and an evaluation of the day', async () => {
    const result = await h.client.workflow.execute('predictNoShows', {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `${workflowIds.predict(testDay)}-${uniq()}`,
      args: [{ runDate: testDay }],
    });
    assert.equal(result.runDate, testDay);
    assert.equal(result.model.version, `no-show-${testDay}`);
    assert.ok(result.scores, 'the schedule was scored (no rows before the schedule entity exists)');
    assert.equal(result.evaluation?.evaluatedOn, testDay);
    assert.equal(result.evaluation?.bayesAuc, null, 'no truth files for the day');

    // The staff chart from the real scores: its totals are the scored schedule's, the PNG is stored under the date,
    // and it goes to both staff channels (the outbox here: the harness configures no Slack or staff chat).
    const chart = result.riskReport as PredictResult['riskReport'];
    assert.ok(chart, 'a chart of tomorrow’s expected no-shows');
    assert.equal(chart.reportKey, keys.riskReport(testDay));
    assert.equal(chart.appointments, result.scores?.rows);
    const [totals] = await h.warehouse.query<{ expected: string; high: string; clinics: string }>(
      `select sum(probability) as expected, count(distinct clinic_id) as clinics,
              sum(case when risk_decile >= ${HIGH_RISK_DECILE} then 1 else 0 end) as high
         from marts.no_show_risk where scored_on = cast($1 as date)`,
      [testDay],
    );
    assert.ok(Math.abs(chart.expectedNoShows - Number(totals!.expected)) < 0.5, JSON.stringify({ chart, totals }));
    assert.equal(chart.highRisk, Number(totals!.high));
    assert.equal(chart.clinics, Number(totals!.clinics));
    const chunks: Buffer[] = [];
    for await (const c of await h.store.get(chart.reportKey)) chunks.push(c as Buffer);
    const png = Buffer.concat(chunks);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
    assert.deepEqual(chart.notifications.map((n) => [n.channel, n.audience, n.message]).sort(), [
      ['slack', 'staff', 'no-show-risk'],
      ['telegram', 'staff', 'no-show-risk'],
    ]);
    for (const n of chart.notifications) assert.ok(['delivered', 'outbox'].includes(n.status), JSON.stringify(n));
    await assert.rejects(
      h.client.workflow.execute('predictNoShows', {
        taskQueue: h.config.temporal.taskQueue,
        workflowId: `${workflowIds.predict('x')}-${uniq()}`,
        args: [{ runDate: '2026-13-01' }],
      }),
      (err: unknown) => /InvalidInput|invalid input/.test(String((err as { cause?: unknown }).cause ?? err)),
    );
  });

  test('a model of a full sample serves RETRAIN_EVERY_DAYS days; a young warehouse retrains daily', async () => {
    type Settings = Partial<TestHarness['config']['model']> & { withoutHistory?: boolean };
    const trained = async (runDate: string, { withoutHistory, ...model }: Settings = {}) => {
      const m = await createPredictActivities({
        config: { model: { ...h.config.model, ...model } },
        store: h.store,
        warehouse: h.warehouse,
      }).trainNoShowModel({ runDate, ...(withoutHistory ? { withoutHistory } : {}) });
      assert.ok('version' in m, `a model for ${runDate}`);
      return m;
    };
    assert.equal(h.config.model.retrainEveryDays, 7, 'the default');
    // Every outcome fits under MAX_TRAIN_ROWS here: the day after testDay trains its own model, not testDay's.
    const young = await trained(addDays(testDay, 1));
    assert.deepEqual([young.version, young.reused], [`no-show-${addDays(testDay, 1)}`, false]);

    // With MAX_TRAIN_ROWS below the window's outcomes, a sampled model serves the six days after its own.
    const capped = { maxTrainRows: 5000 };
    const first = addDays(testDay, 2);
    const sampled = await trained(first, capped);
    assert.deepEqual([sampled.version, sampled.reused], [`no-show-${first}`, false]);
    assert.ok(sampled.trainRows < 6000, `${sampled.trainRows} rows sampled`);
    const served = await trained(addDays(first, 6), capped);
    assert.deepEqual(
      [served.version, served.sha256, served.reused, served.windowTo],
      [sampled.version, sampled.sha256, true, first],
    );
    const week = await trained(addDays(first, 7), capped);
    assert.deepEqual([week.version, week.reused], [`no-show-${addDays(first, 7)}`, false], 'a week later: trained');
    const daily = await trained(addDays(first, 1), { ...capped, retrainEveryDays: 1 });
    assert.deepEqual([daily.version, daily.reused], [`no-show-${addDays(first, 1)}`, false], 'RETRAIN_EVERY_DAYS=1');
    const newest = await trained(addDays(first, 3), capped);
    assert.deepEqual([newest.version, newest.reused], [daily.version, true], 'the newest model of the week serves');
    // A served model's manifest that is not JSON: the date trains instead of failing.
    await h.store.put(`${modelKeys.model(daily.version)}manifest.json`, '{"sampledShare": 0.', 'application/json');
    const unreadable = await trained(addDays(first, 4), capped);
    assert.deepEqual([unreadable.version, unreadable.reused], [`no-show-${addDays(first, 4)}`, false]);
    // The ablation never borrows a served model.
    const ablation = await trained(addDays(first, 3), { ...capped, withoutHistory: true });
    assert.deepEqual([ablation.version, ablation.reused], [`no-show-${addDays(first, 3)}-without-history`, false]);
  });
});
