/**
 * What the fault suite measured, one row per scenario, in `<data folder>/fault-results.json`: each scenario adds its
 * row when it ends (also when its assertions then fail), and `npm run test:faults` prints them as the table that
 * README.md shows. Kept free of heavy imports so the script can read it without loading the stack's clients.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** One scenario's measurement. */
export interface FaultResult {
  /** Orders the table: the order of faults. */
  order: number;
  fault: string;
  /** What the scenario saw happen, from its own observations (kill point, retries, outage length). */
  happened: string;
  /** Rows generated but neither in the warehouse nor in a verified backup. */
  rowsLost: number;
  /** Extra rows with an existing primary key, summed over the raw tables of the run's dates. */
  duplicateKeys: number;
  /** Messages a receiver accepted more than once (same channel, chat and text). */
  duplicateMessages: number;
  /** From the fault's injection to the run's completion (or, for a message, to its one accepted delivery). */
  recoverySeconds: number;
}

/** The results file of the stack whose data folder is `dataDir`. */
export function faultResultsFile(dataDir: string): string {
  return path.join(dataDir, 'fault-results.json');
}

/** Reads the results file; empty when it does not exist yet. */
export async function readFaultResults(file: string): Promise<FaultResult[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '[]');
  return (JSON.parse(text) as FaultResult[]).sort((a, b) => a.order - b.order);
}

/**
 * Adds or replaces (by `fault`) one row. Synchronous, so concurrent scenarios of one test process never interleave
 * a read and a write.
 */
export function recordFaultResult(file: string, row: FaultResult): void {
  const rows = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as FaultResult[]) : [];
  const kept = rows.filter((r) => r.fault !== row.fault);
  writeFileSync(
    file,
    `${JSON.stringify(
      [...kept, row].sort((a, b) => a.order - b.order),
      null,
      2,
    )}\n`,
  );
}

/** The rows as a Markdown table: fault, what happened, rows lost, duplicates, time to recover. */
export function faultTable(rows: readonly FaultResult[]): string {
  const lines = [
    '| fault | what happened | rows lost | duplicates (keys / messages) | time to recover |',
    '|---|---|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.fault} | ${r.happened.replace(/\|/g, '\\|')} | ${r.rowsLost} | ${r.duplicateKeys} / ${r.duplicateMessages} | ${r.recoverySeconds.toFixed(1)} s |`,
    );
  }
  return lines.join('\n');
}
