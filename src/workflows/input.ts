/**
 * Validation of workflow inputs. Users start workflows with the temporal CLI and plain JSON, so
 * every input is checked inside the workflow and a bad one fails the run for good, with a message
 * that says which field is wrong and what a right one looks like.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';
import { isoDate } from '../domain/dates.js';
import { ENTITY_NAMES } from '../domain/entities.js';

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

export const pipelineInput = z.strictObject({ runDate: isoDate, scale: scaleInput.optional() });
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
});
export type IngestInput = z.infer<typeof ingestInput>;

export const runDateInput = z.strictObject({ runDate: isoDate });
export const weekendNoticeInput = z.strictObject({ date: isoDate });
export const scheduledWeekendNoticeInput = z.strictObject({ timezone: timezone.default('UTC') });

/**
 * Parses `raw` with `schema`, or fails the workflow non-retryably with an `InvalidInput` failure
 * naming each bad field. Retrying cannot fix a bad input, so the run ends at once.
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
  throw ApplicationFailure.nonRetryable(
    `${workflow}: invalid input ${JSON.stringify(raw)}: ${problems}`,
    'InvalidInput',
  );
}
