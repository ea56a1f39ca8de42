/**
 * Plain text for people at a terminal: tables, times, durations, a run's failure and a finished run's summary.
 * (The staff's Slack and Telegram texts are in src/domain/messages.ts.)
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { PipelineSummary } from '../domain/types.js';

/**
 * Formats rows as a plain left-aligned table with a header, two spaces between columns. Plain
 * text on purpose: it stays readable in logs and CI output where box-drawing characters are not.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => (i === widths.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(w)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Formats a date as `YYYY-MM-DD HH:MM:SS` in UTC, or `-` when absent (tables stay aligned). */
export function formatTime(date: Date | undefined): string {
  if (!date) return '-';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Formats milliseconds as a short human duration: `850ms`, `12.3s`, `4m 05s`, `2h 03m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A run's failure for people: the workflow's own failure message ("dailyPipeline … failed at step dbt: …"). */
export function failureText(err: unknown): string {
  if (err instanceof WorkflowFailedError) return err.cause?.message || err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * A finished run for the terminal (`run`, `follow`, `npm run demo`): rows per entity as a table, dbt, report, cleanup
 * and notifications. The staff's Slack text of the same summary is `staffSummaryText` (src/domain/messages.ts).
 */
export function terminalSummary(summary: PipelineSummary): string {
  const lines: string[] = [`run ${summary.runDate} (scale ${summary.scale})`];
  if (summary.ingest.length > 0) {
    lines.push(
      formatTable(
        ['ENTITY', 'SHARDS', 'GENERATED', 'LOADED', 'LOAD'],
        summary.ingest.map((i) => [
          i.entity,
          String(i.shards),
          String(i.rowsGenerated),
          String(i.rowsLoaded),
          i.loadStatus,
        ]),
      ),
    );
  }
  if (summary.dbt) {
    const d = summary.dbt;
    lines.push(
      `dbt: ${d.success ? 'ok' : 'FAILED'}, ${d.modelsBuilt} models, ${d.testsPassed} tests passed, ` +
        `${d.testsFailed} failed, ${d.testsWarned} warned (${d.elapsedSeconds.toFixed(1)}s); ` +
        `${d.unitTestsPassed} unit tests passed`,
    );
  }
  if (summary.report) {
    lines.push(
      'error' in summary.report
        ? `report: FAILED: ${summary.report.error}`
        : `report: ${summary.report.doctorsRanked} doctors ranked` +
            `${summary.report.topDoctor ? `, top ${summary.report.topDoctor.name} (${summary.report.topDoctor.score})` : ''}: ` +
            summary.report.reportUrl,
    );
  }
  if (summary.cleanup) {
    lines.push(
      'error' in summary.cleanup
        ? `cleanup: FAILED: ${summary.cleanup.error}`
        : `cleanup: ${summary.cleanup.tables.reduce((n, t) => n + t.rowsDeleted, 0)} rows deleted after backup ` +
            `(retention ${summary.cleanup.retentionDays} days)`,
    );
    if (!('error' in summary.cleanup)) {
      for (const t of summary.cleanup.tables) {
        lines.push(
          `  ${t.table}: ${t.status}, ${t.rowsDeleted} deleted, ${t.rowsBackedUp} backed up` +
            (t.backupKey ? ` (${t.backupKey})` : ''),
        );
      }
    }
  }
  for (const n of summary.notifications) {
    lines.push(
      `notify ${n.channel}: ${n.status}${n.detail ? ` (${n.detail})` : ''}` +
        (n.outboxPath ? ` -> ${n.outboxPath}` : ''),
    );
  }
  return lines.join('\n');
}
