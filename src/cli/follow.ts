/**
 * `healthsynth follow <workflowId>`: live progress of a pipeline run until it closes, then its
 * summary or its failure. Progress comes from the workflow's `progress` query, polled about once a
 * second; on a terminal it is drawn as progress bars, elsewhere (CI, logs, pipes) as plain lines
 * printed only when something changed.
 */
import cliProgress from 'cli-progress';
import {
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { PipelineProgress, PipelineSummary } from '../domain/types.js';
import { webUiLink } from '../workflow-ids.js';
import {
  EXIT,
  jsonOption,
  printJson,
  processIo,
  resolveDeps,
  runAction,
  withClient,
  type CliDeps,
  type CliIo,
} from './command.js';
import { failureText, formatDuration, terminalSummary } from './format.js';
import { WorkerWatchdog, type WorkerMode } from '../worker-watchdog.js';
import { workerOption } from './worker-option.js';

/** How a followed workflow ended (`not_found` when there is no such workflow). */
export type FollowOutcome = 'completed' | 'failed' | 'canceled' | 'terminated' | 'timed_out' | 'not_found';

export interface FollowOptions {
  /** Print one JSON document at the end instead of progress and a text summary. */
  json?: boolean;
  /** Draw progress bars (default: whether `io` is a terminal). */
  tty?: boolean;
  io?: CliIo;
  /** Poll interval; default 1000 ms. */
  intervalMs?: number;
  /** How long one progress query may take before it counts as failed and is retried; default 5000 ms. */
  queryTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Queries `progress` with a deadline. Returns undefined instead of throwing when the query cannot be
 * answered yet: before the workflow's first task has run (no handler registered, or no worker has
 * picked it up) the query fails or blocks, and the caller simply tries again on the next poll.
 */
export async function queryProgress(
  client: Client,
  handle: WorkflowHandle,
  timeoutMs = 5000,
): Promise<PipelineProgress | undefined> {
  try {
    return await client.withDeadline(Date.now() + timeoutMs, () => handle.query<PipelineProgress>('progress'));
  } catch {
    return undefined;
  }
}

/**
 * The progress as keyed lines (`step dbt` → `running: …`), so a plain renderer can print only the
 * lines whose text changed since the last poll.
 */
export function progressLines(progress: PipelineProgress): Map<string, string> {
  const lines = new Map<string, string>();
  for (const step of progress.steps) {
    lines.set(`step ${step.name}`, `${step.state}${step.detail ? `: ${step.detail}` : ''}`);
  }
  for (const [entity, p] of Object.entries(progress.entities)) {
    if (p) lines.set(`ingest ${entity}`, `${p.state}, ${p.generated} rows generated, ${p.loaded} loaded`);
  }
  return lines;
}

interface Renderer {
  update(progress: PipelineProgress): void;
  stop(): void;
}

/** Plain lines, printed only when they change: readable in CI logs and pipes. */
class LineRenderer implements Renderer {
  private readonly seen = new Map<string, string>();
  constructor(private readonly io: CliIo) {}
  update(progress: PipelineProgress): void {
    for (const [key, text] of progressLines(progress)) {
      if (this.seen.get(key) === text) continue;
      this.seen.set(key, text);
      this.io.out(`${new Date().toISOString().slice(11, 19)} ${key}: ${text}`);
    }
  }
  stop(): void {}
}

/** cli-progress bars: one per entity (rows loaded of rows generated) and one per later step. */
class BarRenderer implements Renderer {
  private readonly multibar: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  constructor(stream: NodeJS.WritableStream) {
    this.multibar = new cliProgress.MultiBar(
      {
        format: ' {name} |{bar}| {info}',
        stream,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 30,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  private bar(key: string, name: string, total: number): cliProgress.SingleBar {
    let bar = this.bars.get(key);
    if (!bar) {
      bar = this.multibar.create(total, 0, { name: name.padEnd(14), info: '' });
      this.bars.set(key, bar);
    }
    return bar;
  }
  update(progress: PipelineProgress): void {
    for (const [entity, p] of Object.entries(progress.entities)) {
      if (!p) continue;
      const bar = this.bar(`entity:${entity}`, entity, Math.max(p.generated, 1));
      bar.setTotal(Math.max(p.generated, 1));
      bar.update(p.loaded, { info: `${p.loaded}/${p.generated} rows loaded  ${p.state}` });
    }
    for (const step of progress.steps) {
      if (step.name === 'ingest') continue;
      const bar = this.bar(`step:${step.name}`, step.name, 1);
      bar.update(step.state === 'completed' || step.state === 'skipped' ? 1 : 0, {
        info: `${step.state}${step.detail ? `: ${step.detail}` : ''}`,
      });
    }
  }
  stop(): void {
    this.multibar.stop();
  }
}

function isPipelineSummary(value: unknown): value is PipelineSummary {
  return (
    typeof value === 'object' &&
    value !== null &&
    'runDate' in value &&
    Array.isArray((value as PipelineSummary).ingest)
  );
}

function outcomeOfError(err: unknown): FollowOutcome {
  if (err instanceof WorkflowFailedError) {
    if (err.cause instanceof CancelledFailure) return 'canceled';
    if (err.cause instanceof TerminatedFailure) return 'terminated';
    if (err.cause instanceof TimeoutFailure) return 'timed_out';
  }
  return 'failed';
}

/**
 * Follows one workflow until it closes: polls `progress` every `intervalMs` and renders it, then
 * waits for the result and prints the summary (or the failure, with the step that failed) and the
 * Web UI link. Returns how the run ended; the caller turns that into an exit code. Follows the run
 * that is current when called, even if another run with the same id starts later.
 */
export async function followWorkflow(
  client: Client,
  config: Config,
  workflowId: string,
  opts: FollowOptions = {},
): Promise<FollowOutcome> {
  const io = opts.io ?? processIo;
  const interval = opts.intervalMs ?? 1000;
  let description: WorkflowExecutionDescription;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    if (opts.json) printJson(io, { workflowId, status: 'not_found' });
    else io.err(`healthsynth: workflow ${workflowId} not found (see \`healthsynth status\`)`);
    return 'not_found';
  }
  const runId = description.runId;
  const handle = client.workflow.getHandle(workflowId, runId);
  const link = webUiLink(config.temporal, workflowId, runId);
  if (!opts.json) io.out(`following ${workflowId} (${description.type}), run ${runId}\n${link}`);

  const renderer: Renderer | undefined = opts.json
    ? undefined
    : (opts.tty ?? io.isTTY)
      ? new BarRenderer(io.stream)
      : new LineRenderer(io);
  let progress: PipelineProgress | undefined;
  try {
    for (;;) {
      const p = await queryProgress(client, handle, opts.queryTimeoutMs);
      if (p) {
        progress = p;
        renderer?.update(p);
      }
      description = await handle.describe();
      if (description.status.name !== 'RUNNING') break;
      await sleep(interval);
    }
    // One more query after close, so the final states (e.g. the last step completed) are shown.
    const last = await queryProgress(client, handle, Math.min(opts.queryTimeoutMs ?? 5000, 3000));
    if (last) {
      progress = last;
      renderer?.update(last);
    }
  } finally {
    renderer?.stop();
  }

  let outcome: FollowOutcome = 'completed';
  let result: unknown;
  let failure: string | undefined;
  try {
    result = await handle.result();
  } catch (err) {
    outcome = outcomeOfError(err);
    failure = failureText(err);
  }
  description = await handle.describe().catch(() => description);
  const elapsed =
    description.closeTime && description.startTime
      ? description.closeTime.getTime() - description.startTime.getTime()
      : 0;

  if (opts.json) {
    printJson(io, {
      workflowId,
      runId,
      type: description.type,
      status: outcome,
      startTime: description.startTime,
      closeTime: description.closeTime,
      webUiUrl: link,
      progress,
      ...(failure !== undefined ? { failure } : { result }),
    });
    return outcome;
  }
  if (outcome === 'completed') {
    io.out(`\n${workflowId} completed in ${formatDuration(elapsed)}`);
    io.out(isPipelineSummary(result) ? terminalSummary(result) : JSON.stringify(result, null, 2));
  } else {
    const failedSteps = progress?.steps.filter((s) => s.state === 'failed').map((s) => s.name) ?? [];
    io.out(
      `\n${workflowId} ${outcome.toUpperCase()} after ${formatDuration(elapsed)}` +
        `${failedSteps.length > 0 ? ` at step ${failedSteps.join(', ')}` : ''}: ${failure}`,
    );
  }
  io.out(link);
  return outcome;
}

/** Registers `follow <workflowId> [--json]` on `program`; exits 1 unless the workflow completed. */
export function registerFollowCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('follow <workflowId>')
      .description('Show live progress of a run (e.g. daily-pipeline-2026-11-23) until it closes, then its summary.')
      .option('--interval <ms>', 'poll interval in milliseconds', '1000')
      .addOption(workerOption()),
  ).action((workflowId: string, opts: { json?: boolean; interval: string; worker: WorkerMode }) =>
    runAction(io, async () => {
      const config = getConfig();
      const outcome = await withClient(config, async (client) => {
        // A run that is still going needs a worker: the same watchdog as every other waiting command.
        const running = await client.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        const watchdog = new WorkerWatchdog({
          client,
          config,
          mode: opts.worker,
          taskQueue: running?.taskQueue,
          warn: (line) => io.err(line),
        });
        try {
          if (running?.status.name === 'RUNNING') {
            await watchdog.attach(client.workflow.getHandle(workflowId, running.runId));
          }
          return await followWorkflow(client, config, workflowId, {
            json: opts.json,
            io,
            intervalMs: Number(opts.interval) || 1000,
          });
        } finally {
          await watchdog.close();
        }
      });
      io.setExitCode(outcome === 'completed' ? EXIT.ok : EXIT.failed);
    }),
  );
}
