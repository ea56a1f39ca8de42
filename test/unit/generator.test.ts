import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { csvColumns, csvHeader, ENTITY_NAMES, type ColumnType, type EntityName } from '../../src/domain/entities.js';
import type { ScaleInput } from '../../src/domain/types.js';
import {
  GeneratorInputError,
  ID_DAY_STRIDE,
  PATIENT_ID_STRIDE,
  appointmentsPerDay,
  generateShardChunks,
  generateShardStream,
  planShards,
  resolveShardSpec,
  type ShardSpec,
} from '../../src/domain/generator/index.js';
import { csvField } from '../../src/domain/generator/csv.js';
import { COMMENTS } from '../../src/domain/generator/catalog.js';

type Row = Record<string, string>;

// csv-parse rejects unbalanced quotes and rows whose column count differs from the first by default.
const SEED = 4242;
const RUN_DATE = '2026-03-02';

function spec(entity: EntityName, over: Partial<ShardSpec> = {}): ShardSpec {
  return { entity, runDate: RUN_DATE, scale: 'small', shard: 0, seed: SEED, shardRows: 250_000, ...over };
}

function text(s: ShardSpec): string {
  return Buffer.concat([...generateShardChunks(s)]).toString('utf8');
}

function rows(s: ShardSpec): Row[] {
  return parse(text(s), { columns: true }) as Row[];
}

/** Every shard of an entity for a day, concatenated. */
function allRows(entity: EntityName, over: Partial<ShardSpec> = {}): Row[] {
  const base = spec(entity, over);
  const n = planShards(entity, base.scale, base.shardRows);
  return Array.from({ length: n }, (_, shard) => rows({ ...base, shard })).flat();
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const FORMAT: Record<ColumnType, RegExp> = {
  id: /^[1-9]\d*$/,
  integer: /^-?\d+$/,
  smallint: /^-?\d+$/,
  text: /^[^\r\n]*$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  timestamp: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
  time: /^\d{2}:\d{2}:\d{2}$/,
  boolean: /^(true|false)$/,
  money: /^\d+\.\d{2}$/,
};

describe('shard planning', () => {
  test('named scales have the documented sizes; a number is taken as is', () => {
    const expected: Array<[ScaleInput, number]> = [
      ['small', 1_000],
      ['medium', 100_000],
      ['large', 1_000_000],
      [12_345, 12_345],
    ];
    for (const [scale, n] of expected) assert.equal(appointmentsPerDay(scale), n, String(scale));
  });

  test('per-appointment entities split by shardRows, snapshots are one shard', () => {
    assert.equal(planShards('appointments', 'large', 250_000), 4);
    assert.equal(planShards('feedback', 1_000_001, 250_000), 5);
    assert.equal(planShards('patients', 'small', 250_000), 1);
    assert.equal(planShards('clinics', 'large', 1_000), 1);
    assert.equal(planShards('doctors', 'large', 1_000), 1);
    const r = resolveShardSpec(spec('records', { scale: 1_000, shardRows: 400, shard: 2 }));
    assert.deepEqual([r.start, r.end, r.shards], [800, 1_000, 3]);
  });
});

describe('input validation', () => {
  const bad: Array<[string, Partial<ShardSpec>]> = [
    ['impossible date', { runDate: '2026-02-30' }],
    ['unpadded date', { runDate: '2026-3-2' }],
    ['date before 2000', { runDate: '1999-12-31' }],
    ['unknown entity', { entity: 'invoices' as EntityName }],
    ['negative shard', { shard: -1 }],
    ['shard past the plan', { shard: 1 }],
    ['fractional shard', { shard: 0.5 }],
    ['zero scale', { scale: 0 }],
    ['scale too large for the id layout', { scale: ID_DAY_STRIDE + 1 }],
    ['unknown scale name', { scale: 'huge' as ScaleInput }],
    ['negative seed', { seed: -1 }],
    ['zero shardRows', { shardRows: 0 }],
  ];
  for (const [name, over] of bad) {
    test(`rejects ${name}`, () => {
      assert.throws(() => generateShardStream(spec('appointments', over)), GeneratorInputError);
    });
  }
  test('clinics accept only shard 0', () => {
    assert.throws(() => resolveShardSpec(spec('clinics', { shard: 1 })), /shard must be from 0 to 0/);
  });
});

describe('determinism', () => {
  test('the same input gives identical bytes; shard, date and seed change them', () => {
    const s = spec('appointments', { scale: 5_000, shardRows: 2_000, shard: 1 });
    const h = sha(text(s));
    assert.equal(sha(text({ ...s })), h);
    assert.notEqual(sha(text({ ...s, shard: 0 })), h);
    assert.notEqual(sha(text({ ...s, runDate: '2026-03-03' })), h);
    assert.notEqual(sha(text({ ...s, seed: SEED + 1 })), h);
  });

  test('every entity is deterministic, including the faker-built name pools', () => {
    for (const entity of ENTITY_NAMES) assert.equal(sha(text(spec(entity))), sha(text(spec(entity))), entity);
  });

  test('the Readable stream emits exactly the chunk generator bytes and counts rows', async () => {
    const s = spec('feedback', { scale: 3_000 });
    const stream = generateShardStream(s);
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    const body = Buffer.concat(parts);
    assert.equal(sha(body.toString('utf8')), sha(text(s)));
    assert.equal(stream.bytes, body.length);
    assert.equal(stream.rows, body.toString('utf8').trimEnd().split('\n').length - 1);
    assert.ok(stream.rows > 0);
  });

  test('the stream generates on demand: an unread stream buffers about one chunk, not the file', async () => {
    const stream = generateShardStream(spec('appointments', { scale: 100_000, shardRows: 100_000 }));
    await new Promise((resolve) => stream.once('readable', resolve));
    const buffered = stream.bytes;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stream.bytes, buffered, 'nothing is generated while nobody reads');
    assert.ok(buffered > 0 && buffered < 256 * 1024, `buffered ${buffered} bytes before any read`);
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      assert.ok((chunk as Buffer).length <= 200 * 1024, 'chunks stay small');
    }
    assert.equal(total, stream.bytes);
    assert.equal(stream.rows, 100_000);
  });
});

