/**
 * Part files as streams: header plus rows of one entity's shard for one run date, produced in
 * ~64 KiB chunks on demand (pull-based, so a slow consumer such as an S3 upload applies
 * backpressure and memory stays flat however many rows a shard has).
 */
import { Readable } from 'node:stream';
import { csvHeader, isEntityName, type EntityName } from '../entities.js';
import type { ScaleInput } from '../types.js';
import {
  ChunkWriter,
  DIGITS2,
  pack,
  putComma,
  putDate,
  putDayId,
  putPacked,
  putPatientId,
  putTime,
  putUint,
  utf8,
  type Packed,
} from './bytes.js';
import { MAX_RUN_DATE, MIN_RUN_DATE, dateTable, dayString, parseDayIndex } from './calendar.js';
import { DIAGNOSIS_TABLES, buildClinics } from './network.js';
import { ID_DAY_STRIDE, NEIGHBOURHOOD_CSV } from './patients.js';
import { appointmentsPerDay, planShards, shardRange } from '../shards.js';
import { PATIENT_NAME_PARTS } from './pools.js';
import {
  COMMENT_POOL,
  Depth,
  MAX_LEAD_DAYS,
  VisitDeriver,
  buildDayContext,
  type Reminded,
  type Visit,
} from './visits.js';

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
  /**
   * The run date's reminded appointments (by index) and the reminder's relative risk; they change the outcomes of
   * appointments, records and feedback. Absent: the outcomes are those of a day without reminders.
   */
  reminded?: Reminded;
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
  const appointments = appointmentsPerDay(scale);
  const reminded = spec.reminded;
  if (reminded !== undefined) {
    if (!(reminded.indexes instanceof Uint8Array) || reminded.indexes.length !== appointments) {
      throw new GeneratorInputError(
        `reminded.indexes must have one entry per appointment of the day (${appointments})`,
      );
    }
    const rr = reminded.relativeRisk;
    if (typeof rr !== 'number' || !(rr > 0 && rr <= 1)) {
      throw new GeneratorInputError(
        `reminded.relativeRisk must be more than 0 and at most 1, got ${JSON.stringify(rr)}`,
      );
    }
  }
  // clinics and doctors are one snapshot shard; their range is unused.
  const { start, end } = shardRange(scale, shardRows, shard);
  return { ...spec, day, appointments, shards, start, end };
}

/** Receives the running row count while chunks are produced. */
export interface RowCounter {
  rows: number;
}

/**
 * The part file as a lazy sequence of Buffer chunks (header first, then ~64 KiB of whole rows each).
 * `counter.rows` is updated before each chunk is yielded, so it always equals the data rows emitted. With
 * `reuse`, every chunk is a view of one buffer, valid only until the next is requested (see {@link ChunkWriter}).
 */
export function* generateShardChunks(
  spec: ShardSpec,
  counter: RowCounter = { rows: 0 },
  reuse = false,
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
    const out = new ChunkWriter(undefined, reuse);
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

  // The schedule of D is the next weekday's appointments (their day, ids and draws), filtered to those booked by D.
  const visitDay = r.entity === 'schedule' ? nextWeekday(day) : day;
  const ctx = buildDayContext(r.seed, visitDay, r.appointments);
  const entity: VisitEntity = r.entity;
  const deriver = new VisitDeriver(ctx, entity === 'patients', entity === 'schedule' ? undefined : r.reminded);
  const text = new DayText(visitDay, day);
  const fill = FILL[entity];
  const out = new ChunkWriter(undefined, reuse);
  let rows = 0;
  let i = r.start;
  while (i < r.end) {
    // The hot loop runs in a plain function per entity, which the JIT optimises better than a generator body.
    const filled = fill(out, deriver, text, i, r.end);
    rows += filled.rows;
    i = filled.next;
    counter.rows = rows;
    if (out.length > 0) yield out.take();
  }
}

type VisitEntity = 'patients' | 'appointments' | 'records' | 'feedback' | 'schedule';

/** The day index of the first Monday-to-Friday day after `day` (day 0, 2000-01-01, was a Saturday). */
export function nextWeekday(day: number): number {
  let next = day + 1;
  // (day + 6) % 7 is the weekday with 0 = Sunday, 6 = Saturday.
  while ((next + 6) % 7 === 0 || (next + 6) % 7 === 6) next++;
  return next;
}

