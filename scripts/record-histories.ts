/**
 * Records the histories that test/workflow/replay.test.ts replays: the real workflows, run by the real
 * worker against the running local stack, then `fetchHistory()` → JSON in test/workflow/histories/current/.
 * (test/workflow/histories/before-patches/ holds histories recorded before the `patched()` changes listed in
 * src/workflows/patches.ts; they stay, so the replay test proves runs open at those deploys still replay.)
 *
 *   node --import tsx scripts/record-histories.ts
 *
 * Re-record after a deliberate, versioned change to workflow code (or when adding a scenario); never to
 * make a failing replay test pass without understanding why it failed: a replay failure means runs
 * that were in flight when the new code is deployed would break.
 *
 * Scenarios (dates in 2010: in the past, since run dates after today are refused, and a year no test uses,
 * so ids never collide with other runs):
 *  - daily-pipeline-completed: dailyPipeline at scale 200 and all its children (seven ingestEntity,
 *    doctorRatingReport, retentionCleanup, predictNoShows: too few outcomes on a first day, so no model);
 *  - daily-pipeline-report-failed: the report's build activity replaced by one that throws (fault
 *    injection; everything else is real), so the pipeline alerts, finishes the cleanup and fails;
 *  - daily-pipeline-invalid-input: a run date that is not a date;
 *  - scheduled-weekend-notice-first / -second: a real schedule backfilled twice for the same Sunday,
 *    so the second run finds weekend-notice-<date> and returns alreadySent; plus that child's history;
 *  - scheduled-daily-pipeline-first / -second: the daily-pipeline schedule backfilled twice for the same
 *    Monday: the first runs daily-pipeline-<date> as its child, the second finds it completed and does nothing;
 *  - dbt-full-refresh / scheduled-dbt-full-refresh: the weekly full refresh, started by hand and by its schedule;
 *  - appointment-reminders / appointment-reminder: one scored appointment of a linked patient, reminded through the
 *    receiver's Telegram; the appointment starts 5 s later, so the reminder's timer ends without an answer.
 *  - rating-requests / rating-request: after the completed pipeline, one patient of its date linked and the date's
 *    ratingRequests run again by hand (its own id) with a 1 s answer window: it starts that patient's
 *    ratingRequest-<appointmentId>, which asks (the fake Telegram takes the message) and ends "no-response".
 *  - rating-request-commented: another patient of that date, linked afterwards, asked by a ratingRequest started by
 *    hand: 4 stars and a comment (sealed as the bot seals it) arrive as Updates; rated, invited, commented.
 *
 *   node --import tsx scripts/record-histories.ts --only=dbt-full-refresh   records one scenario, keeps the rest
 *   node --import tsx scripts/record-histories.ts --only=retention-cleanup  the cleanup alone (started by hand, not as
 *                                                                            the pipeline's child), the same way
 *   node --import tsx scripts/record-histories.ts --only=appointment-reminders  the two reminder histories alone (on
 *                                                                            the database a full recording left)
 * The pipeline runs in its own database (hs_record_histories), so the cleanup deletes nobody's rows.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ScheduleOverlapPolicy,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type Client,
  type ScheduleOptions,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as prettier from 'prettier';
import { ObjectStore } from '../src/activities/storage.js';
import { inHoldout } from '../src/activities/reminders.js';
import { createWarehouse } from '../src/activities/warehouse/index.js';
import { sealComment } from '../src/bot/comment.js';
import { createContactStore } from '../src/bot/contacts.js';
import { reminderKeys } from '../src/domain/reminders.js';
import { loadConfig, type Config } from '../src/config.js';
import { ENTITY_NAMES } from '../src/domain/entities.js';
import { desiredSchedules, SCHEDULE_IDS } from '../src/schedules.js';
import { connectClient, workflowIds, WORKFLOW_TYPES } from '../src/temporal.js';
import { PATIENT_ANSWER_UPDATE, PATIENT_COMMENT_UPDATE } from '../src/workflow-ids.js';
import { installQuietRuntime, startWorker } from '../src/worker.js';
import type { dailyPipeline } from '../src/workflows/daily-pipeline.js';
import type { dbtFullRefresh } from '../src/workflows/dbt-full-refresh.js';
import type { ratingRequests } from '../src/workflows/rating-requests.js';
import type { retentionCleanup } from '../src/workflows/retention-cleanup.js';
import { freshDatabase } from '../test/support/env.js';
import { startReceiver } from '../test/support/receiver.js';
import { writeScoredSchedule } from '../test/support/scored-schedule.js';
import { historyToJson } from '../test/workflow/histories/history-json.js';

/** Where the replay test looks for histories. */
export const HISTORIES_DIR = fileURLToPath(new URL('../test/workflow/histories/current/', import.meta.url));