describe('CSV format', () => {
  test('header, column count and value formats follow the entity definitions', () => {
    for (const entity of ENTITY_NAMES) {
      const body = text(spec(entity, { scale: 2_000 }));
      assert.equal(body.slice(0, body.indexOf('\n')), csvHeader(entity));
      assert.ok(body.endsWith('\n') && !body.includes('\r'));
      const data = parse(body, { from_line: 2 }) as string[][];
      assert.ok(data.length > 0, `${entity} has rows`);
      const columns = csvColumns(entity);
      for (const values of data) {
        assert.equal(values.length, columns.length);
        columns.forEach((c, k) => {
          const v = values[k] as string;
          if (v === '' && c.nullable) return;
          assert.match(v, FORMAT[c.type], `${entity}.${c.name} = ${JSON.stringify(v)}`);
          if (c.accepted) assert.ok(c.accepted.map(String).includes(v), `${entity}.${c.name} = ${v}`);
          if (c.maxLength) assert.ok(v.length <= c.maxLength, `${entity}.${c.name} too long`);
        });
        assert.equal(values.at(-1), RUN_DATE, 'batch_date is the run date');
      }
    }
  });

  test('csvField round-trips awkward text through csv-parse (RFC 4180)', () => {
    const samples = [
      'plain',
      'a,b',
      'say "hi"',
      '"',
      '""',
      'line\nbreak',
      'cr\rlf\r\n',
      ' spaced ',
      "D'Ávila",
      'ação, "ok"',
    ];
    const line = samples.map(csvField).join(',') + ',' + csvField(null) + '\n';
    const [parsed] = parse(line, {}) as string[][];
    assert.deepEqual(parsed, [...samples, '']);
    assert.equal(csvField('no quoting needed'), 'no quoting needed');
    assert.equal(csvField('a "b"'), '"a ""b"""');
  });

  test('comments with commas and double quotes survive a parse, and empty means no comment', () => {
    const feedback = rows(spec('feedback', { scale: 20_000 }));
    const known = new Set([...COMMENTS.good, ...COMMENTS.neutral, ...COMMENTS.bad]);
    const comments = feedback.map((f) => f.comment as string).filter((c) => c !== '');
    assert.ok(comments.length > 100);
    for (const c of comments) assert.ok(known.has(c), `unexpected comment ${JSON.stringify(c)}`);
    assert.ok(
      comments.some((c) => c.includes('"') && c.includes(',')),
      'some comments need quoting',
    );
  });
});