/** Fills `out` with rows for appointments `start`.. until the chunk is full or `end`; returns the rows written and the next index. */
type Fill = (
  out: ChunkWriter,
  deriver: VisitDeriver,
  text: DayText,
  start: number,
  end: number,
) => { rows: number; next: number };

const bool = (x: boolean) => (x ? 'true' : 'false');

/**
 * Everything of a row that depends only on the run date and the seed, encoded once per shard: the
 * day parts of ids, dates by lead time, and the fixed tails of each entity's rows.
 */
class DayText {
  readonly dates = dateTable();
  /** Digits of the day in two words, and their length (0 for day 0): the day part of the day's ids. */
  readonly dayDigits: Uint32Array;
  readonly dayLength: number;
  /** `YYYY-MM-DD ` of the booking day, by lead time. */
  readonly bookedOn: Packed[];
  /** `,<appointment_day>,<sms>,<no_show>,<batch_date>\n` by sms * 2 + noShow. */
  readonly appointmentTail: Packed[];
  /** `,<neighbourhood>` per neighbourhood. */
  readonly hoods: Packed[];
  /** `,<scholarship>,<hypertension>,<diabetes>,<alcoholism>,` by the four flags as bits (8, 4, 2, 1). */
  readonly patientFlags: Packed[];
  /** `,<batch_date>\n`. */
  readonly tail: Packed;
  /** Schedule rows: `,<appointment_day>,<sms>,<batch_date>\n` by sms, and the shortest lead booked by the batch date. */
  readonly scheduleTail: Packed[];
  readonly scheduleMinLead: number;
  /** `<report_date>,` for records; `<submitted day> ` for feedback. */
  readonly dayComma: Packed;
  readonly daySpace: Packed;
  /** `<diagnosis>,` per specialty and diagnosis; `<comment>,` per comment, plus `,` alone for none (last). */
  readonly diagnoses: Packed[][];
  readonly comments: Packed[];

  /** `day`: the appointments' day; `batchDay`: the run date (the same, except for the schedule: the day before). */
  constructor(
    readonly day: number,
    batchDay = day,
  ) {
    this.dayDigits = new Uint32Array(2);
    this.dayLength = 0;
    if (day > 0) {
      // ids of day 0 are the bare index
      const p = pack(String(day));
      if (p.length > 8) throw new RangeError(`day index ${day} has more than 8 digits`);
      this.dayDigits[0] = p.words[0] as number;
      this.dayDigits[1] = p.words[1] ?? 0;
      this.dayLength = p.length;
    }
    const date = dayString(day);
    this.bookedOn = Array.from({ length: MAX_LEAD_DAYS + 1 }, (_, lead) => pack(`${dayString(day - lead)} `));
    this.appointmentTail = [0, 1, 2, 3].map((k) => pack(`,${date},${bool(k >= 2)},${bool((k & 1) === 1)},${date}\n`));
    this.hoods = NEIGHBOURHOOD_CSV.map((n) => pack(`,${n}`));
    this.patientFlags = Array.from({ length: 16 }, (_, k) =>
      pack(`,${bool((k & 8) !== 0)},${bool((k & 4) !== 0)},${bool((k & 2) !== 0)},${bool((k & 1) !== 0)},`),
    );
    this.tail = pack(`,${date}\n`);
    const batch = dayString(batchDay);
    this.scheduleTail = [0, 1].map((k) => pack(`,${date},${bool(k === 1)},${batch}\n`));
    this.scheduleMinLead = day - batchDay;
    this.dayComma = pack(`${date},`);
    this.daySpace = pack(`${date} `);
    this.diagnoses = DIAGNOSIS_TABLES.map((t) => t.labels.map((l) => pack(`${l},`)));
    this.comments = [...COMMENT_POOL.map((c) => pack(`${c},`)), pack(',')];
  }
}

/** Writes `<day * 10^7 + index>`: the id of the day's appointment `index` (and of its record and feedback). */
function putId(view: DataView, buf: Uint8Array, p: number, t: DayText, index: number): number {
  const digits = t.dayDigits;
  return putDayId(view, buf, p, digits[0] as number, digits[1] as number, t.dayLength, index);
}

