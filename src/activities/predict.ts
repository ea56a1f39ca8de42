/**
 * The no-show model's activities: train on past outcomes, score tomorrow's schedule, evaluate yesterday's scores.
 *
 * Each runs ml/no_show.py (a pure function from files to files) through execa in a per-run folder, the way runDbt
 * runs dbt: features leave the warehouse as CSV objects (`exportCsv`), are downloaded into the folder, and what the
 * script writes is uploaded to the object store and, for scores and metrics, loaded into the model tables through
 * `replaceRows` (the same object-store → warehouse path on PostgreSQL and Redshift). Only keys, counts and metrics
 * cross Temporal history.
 *
 * Trust: a model file is loaded only when its sha256 is the one recorded in `marts.model_registry` when the worker
 * trained it and the one the workflow passes on from training; anything else fails for good with
 * `ModelArtifactRejected`. The script loads skops files with an explicit list of trusted types, never pickle.
 * Nothing here reads `truth/`: the Bayes AUC is measured apart (./truth.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { Config } from '../config.js';
import { addDays } from '../domain/dates.js';
import { ML_SCRIPT, ML_SCRIPT_ENV, mlVenvPython } from '../stack/toolchain.js';
import { withHeartbeat } from './heartbeat.js';
import type { ObjectStore } from './storage.js';
import { modelCsvHeader, type Warehouse } from './warehouse/index.js';

/** Failure type of a model file whose hash is not the recorded one, or that no training recorded. Non-retryable. */
export const MODEL_ARTIFACT_REJECTED = 'ModelArtifactRejected';
/** Failure type of the model script exiting non-zero on its input (bad features, an untrusted type). Non-retryable. */
export const MODEL_SCRIPT_FAILED = 'ModelScriptFailed';

/** The feature columns exported for the script (marts.no_show_features), in file order. */
export const FEATURE_COLUMNS = [
  'appointment_id',
  'doctor_id',
  'clinic_id',
  'specialty',
  'appointment_on',
  'is_no_show',
  'lead_time_days',
  'weekday',
  'patient_age_years',
  'patient_gender',
  'neighbourhood',
  'has_scholarship',
  'has_hypertension',
  'has_diabetes',
  'has_alcoholism',
  'handicap_count',
  'has_sms_reminder',
  'prior_visits',
  'prior_no_shows',
  'prior_same_day_visits',
  'prior_same_day_no_shows',
  'days_since_last_visit',
] as const;

/** Object keys of the model's files, in one place. */
export const modelKeys = {
  features: (runDate: string, purpose: string) => `features/no-show/dt=${runDate}/${purpose}/`,
  model: (version: string) => `models/no-show/${version}/`,
  scores: (runDate: string) => `scores/no-show/dt=${runDate}/part-00000.csv`,
  performance: (runDate: string) => `performance/no-show/dt=${runDate}/part-00000.csv`,
};

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const VERSION = /^[a-z0-9][a-z0-9.-]{0,63}$/;

function checkDate(field: string, value: string): string {
  if (!DATE.test(value)) throw ApplicationFailure.nonRetryable(`${field} must be YYYY-MM-DD`, 'InvalidInput');
  return value;
}

/** Input of trainNoShowModel. `withoutHistory` trains the ablation (no prior visits, no-shows, recency). */
export interface TrainInput {
  runDate: string;
  withoutHistory?: boolean;
}

/** A trained (or reused) model: what scoring needs to find and trust it, and the training numbers. */
export interface TrainedModel {
  version: string;
  sha256: string;
  /**
   * True when nothing was trained: the run date's model already existed (a rerun), or a recent model of a full sample
   * serves the date (RETRAIN_EVERY_DAYS; `version` is then that model's).
   */
  reused: boolean;
  trainRows: number;
  windowFrom: string;
  windowTo: string;
  fitSeconds?: number;
  trainRowsPerSecond?: number;
  wallSeconds: number;
}

/** No model for the date: fewer than {@link MIN_TRAIN_ROWS} outcomes in the window (a warehouse's first days). */
export interface NotTrained {
  skipped: string;
  available: number;
}

/** The fewest outcomes a model is trained on; with fewer (a fresh warehouse) the day has no model and no scores. */
export const MIN_TRAIN_ROWS = 1000;

