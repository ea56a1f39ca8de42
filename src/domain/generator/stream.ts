/**
 * Part files as streams: header plus rows of one entity's shard for one run date, produced in
 * ~64 KiB chunks on demand (pull-based, so a slow consumer such as an S3 upload applies
 * backpressure and memory stays flat however many rows a shard has).
 */
import { Readable } from 'node:stream';
import { csvHeader, isEntityName, type EntityName } from '../entities.js';
import type { ScaleInput } from '../types.js';
import { ChunkWriter, utf8 } from './bytes.js';
import { MAX_RUN_DATE, MIN_RUN_DATE, dayString, parseDayIndex } from './calendar.js';
import { DIAGNOSIS_TABLES, buildClinics } from './network.js';
import { ID_DAY_STRIDE, NEIGHBOURHOOD_CSV } from './patients.js';
import { appointmentsPerDay, planShards, shardRange } from '../shards.js';
import { namePools, type NamePools } from './pools.js';
import { COMMENT_POOL, Depth, VisitDeriver, buildDayContext, type Visit } from './visits.js';

/** What identifies one part file; the output is a pure function of it. */
export interface ShardSpec {
  entity: EntityName;
  /** YYYY-MM-DD, from 2000-01-01 to 2099-12-31. */
  runDate: string;
  scale: ScaleInput;
  shard: number;
  seed: number;
  /** Appointments per shard for per-appointment entities (config SHARD_ROWS). */
  shardRows: number;
}

/** Input that can never produce a part file (bad date, unknown entity, shard out of range …). */
export class GeneratorInputError extends Error {
  override name = 'GeneratorInputError';
}

/** A validated spec with what it implies. */
export interface ResolvedSpec extends ShardSpec {
  day: number;
  appointments: number;
  shards: number;
  start: number;
  end: number;
}

/** Checks a spec and resolves day index, appointment count and index range; throws {@link GeneratorInputError}. */
export function resolveShardSpec(spec: ShardSpec): ResolvedSpec {
  const { entity, runDate, scale, shard, seed, shardRows } = spec;
  if (!isEntityName(entity)) throw new GeneratorInputError(`unknown entity ${JSON.stringify(entity)}`);
  const day = typeof runDate === 'string' ? parseDayIndex(runDate) : undefined;
  if (day === undefined)
    throw new GeneratorInputError(`runDate must be a calendar date YYYY-MM-DD, got ${JSON.stringify(runDate)}`);
  if (runDate < MIN_RUN_DATE || runDate > MAX_RUN_DATE) {
    throw new GeneratorInputError(`runDate must be from ${MIN_RUN_DATE} to ${MAX_RUN_DATE}, got ${runDate}`);
  }
  const scaleOk =
    scale === 'small' ||
    scale === 'medium' ||
    scale === 'large' ||
    (typeof scale === 'number' && Number.isSafeInteger(scale) && scale >= 1 && scale <= ID_DAY_STRIDE);
  if (!scaleOk) {
    throw new GeneratorInputError(
      `scale must be small, medium, large or a whole number from 1 to ${ID_DAY_STRIDE}, got ${JSON.stringify(scale)}`,
    );
  }
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new GeneratorInputError(`seed must be a whole number from 0 to 4294967295, got ${JSON.stringify(seed)}`);
  }
  if (!Number.isSafeInteger(shardRows) || shardRows < 1) {
    throw new GeneratorInputError(`shardRows must be a positive whole number, got ${JSON.stringify(shardRows)}`);
  }
  const shards = planShards(entity, scale, shardRows);
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= shards) {
    throw new GeneratorInputError(
      `shard must be from 0 to ${shards - 1} for ${entity} at scale ${scale}, got ${JSON.stringify(shard)}`,
    );
  }
  // clinics and doctors are one snapshot shard; their range is unused.
  const { start, end } = shardRange(scale, shardRows, shard);
  return { ...spec, day, appointments: appointmentsPerDay(scale), shards, start, end };
}