const PIPELINE_DATE = '2010-06-11';
const FAILING_REPORT_DATE = '2010-06-10';
/** A Monday: the daily-pipeline schedule runs on weekdays. */
const SCHEDULED_PIPELINE_DATE = '2010-06-14';
const SCALE = 200;
/** A Sunday: the dbt-full-refresh schedule runs on Sundays at 03:00. */
const FULL_REFRESH_DATE = '2010-06-13';
/** The run date whose (hand-written) scores the reminders scenario reminds. */
const REMINDERS_DATE = '2010-06-15';

/** Writes the history of the run behind `handle` (its latest run when no run id is bound). */
async function record(client: Client, name: string, workflowId: string, runId?: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const file = path.join(HISTORIES_DIR, `${name}.json`);
  // Formatted as the repository's Prettier config wants, so `npm run lint` passes on recorded files.
  const json = await prettier.format(historyToJson(history), {
    ...(await prettier.resolveConfig(file)),
    parser: 'json',
  });
  await writeFile(file, json);
  console.log(`recorded ${name}.json: ${history.events?.length ?? 0} events, ${Math.round(json.length / 1024)} KB`);
}

/** Waits for a workflow's result and ignores its failure (failed runs are recorded too). */
async function settle(handle: WorkflowHandle): Promise<'completed' | 'failed'> {
  try {
    await handle.result();
    return 'completed';
  } catch (err) {
    if (err instanceof WorkflowFailedError) return 'failed';
    throw err;
  }
}

