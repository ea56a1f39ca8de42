/**
 * How many part files an entity's day is split into. Pure and tiny so workflow code can import it.
 */
import type { EntityName } from './entities.js';
import type { ScaleInput } from './types.js';

const SCALE_APPOINTMENTS = { small: 1_000, medium: 100_000, large: 1_000_000 } as const;

/** Appointments per day for a scale name or number (the one table of scale sizes). */
export function appointmentsPerDay(scale: ScaleInput): number {
  return typeof scale === 'number' ? scale : SCALE_APPOINTMENTS[scale];
}

/**
 * clinics and doctors are small snapshots and always one shard; the per-appointment entities split the
 * day's appointment range into shards of `shardRows` appointments, so shard k of every entity covers the
 * same appointments and their foreign keys line up.
 */
export function planShards(entity: EntityName, scale: ScaleInput, shardRows: number): number {
  if (entity === 'clinics' || entity === 'doctors') return 1;
  return Math.max(1, Math.ceil(appointmentsPerDay(scale) / shardRows));
}

/** The appointment index range [start, end) that shard `shard` covers. */
export function shardRange(scale: ScaleInput, shardRows: number, shard: number): { start: number; end: number } {
  const n = appointmentsPerDay(scale);
  return { start: Math.min(n, shard * shardRows), end: Math.min(n, (shard + 1) * shardRows) };
}
