/**
 * The model's report card: the Bayes AUC of a day (the AUC of the true no-show probabilities the synthetic source
 * keeps in `truth/appointments/dt=<day>/`, on the same appointments the model was evaluated on) and the row of
 * marts.model_performance, with the leak guard.
 *
 * This module is the only reader of `truth/`, and the model's code path (./predict.ts, ml/no_show.py) never calls
 * it: the truth is a property of the synthetic source, which a real source does not have (then bayes_auc is null).
 */
import { parse } from 'csv-parse';
import { ApplicationFailure } from '@temporalio/common';
import { modelKeys, type EvaluationMetrics } from './predict.js';
import { withHeartbeat } from './heartbeat.js';
import type { ObjectStore } from './storage.js';
import { modelCsvHeader, type Warehouse } from './warehouse/index.js';

/** Failure type of an AUC above what the true probabilities reach: the model saw the future. Non-retryable. */
export const MODEL_LEAK_SUSPECTED = 'ModelLeakSuspected';
/** How far above the Bayes AUC an AUC may be (sampling noise on one day) before it counts as a leak. */
export const LEAK_MARGIN = 0.005;

/** Where the synthetic source keeps the true probabilities of a day's appointments. */
export const truthPrefix = (day: string): string => `truth/appointments/dt=${day}/`;

/**
 * ROC-AUC of `scores` against 0/1 `labels` (Mann-Whitney U with average ranks for ties), or null when one class is
 * absent.
 */
export function rocAuc(scores: readonly number[], labels: readonly number[]): number | null {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Float64Array(scores.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = rank;
    i = j + 1;
  }
  let positives = 0;
  let rankSum = 0;
  labels.forEach((y, i) => {
    if (y === 1) {
      positives++;
      rankSum += ranks[i]!;
    }
  });
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

async function* csvRows(store: ObjectStore, prefix: string): AsyncGenerator<Record<string, string>> {
  for (const obj of await store.list(prefix)) {
    if (!obj.key.endsWith('.csv')) continue;
    for await (const row of (await store.get(obj.key)).pipe(parse({ columns: true }))) {
      yield row as Record<string, string>;
    }
  }
}

/** The row marts.model_performance gets for a day; nulls are written as empty fields. */
export interface PerformanceInput {
  evaluatedOn: string;
  metrics: EvaluationMetrics & { model_version: string };
  /** From the evaluation: the (appointment, probability, outcome) rows. */
  predictionsKey: string;
}

export interface PerformanceRow {
  evaluatedOn: string;
  modelVersion: string;
  n: number;
  rocAuc: number | null;
  bayesAuc: number | null;
  /** Appointments of the evaluation with a true probability (all of them when the source keeps truth). */
  truthMatched: number;
}

export function createTruthActivities({ store, warehouse }: { store: ObjectStore; warehouse: Warehouse }) {
  return {
    /**
     * Measures the Bayes AUC of the evaluated appointments from the day's truth files, writes the day's row of
     * marts.model_performance (replacing an earlier one: idempotent), and then fails for good with
     * `ModelLeakSuspected` when the model's AUC is above the Bayes AUC + {@link LEAK_MARGIN}: no honest model
     * beats the true probabilities, so such a day means features saw the outcome. Without truth files
     * bayes_auc is null and there is no guard.
     */
    async recordModelPerformance(input: PerformanceInput): Promise<PerformanceRow> {
      const day = input.evaluatedOn;
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day))
        throw ApplicationFailure.nonRetryable('evaluatedOn must be YYYY-MM-DD', 'InvalidInput');
      return withHeartbeat(
        () => ({ day, phase: 'bayes' }),
        async () => {
          const truth = new Map<string, number>();
          for await (const row of csvRows(store, truthPrefix(day))) {
            truth.set(row.appointment_id ?? '', Number(row.no_show_probability));
          }
          const p: number[] = [];
          const y: number[] = [];
          for await (const row of csvRows(store, input.predictionsKey)) {
            const t = truth.get(row.appointment_id ?? '');
            if (t === undefined) continue;
            p.push(t);
            y.push(row.is_no_show === 't' || row.is_no_show === 'true' ? 1 : 0);
          }
          const bayesAuc = truth.size > 0 ? rocAuc(p, y) : null;
          const m = input.metrics;
          const field = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
          const line = [
            day,
            m.model_version,
            m.n,
            field(m.no_show_rate),
            field(m.roc_auc),
            field(m.pr_auc),
            field(m.brier),
            field(m.calibration_error),
            field(m.top_decile_lift),
            field(bayesAuc),
          ].join(',');
          const key = modelKeys.performance(day);
          await store.put(key, `${modelCsvHeader('model_performance')}\n${line}\n`, 'text/csv');
          await warehouse.ensureModelTables();
          await warehouse.replaceRows({ table: 'model_performance', column: 'evaluated_on', value: day, key });
          if (bayesAuc !== null && m.roc_auc !== null && m.roc_auc > bayesAuc + LEAK_MARGIN) {
            throw ApplicationFailure.nonRetryable(
              `model ${m.model_version} on ${day}: AUC ${m.roc_auc.toFixed(4)} is above the Bayes AUC ` +
                `${bayesAuc.toFixed(4)} + ${LEAK_MARGIN}: its features must have seen the outcome`,
              MODEL_LEAK_SUSPECTED,
            );
          }
          return {
            evaluatedOn: day,
            modelVersion: m.model_version,
            n: m.n,
            rocAuc: m.roc_auc,
            bayesAuc,
            truthMatched: p.length,
          };
        },
      );
    },
  };
}