/** Polls until a workflow the server starts (a schedule action) exists, then waits for it to close. */
async function awaitStartedBySchedule(client: Client, workflowId: string): Promise<'completed' | 'failed'> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.workflow.getHandle(workflowId).describe();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`schedule did not start ${workflowId} within 60 s: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return settle(client.workflow.getHandle(workflowId));
}

/** A Sunday in 2010 whose weekend-notice id has never been used on this server. */
async function unusedSunday(client: Client): Promise<string> {
  for (;;) {
    // 2010-01-03 was a Sunday.
    const day = new Date(Date.UTC(2010, 0, 3 + 7 * randomInt(0, 52)));
    const date = day.toISOString().slice(0, 10);
    const exists = await client.workflow
      .getHandle(workflowIds.weekendNotice(date))
      .describe()
      .then(() => true)
      .catch(() => false);
    if (!exists) return date;
  }
}

async function main(): Promise<void> {
  installQuietRuntime();
  const receiver = await startReceiver();
  const config = loadConfig({
    ...process.env,
    TEMPORAL_TASK_QUEUE: `record-histories-${randomUUID().slice(0, 8)}`,
    DATABASE_URL: await freshDatabase('hs_record_histories'),
    SLACK_WEBHOOK_URL: receiver.slackUrl,
    TELEGRAM_BOT_TOKEN: '123456:RECORD-token',
    TELEGRAM_STAFF_CHAT_ID: '-100200300',
    TELEGRAM_PATIENT_CHAT_ID: '-100400500',
    TELEGRAM_API_ROOT: receiver.telegramApiRoot,
    TELEGRAM_LINK_SECRET: 'record-histories-link-secret-of-32-chars',
    HEALTHSYNTH_TIMEZONE: 'UTC',
  });
  const client = await connectClient(config);
  const worker = await startWorker(config, {
    wrapActivities: (activities) => ({
      ...activities,
      // Fault injection for the report-failed scenario only; every other activity and date is real.
      async buildDoctorRatingReport(input: Parameters<typeof activities.buildDoctorRatingReport>[0]) {
        if (input.runDate === FAILING_REPORT_DATE) {
          throw ApplicationFailure.nonRetryable('chart renderer crashed (injected fault)', 'InjectedFault');
        }
        return activities.buildDoctorRatingReport(input);
      },
    }),
  });
  const schedulePrefix = `record-${randomUUID().slice(0, 8)}-`;
  const scheduleIds = Object.values(SCHEDULE_IDS).map((id) => `${schedulePrefix}${id}`);
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  try {
    await mkdir(HISTORIES_DIR, { recursive: true });
    if (only === 'dbt-full-refresh') {
      await recordFullRefresh(client, config, schedulePrefix);
      return;
    }
    if (only === 'retention-cleanup') {
      await recordRetentionCleanup(client, config);
      return;
    }
    if (only === 'appointment-reminders') {
      await recordReminders(client, config);
      return;
    }
    if (only) {
      throw new Error(
        `--only: unknown scenario ${only} (known: dbt-full-refresh, retention-cleanup, appointment-reminders)`,
      );
    }
    for (const f of await readdir(HISTORIES_DIR)) {
      if (f.endsWith('.json')) await rm(path.join(HISTORIES_DIR, f));
    }
    const start = (workflowId: string, args: Parameters<typeof dailyPipeline>) =>
      client.workflow.start<typeof dailyPipeline>(WORKFLOW_TYPES.dailyPipeline, {
        taskQueue: config.temporal.taskQueue,
        workflowId,
        args,
      });

    // 1. A completed pipeline and every child.
    const ok = await start(workflowIds.dailyPipeline(PIPELINE_DATE), [{ runDate: PIPELINE_DATE, scale: SCALE }]);
    console.log(`daily-pipeline ${PIPELINE_DATE}: ${await settle(ok)}`);
    await record(client, 'daily-pipeline-completed', ok.workflowId, ok.firstExecutionRunId);
    for (const entity of ENTITY_NAMES) {
      await record(client, `ingest-entity-${entity}`, workflowIds.ingest(entity, PIPELINE_DATE));
    }
    await record(client, 'doctor-rating-report', workflowIds.report(PIPELINE_DATE));
    await record(client, 'retention-cleanup', workflowIds.cleanup(PIPELINE_DATE));
    await record(client, 'predict-no-shows', workflowIds.predict(PIPELINE_DATE));
    await recordRatingRequests(client, config);

    // 2. The report fails (injected), the cleanup completes, the pipeline alerts and fails.
    const failing = await start(workflowIds.dailyPipeline(FAILING_REPORT_DATE), [
      { runDate: FAILING_REPORT_DATE, scale: SCALE },
    ]);
    console.log(`daily-pipeline ${FAILING_REPORT_DATE} (report fault): ${await settle(failing)}`);
    await record(client, 'daily-pipeline-report-failed', failing.workflowId, failing.firstExecutionRunId);
    await record(client, 'doctor-rating-report-failed', workflowIds.report(FAILING_REPORT_DATE));

    // 3. Invalid input fails at once.
    const invalid = await start(`record-invalid-input-${randomUUID().slice(0, 8)}`, [{ runDate: '2030-13-45' }]);
    console.log(`daily-pipeline invalid input: ${await settle(invalid)}`);
    await record(client, 'daily-pipeline-invalid-input', invalid.workflowId, invalid.firstExecutionRunId);

    // 4. The weekend-notice schedule, backfilled twice over the same Sunday 10:05: sent once, then alreadySent.
    const sunday = await unusedSunday(client);
    const [, weekendOptions] = desiredSchedules(config, { idPrefix: schedulePrefix });
    if (!weekendOptions) throw new Error('desiredSchedules returned no weekend-notice schedule');
    await recordBackfilledTwice(client, weekendOptions, sunday, {
      label: `scheduled weekend notice ${sunday}`,
      first: 'scheduled-weekend-notice-first',
      second: 'scheduled-weekend-notice-second',
      afterFirst: () => record(client, 'weekend-notice', workflowIds.weekendNotice(sunday)),
    });

    // 5. The daily-pipeline schedule, backfilled twice over the same Monday 10:05: the first run runs the date,
    // the second finds daily-pipeline-<date> completed and does nothing.
    const [dailyOptions] = desiredSchedules(config, { idPrefix: schedulePrefix, scale: SCALE });
    if (!dailyOptions) throw new Error('desiredSchedules returned no daily-pipeline schedule');
    await recordBackfilledTwice(client, dailyOptions, SCHEDULED_PIPELINE_DATE, {
      label: 'scheduled daily pipeline',
      first: 'scheduled-daily-pipeline-first',
      second: 'scheduled-daily-pipeline-second',
    });

    // 6. The weekly dbt full refresh.
    await recordFullRefresh(client, config, schedulePrefix);

    // 7. Tomorrow's reminders and one reminder.
    await recordReminders(client, config);
  } finally {
    for (const id of scheduleIds) {
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    }
    await worker.shutdown();
    await client.connection.close();
    await receiver.close();
  }
}

/** Scenario rating-requests / rating-request (see the module comment), on the completed pipeline's date. */
async function recordRatingRequests(client: Client, config: Config): Promise<void> {
  const store = ObjectStore.fromConfig(config.s3);
  const warehouse = createWarehouse(config, store);
  const contacts = createContactStore(config);
  try {
    await contacts.ensureTable();
    const [visit, rated] = await warehouse.query<{ appointment_id: number; patient_id: number }>(
      `select cast(appointment_id as bigint) as appointment_id, cast(patient_id as bigint) as patient_id
       from marts.appointments where batch_on = cast($1 as date) and not is_no_show
         and patient_id in (select patient_id from marts.appointments where batch_on = cast($1 as date)
                            group by patient_id having count(*) = 1)
       order by 1 limit 2`,
      [PIPELINE_DATE],
    );
    if (!visit || !rated) throw new Error(`fewer than two attended visits on ${PIPELINE_DATE}`);
    await contacts.link(Number(visit.patient_id), '-100400501');
    const run = await client.workflow.start<typeof ratingRequests>(WORKFLOW_TYPES.ratingRequests, {
      taskQueue: config.temporal.taskQueue,
      workflowId: `record-rating-requests-${randomUUID().slice(0, 8)}`,
      args: [{ runDate: PIPELINE_DATE, answerWindowMs: 1000 }],
    });
    console.log(`rating requests ${PIPELINE_DATE}: ${JSON.stringify(await run.result())}`);
    await record(client, 'rating-requests', run.workflowId, run.firstExecutionRunId);
    const request = client.workflow.getHandle(workflowIds.ratingRequest(Number(visit.appointment_id)));
    console.log(`rating request: ${JSON.stringify(await request.result())}`);
    await record(client, 'rating-request', request.workflowId);
    await recordRatedAndCommented(client, config, contacts, {
      appointmentId: Number(rated.appointment_id),
      patientId: Number(rated.patient_id),
    });
  } finally {
    await contacts.close();
    await warehouse.close();
  }
}

/**
 * Scenario rating-request-commented: a second patient of the date, linked after ratingRequests ran, asked by a
 * ratingRequest started by hand; 4 stars and then a comment (sealed as the bot seals it) arrive as the bot's Updates
 * would. Each Update is tried until the workflow takes it: a refused one leaves nothing in history.
 */
async function recordRatedAndCommented(
  client: Client,
  config: Config,
  contacts: ReturnType<typeof createContactStore>,
  visit: { appointmentId: number; patientId: number },
): Promise<void> {
  await contacts.link(visit.patientId, '-100400502');
  const handle = await client.workflow.start(WORKFLOW_TYPES.ratingRequest, {
    taskQueue: config.temporal.taskQueue,
    workflowId: workflowIds.ratingRequest(visit.appointmentId),
    args: [{ ...visit, appointmentDay: PIPELINE_DATE, answerWindowMs: 60_000, commentWindowMs: 60_000 }],
  });
  const untilTaken = async (name: string, arg: object) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await handle.executeUpdate(name, { args: [arg], updateId: `record-${name}` });
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError) || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const secret = config.bot.linkSecret!;
  await untilTaken(PATIENT_ANSWER_UPDATE, { action: '4', patientId: visit.patientId });
  await untilTaken(PATIENT_COMMENT_UPDATE, {
    patientId: visit.patientId,
    sealedComment: sealComment('Recorded comment', visit.appointmentId, secret),
  });
  console.log(`rating request (rated, commented): ${JSON.stringify(await handle.result())}`);
  await record(client, 'rating-request-commented', handle.workflowId);
}

/**
 * Creates the schedule of `options` and backfills its 10:05 UTC action on `date` twice over: records the run
 * of the first backfill as `names.first`, then (after `afterFirst`) the new run the second backfill started as
 * `names.second`.
 */
async function recordBackfilledTwice(
  client: Client,
  options: ScheduleOptions,
  date: string,
  names: { label: string; first: string; second: string; afterFirst?: () => Promise<void> },
): Promise<void> {
  const schedule = await client.schedule.create(options);
  const workflowId = `${options.action.workflowId}-${date}T10:05:00Z`;
  const backfill = () =>
    schedule.backfill({
      start: new Date(`${date}T10:00:00Z`),
      end: new Date(`${date}T10:10:00Z`),
      overlap: ScheduleOverlapPolicy.ALLOW_ALL,
    });
  await backfill();
  console.log(`${names.label} (first): ${await awaitStartedBySchedule(client, workflowId)}`);
  const first = await client.workflow.getHandle(workflowId).describe();
  await record(client, names.first, workflowId, first.runId);
  await names.afterFirst?.();
  await backfill();
  const deadline = Date.now() + 60_000;
  let second = first;
  while (second.runId === first.runId && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    second = await client.workflow.getHandle(workflowId).describe();
  }
  if (second.runId === first.runId) throw new Error(`the second backfill of ${names.label} started no new run`);
  console.log(`${names.label} (second): ${await settle(client.workflow.getHandle(workflowId))}`);
  await record(client, names.second, workflowId, second.runId);
}

/**
 * retentionCleanup of the pipeline's date started by hand (empty tables: every step is nothing-to-clean), for
 * re-recording its history alone after a change to its steps.
 */
async function recordRetentionCleanup(client: Client, config: Config): Promise<void> {
  const warehouse = createWarehouse(config, ObjectStore.fromConfig(config.s3));
  await warehouse.ensureRawTables();
  await warehouse.close();
  const handle = await client.workflow.start<typeof retentionCleanup>(WORKFLOW_TYPES.retentionCleanup, {
    taskQueue: config.temporal.taskQueue,
    workflowId: `record-retention-cleanup-${randomUUID().slice(0, 8)}`,
    args: [{ runDate: PIPELINE_DATE, retentionDays: config.retentionDays }],
  });
  console.log(`retention cleanup ${PIPELINE_DATE}: ${await settle(handle)}`);
  await record(client, 'retention-cleanup', handle.workflowId, handle.firstExecutionRunId);
}

/** dbtFullRefresh started by hand, and scheduledDbtFullRefresh started by a backfill of its schedule. */
async function recordFullRefresh(client: Client, config: Config, schedulePrefix: string): Promise<void> {
  // The raw tables exist even when no pipeline ran before (--only): dbt reads them.
  const warehouse = createWarehouse(config, ObjectStore.fromConfig(config.s3));
  await warehouse.ensureRawTables();
  await warehouse.close();
  const byHand = await client.workflow.start<typeof dbtFullRefresh>(WORKFLOW_TYPES.dbtFullRefresh, {
    taskQueue: config.temporal.taskQueue,
    workflowId: `record-dbt-full-refresh-${randomUUID().slice(0, 8)}`,
    args: [{ runDate: FULL_REFRESH_DATE }],
  });
  console.log(`dbt full refresh ${FULL_REFRESH_DATE}: ${await settle(byHand)}`);
  await record(client, 'dbt-full-refresh', byHand.workflowId, byHand.firstExecutionRunId);

  const options = desiredSchedules(config, { idPrefix: schedulePrefix }).find((o) =>
    o.scheduleId.endsWith(SCHEDULE_IDS.dbtFullRefresh),
  );
  if (!options) throw new Error('desiredSchedules returned no dbt-full-refresh schedule');
  const schedule = await client.schedule.create(options);
  const runId = `${options.action.workflowId}-${FULL_REFRESH_DATE}T03:00:00Z`;
  await schedule.backfill({
    start: new Date(`${FULL_REFRESH_DATE}T02:55:00Z`),
    end: new Date(`${FULL_REFRESH_DATE}T03:05:00Z`),
    overlap: ScheduleOverlapPolicy.ALLOW_ALL,
  });
  console.log(`scheduled dbt full refresh: ${await awaitStartedBySchedule(client, runId)}`);
  await record(client, 'scheduled-dbt-full-refresh', runId);
}

/**
 * appointmentReminders over one hand-written scored appointment of a linked patient (the pipeline's own scores
 * need weeks of outcomes), and that appointment's reminder: sent, no answer before the appointment starts 5 s later.
 */
async function recordReminders(client: Client, config: Config): Promise<void> {
  const store = ObjectStore.fromConfig(config.s3);
  const warehouse = createWarehouse(config, store);
  const contacts = createContactStore(config);
  let appointmentId = 8_000_000_000 + randomInt(1, 1_000_000) * 1000;
  while (inHoldout(appointmentId, config.reminders.holdoutShare)) appointmentId++;
  const patientId = appointmentId;
  const today = new Date().toISOString().slice(0, 10);
  const shift = new Date(Date.now() + 5_000).toISOString().slice(11, 19);
  try {
    await contacts.ensureTable();
    await contacts.link(patientId, String(appointmentId));
    // The decision of the day is reused when stored: this recording's is new.
    await store.delete([reminderKeys.decision(today)]);
    // A probability of 1 passes any threshold; the id was picked outside the holdout.
    await writeScoredSchedule(warehouse, {
      runDate: REMINDERS_DATE,
      appointmentOn: today,
      shift,
      doctorName: 'Dr. Rui Lima',
      clinicName: 'Clínica Centro',
      appointments: [{ appointmentId, patientId, probability: 1 }],
    });
  } finally {
    await contacts.close();
    await warehouse.close();
  }
  const handle = await client.workflow.start(WORKFLOW_TYPES.appointmentReminders, {
    taskQueue: config.temporal.taskQueue,
    workflowId: `record-appointment-reminders-${randomUUID().slice(0, 8)}`,
    args: [{ runDate: REMINDERS_DATE }],
  });
  console.log(`appointment reminders ${REMINDERS_DATE}: ${await settle(handle)}`);
  await record(client, 'appointment-reminders', handle.workflowId, handle.firstExecutionRunId);
  const reminder = client.workflow.getHandle(workflowIds.reminder(appointmentId));
  console.log(`reminder ${appointmentId}: ${await settle(reminder)}`);
  await record(client, 'appointment-reminder', reminder.workflowId);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