/** Receives the running row count while chunks are produced. */
export interface RowCounter {
  rows: number;
}

const TRUE = utf8('true');
const FALSE = utf8('false');
const FEMALE = 70; // 'F'
const MALE = 77; // 'M'
const SPACE = 32;
const DOT = 46;

/**
 * The part file as a lazy sequence of Buffer chunks (header first, then ~64 KiB of whole rows each).
 * `counter.rows` is updated before each chunk is yielded, so it always equals the data rows emitted.
 */
export function* generateShardChunks(
  spec: ShardSpec,
  counter: RowCounter = { rows: 0 },
): Generator<Buffer, void, void> {
  const r = resolveShardSpec(spec);
  counter.rows = 0;
  yield Buffer.from(`${csvHeader(r.entity)}\n`, 'utf8');
  const day = r.day;
  const tail = utf8(`,${dayString(day)}\n`);

  if (r.entity === 'clinics' || r.entity === 'doctors') {
    const lines =
      r.entity === 'clinics'
        ? buildClinics(r.seed, r.appointments).map((c) => c.csv)
        : buildDayContext(r.seed, day, r.appointments).roster.map((d) => d.csv);
    const out = new ChunkWriter();
    let rows = 0;
    for (const line of lines) {
      out.bytes(utf8(line));
      out.bytes(tail);
      rows++;
      if (out.full) {
        counter.rows = rows;
        yield out.take();
      }
    }
    counter.rows = rows;
    if (out.length > 0) yield out.take();
    return;
  }

  const ctx = buildDayContext(r.seed, day, r.appointments);
  const entity: VisitEntity = r.entity;
  const deriver = new VisitDeriver(ctx, entity === 'patients');
  const depth = entity === 'records' ? Depth.Record : entity === 'feedback' ? Depth.Feedback : Depth.Appointment;
  const pools = namePools(r.seed);
  const hoods = NEIGHBOURHOOD_CSV.map(utf8);
  const diagnoses = DIAGNOSIS_TABLES.map((t) => t.labels.map(utf8));
  const comments = COMMENT_POOL.map(utf8);
  const out = new ChunkWriter();
  const write = (i: number, v: Visit) => writeVisit(out, entity, day, i, v, tail, pools, hoods, diagnoses, comments);
  let rows = 0;
  let i = r.start;
  while (i < r.end) {
    // The hot loop runs in a plain function (fillChunk), which the JIT optimises better than a generator body.
    const filled = fillChunk(out, deriver, depth, entity, i, r.end, write);
    rows += filled.rows;
    i = filled.next;
    counter.rows = rows;
    if (out.length > 0) yield out.take();
  }
}

type VisitEntity = 'patients' | 'appointments' | 'records' | 'feedback';

/** Derives visits from `start` until the chunk is full or `end`; returns the rows written and the next index. */
function fillChunk(
  out: ChunkWriter,
  deriver: VisitDeriver,
  depth: Depth,
  entity: VisitEntity,
  start: number,
  end: number,
  write: (i: number, v: Visit) => void,
): { rows: number; next: number } {
  let rows = 0;
  let i = start;
  for (; i < end && !out.full; i++) {
    const v = deriver.derive(i, depth);
    if (entity === 'records' && v.noShow) continue;
    if (entity === 'feedback' && (v.noShow || !v.hasFeedback)) continue;
    write(i, v);
    rows++;
  }
  return { rows, next: i };
}