/** Input of scoreNoShows: the model from trainNoShowModel, and which appointments to score. */
export interface ScoreInput {
  runDate: string;
  version: string;
  sha256: string;
  /**
   * Score the held appointments of this day (with their outcome) instead of the schedule booked at the end of
   * runDate: the backtest the benchmark runs over history. Unset: the schedule (the pipeline).
   */
  appointmentsOn?: string;
}

export interface ScoreResult {
  scoresKey: string;
  rows: number;
  reused: boolean;
  scoreRowsPerSecond?: number;
  wallSeconds: number;
}

/** What the script's evaluate writes (metrics of predictions against outcomes on one day). */
export interface EvaluationMetrics {
  n: number;
  no_show_rate: number;
  roc_auc: number | null;
  pr_auc: number | null;
  brier: number | null;
  calibration_error: number;
  top_decile_lift: number | null;
  by_decile: Array<{ decile: number; n: number; predicted: number; observed: number }>;
}

/** The evaluation of one day's predictions, and the object with (appointment, probability, outcome). */
export interface Evaluation {
  evaluatedOn: string;
  /** Absent when nothing was scored for the day (the first day, or a day whose eve was not run). */
  metrics?: EvaluationMetrics & { model_version: string };
  predictionsKey?: string;
}

/** A row of marts.model_registry, dates as YYYY-MM-DD. */
interface RegistryRow {
  model_version: string;
  sha256: string;
  artifact_key: string;
  train_rows: number;
  window_from: string;
  window_to: string;
}
const REGISTRY_COLUMNS = `model_version, sha256, artifact_key, train_rows, to_char(window_from, 'YYYY-MM-DD') as window_from,
  to_char(window_to, 'YYYY-MM-DD') as window_to`;

const sha256Of = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');

