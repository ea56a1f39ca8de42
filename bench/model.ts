/**
 * The no-show model's numbers: `set -a; eval "$(npx healthsynth stack env)"; set +a; npx tsx bench/model.ts [--days 30] [--scale medium] [--json]`.
 *
 * Loads N weekdays at the scale into a database and bucket of its own through the pipeline's activity functions
 * (bench/load-days.ts; no workflows), builds the marts once, then, as the pipeline's predictNoShows does on the eve of
 * the last day: trains on the days before it (TRAIN_WINDOW_DAYS, MAX_TRAIN_ROWS as configured), scores the last
 * day's appointments out of time, evaluates them and records marts.model_performance with the Bayes AUC of the true
 * probabilities (when the generator writes truth/). The same with the history features left out (the ablation),
 * and the AUC of lead time alone. Activities are called directly, so the times are the step's own work.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createDbtActivities } from '../src/activities/dbt.js';
import { DBT_DAEMONS } from '../src/activities/dbt-daemon.js';
import { createPredictActivities, type TrainedModel } from '../src/activities/predict.js';
import { ObjectStore } from '../src/activities/storage.js';
import { createTruthActivities, rocAuc } from '../src/activities/truth.js';
import { createWarehouse } from '../src/activities/warehouse/index.js';
import { loadConfig, parseScale } from '../src/config.js';
import { weekdaysFrom } from '../src/domain/dates.js';
import { recreateDatabase } from '../src/stack/postgres.js';
import { loadDays } from './load-days.js';
import { attainableBound } from './model-bound.js';

const round = (x: number | null | undefined, digits = 4): number | null =>
  x === null || x === undefined ? null : Number(x.toFixed(digits));

/** What {@link benchModel} measures on. */
export interface ModelBenchOptions {
  /** Weekdays loaded, from `from`; the last is evaluated, the model trained on the others. */
  days: number;
  scale: string;
  from: string;
  /** Measure again on what an earlier run with the same days and scale loaded and built. */
  skipLoad: boolean;
}