describe('consistency within a day (3 shards of 400 appointments)', () => {
  const over = { scale: 1_000, shardRows: 400 } as const;
  const clinics = allRows('clinics', over);
  const doctors = allRows('doctors', over);
  const patients = allRows('patients', over);
  const appointments = allRows('appointments', over);
  const records = allRows('records', over);
  const feedback = allRows('feedback', over);

  const keyed = (list: Row[], key: string) => {
    const map = new Map(list.map((r) => [r[key] as string, r]));
    assert.equal(map.size, list.length, `duplicate ${key}`);
    return map;
  };

  test('no duplicate keys; one appointment and one patient row per appointment index', () => {
    keyed(clinics, 'clinic_id');
    keyed(doctors, 'doctor_id');
    keyed(records, 'record_id');
    keyed(feedback, 'feedback_id');
    assert.equal(keyed(appointments, 'appointment_id').size, 1_000);
    assert.equal(keyed(patients, 'patient_id').size, 1_000);
  });

  test('every foreign key resolves inside the same batch', () => {
    const clinicIds = keyed(clinics, 'clinic_id');
    const doctorIds = keyed(doctors, 'doctor_id');
    const patientIds = keyed(patients, 'patient_id');
    const apptIds = keyed(appointments, 'appointment_id');
    for (const d of doctors) assert.ok(clinicIds.has(d.clinic_id as string), `doctor ${d.doctor_id} clinic`);
    for (const a of appointments) {
      assert.ok(patientIds.has(a.patient_id as string), `appointment ${a.appointment_id} patient`);
      assert.ok(doctorIds.has(a.doctor_id as string), `appointment ${a.appointment_id} doctor`);
    }
    for (const r of [...records, ...feedback]) {
      const a = apptIds.get(r.appointment_id as string);
      assert.ok(a, `${r.appointment_id} exists`);
      assert.equal(a.no_show, 'false', 'only attended appointments have records and feedback');
      assert.equal(r.patient_id, a.patient_id);
      assert.equal(r.doctor_id, a.doctor_id);
    }
    const recordIds = keyed(records, 'appointment_id');
    assert.equal(records.length, appointments.filter((a) => a.no_show === 'false').length);
    for (const f of feedback) assert.ok(recordIds.has(f.appointment_id as string), 'feedback has a record');
  });

  test('each shard of patients/records/feedback matches the same shard of appointments', () => {
    for (let shard = 0; shard < 3; shard++) {
      const appts = rows(spec('appointments', { ...over, shard }));
      const pats = new Set(rows(spec('patients', { ...over, shard })).map((p) => p.patient_id));
      assert.deepEqual(new Set(appts.map((a) => a.patient_id)), pats);
      const attended = new Set(appts.filter((a) => a.no_show === 'false').map((a) => a.appointment_id));
      assert.deepEqual(new Set(rows(spec('records', { ...over, shard })).map((r) => r.appointment_id)), attended);
      for (const f of rows(spec('feedback', { ...over, shard }))) assert.ok(attended.has(f.appointment_id));
    }
  });

  test('dates are coherent: booked before the visit, registered before, born before, hired before', () => {
    for (const a of appointments) {
      assert.equal(a.appointment_day, RUN_DATE);
      const lead = (Date.parse(RUN_DATE) - Date.parse((a.scheduled_at as string).slice(0, 10))) / 86_400_000;
      assert.ok(lead >= 0 && lead <= 60, `lead ${lead}`);
      assert.match(a.scheduled_at as string, / (0[7-9]|1[0-7]):/, 'booked in clinic hours');
    }
    for (const p of patients) {
      assert.ok((p.birth_date as string) <= (p.registered_on as string) && (p.registered_on as string) <= RUN_DATE);
      // patient_id = tenure * 10^9 + slot: a slot of the population (about 81 per daily appointment)
      // held by its tenure-th patient, each tenure lasting 1 to 6 years from day 0 (2000-01-01).
      const id = Number(p.patient_id);
      const slot = id % PATIENT_ID_STRIDE;
      const tenure = Math.floor(id / PATIENT_ID_STRIDE);
      assert.ok(slot < 81 * 1_000, `slot ${slot} beyond the population of 1,000 appointments a day`);
      const day = (Date.parse(RUN_DATE) - Date.UTC(2000, 0, 1)) / 86_400_000;
      assert.ok(tenure >= Math.floor(day / (6 * 365)) && tenure <= Math.ceil(day / 365), `tenure ${tenure}`);
    }
    for (const d of doctors)
      assert.ok((d.hired_on as string) <= RUN_DATE && (d.shift_start as string) < (d.shift_end as string));
    for (const c of clinics) assert.ok((c.opened_on as string) <= RUN_DATE);
    for (const f of feedback) assert.ok((f.submitted_at as string).startsWith(`${RUN_DATE} `));
    for (const r of records) assert.equal(r.report_date, RUN_DATE);
  });
});