/** `<appointment_id>,<appointment_id>,<patient_id>,<doctor_id>,`: the key columns records and feedback start with. */
function putKeys(view: DataView, buf: Uint8Array, p: number, t: DayText, i: number, v: Visit): number {
  p = putComma(buf, putId(view, buf, p, t, i));
  p = putComma(buf, putId(view, buf, p, t, i));
  p = putPatientId(view, buf, p, v.patient.tenure, v.patient.slot);
  return putPacked(view, buf, p, v.doctor.idField);
}

const fillAppointments: Fill = (out, deriver, t, start, end) => {
  const { buf, view, capacity } = out;
  let p = out.pos;
  let i = start;
  let rows = 0;
  for (; i < end && p < capacity; i++) {
    const v = deriver.derive(i, Depth.Appointment);
    if (v.cancelled) continue;
    p = putComma(buf, putId(view, buf, p, t, i));
    p = putPatientId(view, buf, p, v.patient.tenure, v.patient.slot);
    p = putPacked(view, buf, p, v.doctor.idField);
    p = putPacked(view, buf, p, t.bookedOn[v.leadDays] as Packed);
    p = putTime(view, p, v.scheduledMinute * 60 + v.scheduledSecond);
    p = putPacked(view, buf, p, t.appointmentTail[(v.sms ? 2 : 0) + (v.noShow ? 1 : 0)] as Packed);
    rows++;
  }
  out.pos = p;
  return { rows, next: i };
};

/** Tomorrow's schedule: the appointments of the text's day booked on or before the batch date, without the outcome. */
const fillSchedule: Fill = (out, deriver, t, start, end) => {
  const { buf, view, capacity } = out;
  const minLead = t.scheduleMinLead;
  let p = out.pos;
  let i = start;
  let rows = 0;
  for (; i < end && p < capacity; i++) {
    const v = deriver.derive(i, Depth.Appointment);
    if (v.leadDays < minLead) continue;
    p = putComma(buf, putId(view, buf, p, t, i));
    p = putPatientId(view, buf, p, v.patient.tenure, v.patient.slot);
    p = putPacked(view, buf, p, v.doctor.idField);
    p = putPacked(view, buf, p, t.bookedOn[v.leadDays] as Packed);
    p = putTime(view, p, v.scheduledMinute * 60 + v.scheduledSecond);
    p = putPacked(view, buf, p, t.scheduleTail[v.sms ? 1 : 0] as Packed);
    rows++;
  }
  out.pos = p;
  return { rows, next: i };
};

const fillPatients: Fill = (out, deriver, t, start, end) => {
  const { buf, view, capacity } = out;
  const dates = t.dates;
  const { first, middle, family, lastWithGender } = PATIENT_NAME_PARTS;
  let p = out.pos;
  let i = start;
  for (; i < end && p < capacity; i++) {
    const pt = deriver.derive(i, Depth.Appointment).patient;
    p = putPatientId(view, buf, p, pt.tenure, pt.slot);
    // `,<first> <middle> <family1> <family2>,<gender>,`
    const g = pt.female ? 0 : 1;
    p = putPacked(view, buf, p, (first[g] as readonly Packed[])[pt.first] as Packed);
    p = putPacked(view, buf, p, (middle[g] as readonly Packed[])[pt.middle] as Packed);
    p = putPacked(view, buf, p, family[pt.family1] as Packed);
    p = putPacked(view, buf, p, (lastWithGender[g] as readonly Packed[])[pt.family2] as Packed);
    p = putDate(buf, p, dates, pt.registeredOn - pt.ageDaysAtRegistration);
    p = putPacked(view, buf, p, t.hoods[pt.neighbourhood] as Packed);
    const flags =
      (pt.scholarship ? 8 : 0) + (pt.hypertension ? 4 : 0) + (pt.diabetes ? 2 : 0) + (pt.alcoholism ? 1 : 0);
    p = putPacked(view, buf, p, t.patientFlags[flags] as Packed);
    p = putComma(buf, putUint(buf, p, pt.handicap));
    p = putDate(buf, p, dates, pt.registeredOn);
    p = putPacked(view, buf, p, t.tail);
  }
  out.pos = p;
  return { rows: i - start, next: i };
};