/** Writes one row of `entity` for visit `v` (appointment index `i`), including batch_date and the line end. */
function writeVisit(
  out: ChunkWriter,
  entity: VisitEntity,
  day: number,
  i: number,
  v: Visit,
  tail: Uint8Array,
  pools: NamePools,
  hoods: readonly Uint8Array[],
  diagnoses: readonly (readonly Uint8Array[])[],
  comments: readonly Uint8Array[],
): void {
  switch (entity) {
    case 'appointments':
      out.id(day, i);
      out.comma();
      out.id(v.patientDay, i);
      out.comma();
      out.bytes(v.doctor.idUtf8);
      out.comma();
      out.date(day - v.leadDays);
      out.byte(SPACE);
      out.time(v.scheduledMinute * 60 + v.scheduledSecond);
      out.comma();
      out.date(day);
      out.comma();
      out.bytes(v.sms ? TRUE : FALSE);
      out.comma();
      out.bytes(v.noShow ? TRUE : FALSE);
      break;
    case 'patients': {
      const p = v.patient;
      out.id(v.patientDay, i);
      out.comma();
      out.bytes((p.female ? pools.femaleUtf8 : pools.maleUtf8)[p.name] as Uint8Array);
      out.comma();
      out.byte(p.female ? FEMALE : MALE);
      out.comma();
      out.date(p.registeredOn - p.ageDaysAtRegistration);
      out.comma();
      out.bytes(hoods[p.neighbourhood] as Uint8Array);
      out.comma();
      out.bytes(p.scholarship ? TRUE : FALSE);
      out.comma();
      out.bytes(p.hypertension ? TRUE : FALSE);
      out.comma();
      out.bytes(p.diabetes ? TRUE : FALSE);
      out.comma();
      out.bytes(p.alcoholism ? TRUE : FALSE);
      out.comma();
      out.uint(p.handicap);
      out.comma();
      out.date(p.registeredOn);
      break;
    }
    case 'records':
      // record_id = appointment_id: records are 1:1 with attended appointments.
      out.id(day, i);
      out.comma();
      out.id(day, i);
      out.comma();
      out.id(v.patientDay, i);
      out.comma();
      out.bytes(v.doctor.idUtf8);
      out.comma();
      out.date(day);
      out.comma();
      out.bytes((diagnoses[v.doctor.specialtyIndex] as Uint8Array[])[v.diagnosis] as Uint8Array);
      out.comma();
      out.uint(Math.floor(v.amountCents / 100));
      out.byte(DOT);
      out.padded(v.amountCents % 100, 2);
      break;
    case 'feedback':
      // feedback_id = appointment_id: at most one feedback per appointment.
      out.id(day, i);
      out.comma();
      out.id(day, i);
      out.comma();
      out.id(v.patientDay, i);
      out.comma();
      out.bytes(v.doctor.idUtf8);
      out.comma();
      out.uint(v.rating);
      out.comma();
      if (v.comment >= 0) out.bytes(comments[v.comment] as Uint8Array);
      out.comma();
      out.date(day);
      out.byte(SPACE);
      out.time(v.submittedSecond);
      break;
  }
  out.bytes(tail);
}

/**
 * A part file as a byte stream. Chunks are generated only when the consumer reads, so the stream
 * honours backpressure; `rows` and `bytes` count what has been emitted so far (final after 'end').
 * The spec is validated when the stream is created: a bad spec throws {@link GeneratorInputError}.
 */
export class ShardStream extends Readable implements RowCounter {
  rows = 0;
  bytes = 0;
  readonly spec: ResolvedSpec;
  private readonly chunks: Generator<Buffer, void, void>;

  constructor(spec: ShardSpec) {
    super({ highWaterMark: 64 * 1024 });
    this.spec = resolveShardSpec(spec);
    this.chunks = generateShardChunks(spec, this);
  }

  override _read(): void {
    try {
      for (;;) {
        const next = this.chunks.next();
        if (next.done) {
          this.push(null);
          return;
        }
        this.bytes += next.value.length;
        if (!this.push(next.value)) return;
      }
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.chunks.return();
    callback(err);
  }
}

/** Opens the part file for `spec` as a {@link ShardStream} (see there). */
export function generateShardStream(spec: ShardSpec): ShardStream {
  return new ShardStream(spec);
}