describe('consistency across days', () => {
  const strip = (r: Row) => JSON.stringify({ ...r, batch_date: undefined });

  test('ids never collide between two days', () => {
    for (const entity of ['appointments', 'records', 'feedback'] as const) {
      const key = `${entity === 'appointments' ? 'appointment' : entity === 'records' ? 'record' : 'feedback'}_id`;
      const day1 = new Set(rows(spec(entity)).map((r) => r[key]));
      const day2 = rows(spec(entity, { runDate: '2026-03-03' })).map((r) => r[key]);
      assert.ok(
        day2.every((id) => !day1.has(id)),
        `${entity} ids collide`,
      );
    }
    // A patient books at most once a day: patient ids are unique within every day's batch.
    for (const runDate of ['2026-03-02', '2026-03-03']) {
      const ids = allRows('appointments', { runDate, scale: 1_000, shardRows: 400 }).map((a) => a.patient_id);
      assert.equal(new Set(ids).size, ids.length, `a patient booked twice on ${runDate}`);
    }
  });

  test('a returning patient has the same attributes on every day they appear', () => {
    const seen = new Map<string, string>();
    let repeats = 0;
    const start = Date.UTC(2026, 0, 1);
    for (let d = 0; d < 30; d++) {
      const runDate = new Date(start + d * 86_400_000).toISOString().slice(0, 10);
      for (const p of rows(spec('patients', { runDate }))) {
        const before = seen.get(p.patient_id as string);
        if (before !== undefined) {
          repeats++;
          assert.equal(strip(p), before, `patient ${p.patient_id} changed`);
        } else seen.set(p.patient_id as string, strip(p));
      }
    }
    assert.ok(repeats > 50, `only ${repeats} repeat visits in 30 days`);
  });

  test('doctors: stable rows, occasional new hires, none before their hire date', () => {
    const early = new Map(
      rows(spec('doctors', { runDate: '2024-01-15', scale: 'medium' })).map((d) => [d.doctor_id, d]),
    );
    const late = rows(spec('doctors', { runDate: '2026-01-15', scale: 'medium' }));
    const kept = late.filter((d) => early.has(d.doctor_id));
    const hired = late.filter((d) => !early.has(d.doctor_id));
    for (const d of kept) assert.equal(strip(d), strip(early.get(d.doctor_id) as Row));
    for (const d of hired) assert.ok((d.hired_on as string) > '2024-01-15', `${d.doctor_id} hired ${d.hired_on}`);
    assert.ok(kept.length > late.length * 0.7, `roster mostly stable (${kept.length}/${late.length})`);
    assert.ok(hired.length > 0, 'some doctors were hired in two years');
    const clinicsEarly = text(spec('clinics', { runDate: '2024-01-15', scale: 'medium' })).replaceAll(
      '2024-01-15\n',
      '\n',
    );
    const clinicsLate = text(spec('clinics', { runDate: '2026-01-15', scale: 'medium' })).replaceAll(
      '2026-01-15\n',
      '\n',
    );
    assert.equal(clinicsLate, clinicsEarly, 'clinics are a stable list');
  });

  test('sizes follow the scale: clinics and doctors grow with appointments', () => {
    const count = (entity: EntityName, scale: ScaleInput) => rows(spec(entity, { scale })).length;
    assert.equal(count('clinics', 'small'), 8);
    assert.equal(count('clinics', 'medium'), 40);
    assert.equal(count('clinics', 'large'), 120);
    const small = count('doctors', 'small');
    const large = count('doctors', 'large');
    assert.ok(small >= 30 && small <= 40, `small roster ${small}`);
    assert.ok(large >= 2_700 && large <= 3_000, `large roster ${large}`);
  });
});
