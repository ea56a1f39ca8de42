/**
 * Validation of workflow inputs. Users start workflows with the temporal CLI and plain JSON, so
 * every input is checked inside the workflow and a bad one fails the run for good, with a message
 * that says which field is wrong and what a right one looks like.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';
import { isoDate, localDate, runDateProblem, weekendProblem } from '../domain/dates.js';
import { ENTITY_NAMES } from '../domain/entities.js';
import { quickActivities } from './quick-activities.js';

export { isoDate };

const SCALE_MESSAGE = 'must be "small", "medium", "large" or a whole number of appointments from 1 to 10000000';

/**
 * A scale name or a number of appointments. Every check carries the same message, because zod reports the
 * issue of the union member whose type matched: without it, 0 would only say "Too small: expected number to be >=1".
 */
export const scaleInput = z.union(
  [
    z.enum(['small', 'medium', 'large'], { message: SCALE_MESSAGE }),
    z
      .number({ message: SCALE_MESSAGE })
      .int({ message: SCALE_MESSAGE })
      .min(1, { message: SCALE_MESSAGE })
      .max(10_000_000, { message: SCALE_MESSAGE }),
  ],
  { message: SCALE_MESSAGE },
);

export const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as UTC or Europe/Berlin');

/**
 * An object key in the run's bucket (the reminded set): printable ASCII without spaces, not starting with `/`.
 * Only the key crosses history; the activities read the object.
 */
export const objectKey = z
  .string()
  .max(1024, 'must be at most 1024 characters')
  .regex(/^[!-.0-~][!-~]*$/, 'must be an object key: printable characters, no spaces, not starting with /');

export const pipelineInput = z.strictObject({
  runDate: isoDate,
  scale: scaleInput.optional(),
  /** Lets this run's retention cleanup delete more than RETENTION_MAX_DELETE_SHARE of a table (operator's choice). */
  allowLargeCleanup: z.boolean({ message: 'must be true or false' }).optional(),
  /** The run date's reminded appointments (see GenerateShardInput.remindedKey); absent: outcomes without reminders. */
  remindedKey: objectKey.optional(),
});
export type PipelineInput = z.infer<typeof pipelineInput>;

export const scheduledPipelineInput = z.strictObject({
  timezone: timezone.default('UTC'),
  scale: scaleInput.optional(),
});
export type ScheduledPipelineInput = z.input<typeof scheduledPipelineInput>;

export const ingestInput = z.strictObject({
  entity: z.enum(ENTITY_NAMES),
  runDate: isoDate,
  scale: scaleInput,
  seed: z.number().int().min(0),
  shardRows: z.number().int().min(1),
  /** Workflow id of the pipeline to send progress signals to, when run as its child. */
  parentWorkflowId: z.string().optional(),
  /** The run date's reminded appointments; used by the entities that carry outcomes (appointments, records, feedback). */
  remindedKey: objectKey.optional(),
  /** REMINDER_RELATIVE_RISK as the parent read it, so every shard of the day uses the same (0 < x <= 1). */
  reminderRelativeRisk: z.number().gt(0).max(1).optional(),
});
export type IngestInput = z.infer<typeof ingestInput>;

export const runDateInput = z.strictObject({ runDate: isoDate });
/** appointmentReminders: the run date whose scores choose, and where a continued run resumes starting reminders. */
export const appointmentRemindersInput = z.strictObject({
  runDate: isoDate,
  resume: z
    .strictObject({
      decisionKey: objectKey,
      appointmentOn: isoDate,
      reminded: z.number().int().min(0),
      holdout: z.number().int().min(0),
      offset: z.number().int().min(0),
      started: z.number().int().min(0),
      existing: z.number().int().min(0),
    })
    .optional(),
});
/** appointmentReminder: one reminded appointment's facts (see ReminderFacts); no contact data. */
export const reminderInput = z.strictObject({
  appointmentId: z.number().int().positive(),
  patientId: z.number().int().positive(),
  decidedOn: isoDate,
  appointmentOn: isoDate,
  probability: z.number().min(0).max(1),
  arm: z.literal('reminded'),
  startsAt: z.string().datetime(),
  localTime: z.string().regex(/^\d{2}:\d{2}$/),
  doctorName: z.string().min(1).max(200),
  clinicName: z.string().min(1).max(200),
  language: z.enum(['pt', 'en']).optional(),
});
export const weekendNoticeInput = z.strictObject({ date: isoDate });
export const scheduledWeekendNoticeInput = z.strictObject({ timezone: timezone.default('UTC') });

/**
 * Parses `raw` with `schema`, or fails the workflow non-retryably with an `InvalidInput` failure
 * naming each bad field and what is wrong with it. Retrying cannot fix a bad input, so the run ends at once.
 * The message never repeats the input's values: an input can carry data, and failure messages are stored
 * in Temporal's history unencrypted.
 */
export function parseInput<T extends z.ZodType>(workflow: string, schema: T, raw: unknown): z.output<T> {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  // An unknown field (a typo such as "scael") is answered with the fields that do exist.
  const fields = schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : undefined;
  const problems = parsed.error.issues
    .map((i) => {
      const hint = i.code === 'unrecognized_keys' && fields ? ` (the fields are: ${fields.join(', ')})` : '';
      return `${i.path.length > 0 ? i.path.join('.') : 'input'}: ${i.message}${hint}`;
    })
    .join('; ');
  throw ApplicationFailure.nonRetryable(`${workflow}: invalid input: ${problems}`, 'InvalidInput');
}

const { pipelineSettings } = quickActivities;

export function invalidDate(workflow: string, field: string, problem: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${workflow}: invalid input: ${field}: ${problem}`, 'InvalidInput');
}

/**
 * Fails with `InvalidInput` when `date` (input field `field`) is before the generator's first day or after
 * today in `timezone`. Today comes from the workflow clock (`new Date()` in workflow code), so a replay sees
 * the day the run saw.
 */
export function checkRunDate(workflow: string, field: string, date: string, timezone: string): string {
  const today = localDate(new Date(), timezone);
  const problem = runDateProblem(date, today, timezone);
  if (problem) throw invalidDate(workflow, field, problem);
  return today;
}

/**
 * The date check for workflows that do not read the settings otherwise: a weekend notice's date must be a
 * Saturday or Sunday (checked first, no activity needed), then the timezone comes from the worker's
 * `pipelineSettings` and the date must not be after today there. Returns today in that timezone.
 * Call it only under `patched(PATCHES.dateChecks)`: it schedules an activity.
 */
export async function checkDateInput(
  workflow: string,
  field: string,
  date: string,
  opts: { weekend?: boolean } = {},
): Promise<string> {
  const weekday = opts.weekend ? weekendProblem(date) : undefined;
  if (weekday) throw invalidDate(workflow, field, weekday);
  const { timezone } = await pipelineSettings();
  return checkRunDate(workflow, field, date, timezone);
}
