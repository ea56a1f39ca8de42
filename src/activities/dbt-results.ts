/**
 * What runDbt reads back from a dbt run: run_results.json summarised into a small {@link DbtSummary} for the
 * workflow history, and the target directory pruned to what is worth keeping.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { DbtNodeTiming, DbtSummary } from '../domain/types.js';

/** The subset of dbt's run_results.json that runDbt reads. */
export interface RunResults {
  elapsed_time?: number;
  results: { unique_id: string; status: string; execution_time?: number; failures?: number | null }[];
}

/** A readable name for a test node: `test.pkg.<name>.<hash>` → name, `unit_test.pkg.<model>.<name>` → model:name. */
export function dbtNodeName(uniqueId: string): string {
  const parts = uniqueId.split('.');
  if (parts[0] === 'unit_test') return `${parts[2] ?? ''}:${parts.slice(3).join('.')}`;
  if (parts[0] === 'test') return parts[2] ?? uniqueId;
  return parts.slice(2).join('.') || uniqueId;
}

/**
 * Turns run_results.json into a {@link DbtSummary}. Failed or errored data tests and failed unit tests count
 * as `testsFailed` and are named in `failingTests` (at most 25 names, so the summary stays small).
 */
export function summarizeRunResults(runResults: RunResults, command: string, success: boolean): DbtSummary {
  let modelsBuilt = 0;
  let testsPassed = 0;
  let testsFailed = 0;
  let testsWarned = 0;
  let unitTestsPassed = 0;
  const failing: string[] = [];
  for (const r of runResults.results) {
    const kind = r.unique_id.split('.')[0];
    if (kind === 'model' && r.status === 'success') modelsBuilt += 1;
    else if (kind === 'test') {
      if (r.status === 'pass') testsPassed += 1;
      else if (r.status === 'warn') testsWarned += 1;
      else if (r.status === 'fail' || r.status === 'error') {
        testsFailed += 1;
        failing.push(dbtNodeName(r.unique_id));
      }
    } else if (kind === 'unit_test') {
      if (r.status === 'pass') unitTestsPassed += 1;
      else if (r.status === 'fail' || r.status === 'error') {
        testsFailed += 1;
        failing.push(dbtNodeName(r.unique_id));
      }
    }
  }
  const slowest: DbtNodeTiming[] = [...runResults.results]
    .sort((a, b) => (b.execution_time ?? 0) - (a.execution_time ?? 0))
    .slice(0, 5)
    .map((r) => ({
      uniqueId: r.unique_id,
      status: r.status,
      seconds: Math.round((r.execution_time ?? 0) * 1000) / 1000,
    }));
  return {
    command,
    success,
    elapsedSeconds: Math.round((runResults.elapsed_time ?? 0) * 1000) / 1000,
    modelsBuilt,
    testsPassed,
    testsFailed,
    testsWarned,
    unitTestsPassed,
    failingTests: failing.sort().slice(0, 25),
    slowest,
  };
}

/** After a successful run, keep run_results.json, manifest.json and the logs; drop the bulky compiled SQL. */
export async function pruneTarget(targetPath: string): Promise<void> {
  for (const name of ['compiled', 'run', 'graph.gpickle', 'graph_summary.json', 'partial_parse.msgpack']) {
    await rm(path.join(targetPath, name), { recursive: true, force: true });
  }
}
