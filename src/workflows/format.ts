/**
 * Pure formatting helpers for workflow code: error text, dates in a time zone, the run summary.
 */
import { ApplicationFailure, ChildWorkflowFailure, ActivityFailure } from '@temporalio/workflow';
import type { PipelineSummary } from '../domain/types.js';

export { uiLink } from '../workflow-ids.js';
export { localDate } from '../domain/dates.js';

/** The innermost useful message of a failure chain (child → activity → application error). */
export function describeError(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 10; depth++) {
    if ((current instanceof ChildWorkflowFailure || current instanceof ActivityFailure) && current.cause) {
      current = current.cause;
      continue;
    }
    if (current instanceof ApplicationFailure && current.type === 'PipelineStepFailed' && current.cause) {
      current = current.cause;
      continue;
    }
    break;
  }
  if (current instanceof ApplicationFailure && current.type) return `${current.type}: ${current.message}`;
  return current instanceof Error ? current.message : String(current);
}

const n = (x: number): string => x.toLocaleString('en-US');

/** A short plain-text (Slack mrkdwn) summary of a run. */
export function formatSummary(s: PipelineSummary): string {
  const lines = [`*Health Synth daily run ${s.runDate}* (scale ${s.scale})`];
  lines.push(`Rows loaded: ${s.ingest.map((r) => `${r.entity} ${n(r.rowsLoaded)}`).join(', ')}`);
  if (s.dbt) {
    lines.push(
      `dbt: ${s.dbt.modelsBuilt} models built, ${s.dbt.testsPassed} tests passed, ${s.dbt.testsFailed} failed, ${s.dbt.testsWarned} warned (${s.dbt.elapsedSeconds.toFixed(1)} s)`,
    );
  }
  if (s.report && 'reportUrl' in s.report) {
    lines.push(`Doctor rating report: ${s.report.doctorsRanked} doctors ranked — <${s.report.reportUrl}|chart>`);
  }
  if (s.cleanup && 'tables' in s.cleanup) {
    const deleted = s.cleanup.tables.reduce((sum, t) => sum + t.rowsDeleted, 0);
    lines.push(`Retention (${s.cleanup.retentionDays} days): ${n(deleted)} rows deleted after a verified backup`);
  }
  if (s.webUiUrl) lines.push(`Run: ${s.webUiUrl}`);
  return lines.join('\n');
}