/** Builds the predict activities around the warehouse, the object store and the model settings. */
export function createPredictActivities({
  config,
  store,
  warehouse,
}: {
  config: Pick<Config, 'model'>;
  store: ObjectStore;
  warehouse: Warehouse;
}) {
  const python = config.model.python?.trim() || mlVenvPython();

  /** A per-run folder, removed afterwards whatever happens. */
  const inFolder = async <T>(fn: (dir: string) => Promise<T>): Promise<T> => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hs-model-'));
    try {
      return await fn(dir);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  };

  const download = async (key: string, file: string): Promise<string> => {
    await pipeline(await store.get(key), createWriteStream(file));
    return file;
  };

  /** Exports `select` and downloads its objects into `dir/<name>/`; returns that folder. */
  const exportTo = async (select: string, prefix: string, dir: string, name: string): Promise<string> => {
    const folder = path.join(dir, name);
    await fs.mkdir(folder);
    const objectKeys = await warehouse.exportCsv(select, prefix);
    await Promise.all(objectKeys.map((k, i) => download(k, path.join(folder, `part-${i}.csv`))));
    return folder;
  };

  /**
   * Runs the script; its last stdout line is a JSON summary. Exit 2 (bad input) and 3 (an untrusted type in a
   * model file) fail for good; anything else (killed, out of memory) retries.
   */
  const runScript = async (args: string[], signal?: AbortSignal): Promise<Record<string, number>> => {
    let res;
    try {
      res = await execa(python, [ML_SCRIPT, ...args], {
        reject: false,
        stdin: 'ignore',
        env: ML_SCRIPT_ENV,
        ...(signal ? { cancelSignal: signal } : {}),
      });
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `cannot run the model's Python ${python} (${(err as Error).message}); run \`npm run setup\` or set ML_PYTHON`,
        'ModelToolchainMissing',
      );
    }
    if (res.exitCode === 2 || res.exitCode === 3) {
      throw ApplicationFailure.nonRetryable(
        `ml/no_show.py ${args[0]} refused its input: ${String(res.stderr).trim().split('\n').pop()}`,
        res.exitCode === 3 ? MODEL_ARTIFACT_REJECTED : MODEL_SCRIPT_FAILED,
      );
    }
    if (res.exitCode !== 0) {
      if (/No such file|ENOENT/.test(String(res.stderr)) && res.exitCode === undefined) {
        throw ApplicationFailure.nonRetryable(`the model's Python ${python} is missing`, 'ModelToolchainMissing');
      }
      throw new Error(`ml/no_show.py ${args[0]} failed (exit ${res.exitCode}): ${String(res.stderr).slice(-2000)}`);
    }
    const last = String(res.stdout).trim().split('\n').pop() ?? '{}';
    return JSON.parse(last) as Record<string, number>;
  };

  /** The recorded model of a version, or undefined. */
  const registered = async (version: string) =>
    (
      await warehouse.query<RegistryRow>(
        `select ${REGISTRY_COLUMNS} from marts.model_registry where model_version = $1`,
        [version],
      )
    )[0];

  /**
   * The model that serves `runDate` without training: the newest recorded one (not an ablation) whose window ends
   * within the RETRAIN_EVERY_DAYS days up to runDate and that was trained on a sample of a larger window (its
   * manifest's share below 1). Undefined when there is none, when its manifest is missing or unreadable (the date
   * trains), or when every run date trains (RETRAIN_EVERY_DAYS=1).
   */
  const servingModel = async (runDate: string): Promise<RegistryRow | undefined> => {
    if (config.model.retrainEveryDays <= 1) return undefined;
    const [newest] = await warehouse.query<RegistryRow>(
      `select ${REGISTRY_COLUMNS} from marts.model_registry
        where window_to between cast($1 as date) and cast($2 as date) and model_version not like '%-without-history'
        order by window_to desc limit 1`,
      [addDays(runDate, -(config.model.retrainEveryDays - 1)), runDate],
    );
    if (!newest) return undefined;
    const manifestKey = `${modelKeys.model(newest.model_version)}manifest.json`;
    let sampledShare: unknown;
    if (await store.head(manifestKey)) {
      try {
        ({ sampledShare } = JSON.parse(await store.getText(manifestKey)) as { sampledShare?: unknown });
      } catch {
        // A manifest that is not JSON says nothing about the sample: the date trains, as without one.
      }
    }
    return typeof sampledShare === 'number' && sampledShare < 1 ? newest : undefined;
  };

  /**
   * Downloads a model's file and meta into `dir` and checks it against the registry and `expected`: an unknown
   * version or a file whose sha256 differs is refused for good (`ModelArtifactRejected`) and never reaches Python.
   */
  const trustedModel = async (version: string, expected: string, dir: string) => {
    const record = await registered(version);
    if (!record) {
      throw ApplicationFailure.nonRetryable(
        `model ${version} is unknown: no training recorded it in marts.model_registry; refusing to load it`,
        MODEL_ARTIFACT_REJECTED,
      );
    }
    if (record.sha256 !== expected) {
      throw ApplicationFailure.nonRetryable(
        `model ${version}: the registry records sha256 ${record.sha256}, the workflow expects ${expected}; refusing it`,
        MODEL_ARTIFACT_REJECTED,
      );
    }
    const model = await download(record.artifact_key, path.join(dir, 'model.skops'));
    const actual = await sha256Of(model);
    if (actual !== record.sha256) {
      throw ApplicationFailure.nonRetryable(
        `model ${version}: ${record.artifact_key} has sha256 ${actual}, recorded ${record.sha256} (corrupt or ` +
          'replaced); refusing to load it',
        MODEL_ARTIFACT_REJECTED,
      );
    }
    const meta = await download(`${modelKeys.model(version)}model.json`, path.join(dir, 'model.json'));
    return { model, meta, record };
  };

  const featureSelect = (where: string): string =>
    `select ${FEATURE_COLUMNS.join(', ')} from marts.no_show_features where ${where} order by appointment_id`;

  return {
    /**
     * Trains the run date's model on the outcomes of the TRAIN_WINDOW_DAYS days up to and including runDate, at
     * most MAX_TRAIN_ROWS of them (a larger window is sampled by the md5 of the appointment id, so the same rows
     * every time), and records its sha256 in marts.model_registry after its files are stored under
     * `models/no-show/<version>/` (model.skops, model.json: features and metrics, manifest.json: window, rows,
     * sha256). Idempotent: a run date whose model is recorded reuses it (after checking its hash) and trains
     * nothing. A model trained on a full sample (its window held more than MAX_TRAIN_ROWS outcomes) serves the
     * RETRAIN_EVERY_DAYS days from its run date: a later date within them reuses the newest such model instead of
     * training (at medium scale training is most of the step; a week-old model scored 0.001 AUC below the eve's,
     * README); a model of a young or small warehouse is retrained daily, each day adding a real share of its data.
     * With fewer than MIN_TRAIN_ROWS outcomes it trains nothing and says so. Heartbeats while it works.
     */
    async trainNoShowModel(input: TrainInput): Promise<TrainedModel | NotTrained> {
      const runDate = checkDate('runDate', input.runDate);
      const started = Date.now();
      const version = `no-show-${runDate}${input.withoutHistory ? '-without-history' : ''}`;
      const prefix = modelKeys.model(version);
      await warehouse.ensureModelTables();
      const windowFrom = addDays(runDate, -(config.model.trainWindowDays - 1));
      const existing = (await registered(version)) ?? (input.withoutHistory ? undefined : await servingModel(runDate));
      if (existing) {
        await inFolder((dir) => trustedModel(existing.model_version, existing.sha256, dir));
        return {
          version: existing.model_version,
          sha256: existing.sha256,
          reused: true,
          trainRows: existing.train_rows,
          windowFrom: existing.window_from,
          windowTo: existing.window_to,
          wallSeconds: (Date.now() - started) / 1000,
        };
      }
      const inWindow = `is_no_show is not null and appointment_on between cast('${windowFrom}' as date) and cast('${runDate}' as date)`;
      const [counted] = await warehouse.query<{ n: number }>(
        `select count(*) as n from marts.no_show_features where ${inWindow}`,
      );
      const available = Number(counted?.n ?? 0);
      if (available < MIN_TRAIN_ROWS) {
        return { skipped: `${available} appointments with an outcome from ${windowFrom} to ${runDate}`, available };
      }
      // md5's first 8 hex digits are uniform: keeping those below share × 16^8 keeps that share, the same rows always.
      const share = Math.min(1, config.model.maxTrainRows / available);
      const threshold = Math.floor(share * 0xffffffff)
        .toString(16)
        .padStart(8, '0');
      const sampled = share < 1 ? ` and substring(md5(appointment_id), 1, 8) <= '${threshold}'` : '';
      return withHeartbeat(
        () => ({ version, phase: 'train' }),
        (signal) =>
          inFolder(async (dir) => {
            const features = await exportTo(
              featureSelect(inWindow + sampled),
              modelKeys.features(runDate, input.withoutHistory ? 'train-without-history' : 'train'),
              dir,
              'train',
            );
            const out = path.join(dir, 'model');
            const fit = await runScript(
              ['train', '--features', features, '--out', out, ...(input.withoutHistory ? ['--without-history'] : [])],
              signal,
            );
            const sha256 = await sha256Of(path.join(out, 'model.skops'));
            const modelMeta = JSON.parse(await fs.readFile(path.join(out, 'model.json'), 'utf8')) as Record<
              string,
              unknown
            >;
            const manifest = {
              version,
              trainedFor: runDate,
              window: { from: windowFrom, to: runDate, days: config.model.trainWindowDays },
              maxTrainRows: config.model.maxTrainRows,
              availableRows: available,
              sampledShare: share,
              trainRows: fit.rows,
              sha256,
              features: modelMeta.features,
              metrics: modelMeta,
            };
            const artifactKey = `${prefix}model.skops`;
            await store.put(artifactKey, await fs.readFile(path.join(out, 'model.skops')), 'application/octet-stream');
            await store.put(`${prefix}model.json`, JSON.stringify(modelMeta, null, 2), 'application/json');
            await store.put(`${prefix}manifest.json`, JSON.stringify(manifest, null, 2), 'application/json');
            // Recorded last: a model is trusted only once all its files are stored.
            const registryKey = `${prefix}registry.csv`;
            await store.put(
              registryKey,
              `${modelCsvHeader('model_registry')}\n${[version, runDate, artifactKey, sha256, fit.rows, windowFrom, runDate].join(',')}\n`,
              'text/csv',
            );
            await warehouse.replaceRows({
              table: 'model_registry',
              column: 'model_version',
              value: version,
              key: registryKey,
            });
            return {
              version,
              sha256,
              reused: false,
              trainRows: fit.rows ?? 0,
              windowFrom,
              windowTo: runDate,
              ...(fit.fit_seconds !== undefined ? { fitSeconds: fit.fit_seconds } : {}),
              ...(fit.rows_per_second !== undefined ? { trainRowsPerSecond: fit.rows_per_second } : {}),
              wallSeconds: (Date.now() - started) / 1000,
            };
          }),
      );
    },

    /**
     * Scores the appointments booked at the end of runDate for the next weekday (the schedule's rows of
     * marts.no_show_features) with the recorded model `version`, writes `scores/no-show/dt=<runDate>/` and replaces
     * the run date's rows of marts.no_show_risk with it (probability, risk decile 1–10, 10 the riskiest). The model
     * file must have the sha256 the registry recorded and the workflow passes; otherwise `ModelArtifactRejected`.
     * Idempotent: scores already stored for the date by the same model are loaded again, not recomputed.
     */
    async scoreNoShows(input: ScoreInput): Promise<ScoreResult> {
      const runDate = checkDate('runDate', input.runDate);
      if (!VERSION.test(input.version) || !/^[0-9a-f]{64}$/.test(input.sha256)) {
        throw ApplicationFailure.nonRetryable('version or sha256 is malformed', 'InvalidInput');
      }
      const started = Date.now();
      const scoresKey = modelKeys.scores(runDate);
      const where = input.appointmentsOn
        ? `batch_on = cast('${checkDate('appointmentsOn', input.appointmentsOn)}' as date) and appointment_on = batch_on`
        : `batch_on = cast('${runDate}' as date) and appointment_on > batch_on`;
      await warehouse.ensureModelTables();
      return withHeartbeat(
        () => ({ runDate, phase: 'score' }),
        (signal) =>
          inFolder(async (dir) => {
            const model = await trustedModel(input.version, input.sha256, dir);
            const stored = await store.head(scoresKey);
            let rows: number | undefined;
            let rate: number | undefined;
            const previous = stored ? await store.getText(scoresKey) : '';
            const reused = previous.split('\n', 3)[1]?.split(',')[6] === input.version;
            if (!reused) {
              const features = await exportTo(featureSelect(where), modelKeys.features(runDate, 'score'), dir, 'score');
              const out = path.join(dir, 'scores.csv');
              const scored = await runScript(
                [
                  'score',
                  ...['--model', model.model, '--meta', model.meta, '--features', features, '--out', out],
                  ...['--version', input.version, '--scored-on', runDate],
                ],
                signal,
              );
              rows = scored.rows;
              rate = scored.rows_per_second;
              await store.put(scoresKey, await fs.readFile(out), 'text/csv');
            }
            const loaded = await warehouse.replaceRows({
              table: 'no_show_risk',
              column: 'scored_on',
              value: runDate,
              key: scoresKey,
            });
            return {
              scoresKey,
              rows: rows ?? loaded,
              reused,
              ...(rate !== undefined ? { scoreRowsPerSecond: rate } : {}),
              wallSeconds: (Date.now() - started) / 1000,
            };
          }),
      );
    },

    /**
     * Evaluates the scores made for runDate's appointments (scored the weekday before) against their outcomes,
     * out of time: ROC-AUC, PR-AUC, Brier score, calibration error by decile, top-decile lift. Exports the
     * (appointment, probability, outcome) rows to `features/no-show/dt=<runDate>/evaluate/` for the Bayes AUC.
     * Returns no metrics when nothing was scored for the day. Read-only apart from that export: idempotent.
     */
    async evaluateNoShows({ runDate: raw }: { runDate: string }): Promise<Evaluation> {
      const runDate = checkDate('runDate', raw);
      await warehouse.ensureModelTables();
      const select =
        `select r.appointment_id, r.probability, r.model_version, f.is_no_show from marts.no_show_risk r ` +
        `inner join marts.no_show_features f on f.appointment_id = r.appointment_id and f.batch_on = r.appointment_day ` +
        `where r.appointment_day = cast('${runDate}' as date) and f.is_no_show is not null order by r.appointment_id`;
      const [counted] = await warehouse.query<{ n: number; version: string | null }>(
        `select count(*) as n, max(model_version) as version from (${select}) e`,
      );
      if (!counted || Number(counted.n) === 0 || !counted.version) return { evaluatedOn: runDate };
      const prefix = modelKeys.features(runDate, 'evaluate');
      return withHeartbeat(
        () => ({ runDate, phase: 'evaluate' }),
        (signal) =>
          inFolder(async (dir) => {
            const predictions = await exportTo(select, prefix, dir, 'evaluate');
            const out = path.join(dir, 'metrics.json');
            await runScript(['evaluate', '--predictions', predictions, '--out', out], signal);
            const metrics = JSON.parse(await fs.readFile(out, 'utf8')) as EvaluationMetrics;
            return {
              evaluatedOn: runDate,
              metrics: { ...metrics, model_version: String(counted.version) },
              predictionsKey: prefix,
            };
          }),
      );
    },
  };
}

export type PredictActivities = ReturnType<typeof createPredictActivities>;
