/**
 * The synthetic data generator: part files for every entity as a pure function of
 * (seed, runDate, entity, shard, scale). See stream.ts for the entry points and visits.ts for the model.
 */
// Shard planning lives in src/domain/shards.ts so workflow code can import it without the generator.
export { planShards, shardRange, appointmentsPerDay } from '../shards.js';
export {
  generateShardStream,
  generateShardChunks,
  generateTruthChunks,
  nextWeekday,
  resolveShardSpec,
  TRUTH_HEADER,
  ShardStream,
  GeneratorInputError,
  type ShardSpec,
  type ResolvedSpec,
  type RowCounter,
} from './stream.js';
export { ID_DAY_STRIDE } from './patients.js';
export type { Reminded } from './visits.js';
export { PATIENT_ID_STRIDE } from './population.js';
export { DOCTOR_ID_STRIDE, clinicCount, doctorSlots } from './network.js';
export { MIN_RUN_DATE, MAX_RUN_DATE, parseDayIndex, dayString } from './calendar.js';
export { parseRemindedIds, REMINDED_ANSWER_HEADER, REMINDED_HEADER } from './reminded.js';
export { REMINDED, REMINDED_CANCELLED } from './visits.js';
export { scheduledAppointments, type ScheduledAppointment } from './schedule-patients.js';