const fillRecords: Fill = (out, deriver, t, start, end) => {
  const { buf, view, capacity } = out;
  let p = out.pos;
  let i = start;
  let rows = 0;
  for (; i < end && p < capacity; i++) {
    const v = deriver.derive(i, Depth.Record);
    if (v.noShow || v.cancelled) continue;
    // record_id = appointment_id: records are 1:1 with attended appointments.
    p = putKeys(view, buf, p, t, i, v);
    p = putPacked(view, buf, p, t.dayComma);
    p = putPacked(view, buf, p, (t.diagnoses[v.doctor.specialtyIndex] as Packed[])[v.diagnosis] as Packed);
    const units = Math.floor(v.amountCents / 100);
    p = putUint(buf, p, units);
    buf[p++] = DOT;
    view.setUint16(p, DIGITS2[v.amountCents - units * 100] as number, true);
    p = putPacked(view, buf, p + 2, t.tail);
    rows++;
  }
  out.pos = p;
  return { rows, next: i };
};

const fillFeedback: Fill = (out, deriver, t, start, end) => {
  const { buf, view, capacity } = out;
  const comments = t.comments;
  let p = out.pos;
  let i = start;
  let rows = 0;
  for (; i < end && p < capacity; i++) {
    const v = deriver.derive(i, Depth.Feedback);
    if (v.noShow || v.cancelled || !v.hasFeedback) continue;
    // feedback_id = appointment_id: at most one feedback per appointment.
    p = putKeys(view, buf, p, t, i, v);
    buf[p] = ZERO + v.rating;
    p = putPacked(
      view,
      buf,
      putComma(buf, p + 1),
      comments[v.comment >= 0 ? v.comment : comments.length - 1] as Packed,
    );
    p = putPacked(view, buf, p, t.daySpace);
    p = putTime(view, p, v.submittedSecond);
    p = putPacked(view, buf, p, t.tail);
    rows++;
  }
  out.pos = p;
  return { rows, next: i };
};

const FILL: Record<VisitEntity, Fill> = {
  appointments: fillAppointments,
  patients: fillPatients,
  records: fillRecords,
  feedback: fillFeedback,
  schedule: fillSchedule,
};

/** Header of the truth files (`truth/appointments/dt=<date>/part-NNNNN.csv`). */
export const TRUTH_HEADER = 'appointment_id,no_show_probability';

/**
 * The truth part file of an appointments shard: for every appointment, the probability its no-show was drawn
 * with (after the reminder's relative risk when `spec.reminded` has it), shortest round-trip decimal. A property
 * of the synthetic source, kept out of `raw/` and the warehouse. Same rows and order as the appointments part (a
 * cancelled appointment has neither).
 */
export function* generateTruthChunks(spec: ShardSpec, reuse = false): Generator<Buffer, void, void> {
  const r = resolveShardSpec(spec);
  if (r.entity !== 'appointments') throw new GeneratorInputError(`truth is written for appointments, not ${r.entity}`);
  yield Buffer.from(`${TRUTH_HEADER}\n`, 'utf8');
  const deriver = new VisitDeriver(buildDayContext(r.seed, r.day, r.appointments), false, r.reminded);
  const t = new DayText(r.day);
  // The probabilities come from a small table (times the relative risk): each is formatted once.
  const text = new Map<number, Uint8Array>();
  const out = new ChunkWriter(undefined, reuse);
  for (let i = r.start; i < r.end; i++) {
    const v = deriver.derive(i, Depth.Appointment);
    if (v.cancelled) continue;
    let tail = text.get(v.noShowProbability);
    if (tail === undefined) {
      tail = utf8(`,${String(v.noShowProbability)}\n`);
      text.set(v.noShowProbability, tail);
    }
    out.pos = putId(out.view, out.buf, out.pos, t, i);
    out.bytes(tail);
    if (out.full) yield out.take();
  }
  if (out.length > 0) yield out.take();
}

const DOT = 46;
const ZERO = 48;

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