/** Loads (unless `skipLoad`), builds, trains, scores and evaluates as described above; returns the numbers. */
export async function benchModel(
  options: ModelBenchOptions,
  log: (line: string) => void = (line) => console.error(line),
): Promise<Record<string, unknown>> {
  const scale = parseScale(options.scale);
  if (!Number.isInteger(options.days) || options.days < 3) throw new Error('the model bench needs 3 days or more');
  const days = weekdaysFrom(options.from, options.days);
  const evalDay = days[days.length - 1] as string;
  const trainDay = days[days.length - 2] as string;
  const server = loadConfig().warehouse;
  if (server.kind !== 'postgres') throw new Error('the model benchmark needs the PostgreSQL warehouse');
  const name = `model_${String(options.scale)}_${days.length}`;
  // --skip-load measures again on what an earlier run loaded and built.
  const database = `healthsynth_bench_${name}`;
  const databaseUrl = options.skipLoad
    ? server.databaseUrl.replace(/\/[^/?]+(\?|$)/, `/${database}$1`)
    : await recreateDatabase(server.databaseUrl, database);
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl,
    S3_BUCKET: `hs-bench-${name.replace(/_/g, '-')}`,
  });
  const store = ObjectStore.fromConfig(config.s3);
  await store.ensureBucket();

  let started = Date.now();
  if (!options.skipLoad) {
    await store.deletePrefix('');
    await loadDays(config, days, scale, {
      concurrency: 2,
      onDay: (day, done) => done % 5 === 0 && log(`  ${done}/${days.length} days loaded (${day})`),
    });
    log(`loaded ${days.length} days in ${((Date.now() - started) / 1000).toFixed(0)} s; building the marts once…`);
    started = Date.now();
    await createDbtActivities({ config }).runDbt({ runDate: evalDay, scope: 'day', fullRefresh: true });
    await DBT_DAEMONS.stopAll();
    log(`dbt build in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }

  const warehouse = createWarehouse(config, store);
  try {
    const predict = createPredictActivities({ config, store, warehouse });
    if (options.skipLoad) {
      // Train and score afresh: a recorded model or stored scores of the same version would be reused.
      await warehouse.ensureModelTables();
      await warehouse.query(`delete from marts.model_registry`);
      await store.deletePrefix('models/no-show/');
      await store.deletePrefix('scores/no-show/');
    }
    const { recordModelPerformance } = createTruthActivities({ store, warehouse });
    /** Train for trainDay, score evalDay's appointments, evaluate; the wall time of the three. */
    const run = async (withoutHistory: boolean) => {
      const t0 = Date.now();
      const trained = await predict.trainNoShowModel({ runDate: trainDay, withoutHistory });
      if (!('version' in trained)) throw new Error(`no model: ${trained.skipped}`);
      const scored = await predict.scoreNoShows({ ...trained, runDate: trainDay, appointmentsOn: evalDay });
      const evaluation = await predict.evaluateNoShows({ runDate: evalDay });
      return { trained: trained as TrainedModel, scored, evaluation, wall_s: (Date.now() - t0) / 1000 };
    };
    log('ablation: without the history features…');
    const ablation = await run(true);
    log('the model…');
    const main = await run(false);
    const t1 = Date.now();
    const performance = await recordModelPerformance({
      evaluatedOn: evalDay,
      metrics: main.evaluation.metrics!,
      predictionsKey: main.evaluation.predictionsKey!,
    });
    const stepWall = main.wall_s + (Date.now() - t1) / 1000;
    const outcomes = await warehouse.query<{ lead: number; y: boolean }>(
      `select lead_time_days as lead, is_no_show as y from marts.no_show_features
       where batch_on = cast($1 as date) and appointment_on = batch_on`,
      [evalDay],
    );
    const leadOnly = rocAuc(
      outcomes.map((o) => o.lead),
      outcomes.map((o) => (o.y ? 1 : 0)),
    );
    const bound = await attainableBound(warehouse, evalDay);
    const m = main.evaluation.metrics!;
    const result = {
      scale: options.scale,
      days: days.length,
      window: [main.trained.windowFrom, main.trained.windowTo],
      evaluated_on: evalDay,
      n: m.n,
      train_rows: main.trained.trainRows,
      auc: round(m.roc_auc),
      bayes_auc: round(performance.bayesAuc),
      gap: performance.bayesAuc !== null && m.roc_auc !== null ? round(performance.bayesAuc - m.roc_auc) : null,
      attainable_auc: round(bound.withHistory),
      attainable_top_decile_lift: round(bound.withHistoryLift, 2),
      attainable_auc_visible_only: round(bound.visibleOnly),
      unreachable_gap:
        performance.bayesAuc !== null && bound.withHistory !== null
          ? round(performance.bayesAuc - bound.withHistory)
          : null,
      pr_auc: round(m.pr_auc),
      brier: round(m.brier),
      calibration_error: round(m.calibration_error),
      top_decile_lift: round(m.top_decile_lift, 2),
      auc_without_history: round(ablation.evaluation.metrics?.roc_auc),
      ablation_loss: round((m.roc_auc ?? 0) - (ablation.evaluation.metrics?.roc_auc ?? 0)),
      auc_lead_time_only: round(leadOnly),
      train_rows_per_s: Math.round(main.trained.trainRowsPerSecond ?? 0),
      fit_s: round(main.trained.fitSeconds ?? null, 1),
      score_rows_per_s: Math.round(main.scored.scoreRowsPerSecond ?? 0),
      train_wall_s: round(main.trained.wallSeconds, 1),
      score_wall_s: round(main.scored.wallSeconds, 1),
      step_wall_s: round(stepWall, 1),
    };
    return result;
  } finally {
    await warehouse.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      days: { type: 'string', default: '30' },
      scale: { type: 'string', default: 'medium' },
      from: { type: 'string', default: '2026-01-05' },
      json: { type: 'boolean', default: false },
      'skip-load': { type: 'boolean', default: false },
    },
  });
  const result = await benchModel({
    days: Number(values.days),
    scale: values.scale,
    from: values.from,
    skipLoad: values['skip-load'],
  });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(22)} ${JSON.stringify(v)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
