/**
 * Tomorrow's schedule, the truth files and the reminded set (issue 11 §2), on the pure generator: the schedule of D
 * is the part of the next weekday's appointments booked by the end of D; the truth holds the probability each
 * outcome was drawn with; a reminded set changes exactly the reminded appointments' probabilities, and no set
 * changes nothing.
 */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { csvHeader, type EntityName } from '../../src/domain/entities.js';
import {
  GeneratorInputError,
  ID_DAY_STRIDE,
  REMINDED,
  REMINDED_ANSWER_HEADER,
  REMINDED_CANCELLED,
  REMINDED_HEADER,
  TRUTH_HEADER,
  appointmentsPerDay,
  generateShardChunks,
  generateTruthChunks,
  nextWeekday,
  parseDayIndex,
  parseRemindedIds,
  planShards,
  resolveShardSpec,
  type Reminded,
  type ShardSpec,
} from '../../src/domain/generator/index.js';

type Row = Record<string, string>;

const SEED = 4242;
const SHARED = ['appointment_id', 'patient_id', 'doctor_id', 'scheduled_at', 'appointment_day', 'sms_received'];

function spec(entity: EntityName, runDate: string, over: Partial<ShardSpec> = {}): ShardSpec {
  return { entity, runDate, scale: 3_000, shard: 0, seed: SEED, shardRows: 1_000, ...over };
}

function bytes(chunks: Iterable<Buffer>): Buffer {
  return Buffer.concat([...chunks]);
}

/** Every shard of an entity's day, rows parsed. */
function allRows(entity: EntityName, runDate: string, over: Partial<ShardSpec> = {}): Row[] {
  const base = spec(entity, runDate, over);
  return Array.from({ length: planShards(entity, base.scale, base.shardRows) }, (_, shard) =>
    parse(bytes(generateShardChunks({ ...base, shard })), { columns: true }),
  ).flat() as Row[];
}

/** Every shard's truth of an appointments day. */
function allTruth(runDate: string, over: Partial<ShardSpec> = {}): Row[] {
  const base = spec('appointments', runDate, over);
  return Array.from({ length: planShards('appointments', base.scale, base.shardRows) }, (_, shard) =>
    parse(bytes(generateTruthChunks({ ...base, shard })), { columns: true }),
  ).flat() as Row[];
}

const pick = (r: Row, columns: readonly string[]) => columns.map((c) => r[c]).join(',');

/** Flags for the day's appointment indexes whose index is a multiple of `every`. */
function everyNth(scale: number, every: number): Uint8Array {
  const flags = new Uint8Array(scale);
  for (let i = 0; i < scale; i += every) flags[i] = 1;
  return flags;
}

describe("tomorrow's schedule", () => {
  test('the next weekday: Monday to Thursday the day after, Friday, Saturday and Sunday the Monday', () => {
    const next = (d: string) => nextWeekday(parseDayIndex(d) as number) - (parseDayIndex(d) as number);
    // 2026-03-02 is a Monday.
    assert.deepEqual(
      ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07', '2026-03-08'].map(next),
      [1, 1, 1, 1, 3, 2, 1],
    );
  });

  for (const [label, runDate, nextDay] of [
    ['a Tuesday', '2026-03-03', '2026-03-04'],
    ['a Friday (across the weekend)', '2026-03-06', '2026-03-09'],
  ] as const) {
    test(`the schedule of ${label} is the next weekday's appointments booked by its end, row for row`, () => {
      const schedule = allRows('schedule', runDate);
      const next = allRows('appointments', nextDay);
      const booked = next.filter((r) => (r.scheduled_at as string).slice(0, 10) <= runDate);
      assert.ok(booked.length > 1_000 && booked.length < next.length, `${booked.length} of ${next.length} booked`);
      assert.deepEqual(
        schedule.map((r) => pick(r, SHARED)),
        booked.map((r) => pick(r, SHARED)),
      );
      assert.ok(schedule.every((r) => r.batch_date === runDate && r.appointment_day === nextDay));
      // Same ids, in whatever shard size the schedule was cut.
      const oneShard = allRows('schedule', runDate, { shardRows: 3_000 });
      assert.deepEqual(
        oneShard.map((r) => pick(r, SHARED)),
        schedule.map((r) => pick(r, SHARED)),
      );
    });
  }

  test('the schedule file has the entity header and no outcome column', () => {
    const body = bytes(generateShardChunks(spec('schedule', '2026-03-03'))).toString('utf8');
    assert.equal(body.slice(0, body.indexOf('\n')), csvHeader('schedule'));
    assert.equal(
      csvHeader('schedule'),
      'appointment_id,patient_id,doctor_id,scheduled_at,appointment_day,sms_received,batch_date',
    );
  });
});

describe('truth', () => {
  const runDate = '2026-03-04';

  test('one probability in (0, 1) per appointment, in the appointments order, near the realized no-show rate', () => {
    const scale = 20_000;
    const appointments = allRows('appointments', runDate, { scale, shardRows: 5_000 });
    const truth = allTruth(runDate, { scale, shardRows: 5_000 });
    assert.deepEqual(
      truth.map((r) => r.appointment_id),
      appointments.map((r) => r.appointment_id),
    );
    const p = truth.map((r) => Number(r.no_show_probability));
    assert.ok(
      p.every((x) => x > 0 && x < 1),
      'every probability is in (0, 1)',
    );
    const mean = p.reduce((a, b) => a + b, 0) / p.length;
    const realized = appointments.filter((r) => r.no_show === 'true').length / appointments.length;
    // 20,000 Bernoulli draws: the realized rate's standard error is about 0.003.
    assert.ok(Math.abs(mean - realized) < 0.012, `mean probability ${mean} vs realized ${realized}`);
    assert.equal(
      bytes(generateTruthChunks(spec('appointments', runDate)))
        .toString()
        .split('\n')[0],
      TRUTH_HEADER,
    );
  });

  test('is written for appointments only', () => {
    assert.throws(() => [...generateTruthChunks(spec('records', runDate))], GeneratorInputError);
  });
});

describe('reminded set', () => {
  const runDate = '2026-03-04';
  const scale = 3_000;
  const rr = 0.77;
  const reminded: Reminded = { indexes: everyNth(scale, 3), relativeRisk: rr };
  const index = (id: string) => Number(id) - (parseDayIndex(runDate) as number) * ID_DAY_STRIDE;

  test("reminded appointments' probabilities are exactly RR times; the other rows are unchanged", () => {
    const before = allTruth(runDate);
    const after = allTruth(runDate, { reminded });
    assert.equal(after.length, before.length);
    let changedOutcomes = 0;
    const apptBefore = allRows('appointments', runDate);
    const apptAfter = allRows('appointments', runDate, { reminded });
    for (let k = 0; k < before.length; k++) {
      const b = before[k] as Row;
      const a = after[k] as Row;
      assert.equal(a.appointment_id, b.appointment_id);
      const isReminded = reminded.indexes[index(b.appointment_id as string)] === 1;
      const expected = isReminded ? Number(b.no_show_probability) * rr : Number(b.no_show_probability);
      assert.equal(Number(a.no_show_probability), expected, `appointment ${b.appointment_id}`);
      if (!isReminded) assert.deepEqual(apptAfter[k], apptBefore[k]);
      else if (apptAfter[k]?.no_show !== apptBefore[k]?.no_show) changedOutcomes++;
    }
    // A reminder only ever turns a no-show into a show (same draw, lower probability).
    assert.ok(changedOutcomes > 0, 'some reminded no-shows became shows');
    const noShows = (rows: Row[]) => rows.filter((r) => r.no_show === 'true').length;
    assert.equal(noShows(apptBefore) - noShows(apptAfter), changedOutcomes);
  });

  test("records and feedback follow the reminded outcomes; the other appointments' rows are unchanged", () => {
    for (const entity of ['records', 'feedback'] as const) {
      const before = allRows(entity, runDate);
      const after = allRows(entity, runDate, { reminded });
      const key = (rows: Row[]) =>
        rows
          .filter((r) => reminded.indexes[index(r.appointment_id as string)] !== 1)
          .map((r) => Object.values(r).join());
      assert.deepEqual(key(after), key(before), entity);
      assert.ok(after.length >= before.length, `${entity}: a reminder never removes a visit`);
    }
  });

  test('patients and the schedule do not depend on it', () => {
    for (const entity of ['patients', 'schedule'] as const) {
      const s = spec(entity, runDate);
      assert.ok(bytes(generateShardChunks({ ...s, reminded })).equals(bytes(generateShardChunks(s))), entity);
    }
  });

  test('an empty set or a relative risk of 1 leaves every byte as without a set', () => {
    const s = spec('appointments', runDate);
    const plain = bytes(generateShardChunks(s));
    const none = { indexes: new Uint8Array(scale), relativeRisk: rr };
    const one = { indexes: everyNth(scale, 2), relativeRisk: 1 };
    assert.ok(bytes(generateShardChunks({ ...s, reminded: none })).equals(plain));
    assert.ok(bytes(generateShardChunks({ ...s, reminded: one })).equals(plain));
  });

  test('a bad set or relative risk is refused', () => {
    const s = spec('appointments', runDate);
    assert.throws(() => resolveShardSpec({ ...s, reminded: { indexes: new Uint8Array(10), relativeRisk: rr } }), {
      name: 'GeneratorInputError',
      message: /one entry per appointment/,
    });
    for (const relativeRisk of [0, -0.5, 1.01, Number.NaN]) {
      assert.throws(
        () => resolveShardSpec({ ...s, reminded: { indexes: new Uint8Array(scale), relativeRisk } }),
        { name: 'GeneratorInputError', message: /relativeRisk/ },
        String(relativeRisk),
      );
    }
  });

  test('parseRemindedIds reads one id per line, an optional header, and refuses ids of other days', () => {
    const day = parseDayIndex(runDate) as number;
    const id = (i: number) => String(day * ID_DAY_STRIDE + i);
    const flags = parseRemindedIds(`${REMINDED_HEADER}\n${id(0)}\n${id(7)}\r\n\n${id(7)}\n`, runDate, 10);
    assert.deepEqual([...flags], [1, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert.deepEqual([...parseRemindedIds('', runDate, 3)], [0, 0, 0]);
    for (const [text, line] of [
      [`${id(1)}\n${id(10)}`, 2], // past the day's appointments
      [`${String((day - 1) * ID_DAY_STRIDE + 1)}`, 1], // the day before
      [`${id(1)}\nabc`, 2],
      [`${id(1)}\n${REMINDED_HEADER}`, 2], // a header only on the first line
      ['-1', 1],
    ] as const) {
      assert.throws(
        () => parseRemindedIds(text, runDate, 10),
        { name: 'RangeError', message: new RegExp(`^line ${line} is not`) },
        text,
      );
    }
  });
});

describe('cancellations after a reminder', () => {
  const runDate = '2026-03-04';
  const scale = 3_000;
  const day = parseDayIndex(runDate) as number;
  const index = (id: string) => Number(id) - day * ID_DAY_STRIDE;
  // Every third appointment reminded, every ninth of them (index % 9 === 0) cancelled.
  const indexes = everyNth(scale, 3).map((f, i) => (f === 1 && i % 9 === 0 ? REMINDED_CANCELLED : f));
  const reminded: Reminded = { indexes, relativeRisk: 0.77 };
  const plain: Reminded = { indexes: indexes.map((f) => (f === 0 ? 0 : REMINDED)), relativeRisk: 0.77 };
  const cancelled = (r: Row) => indexes[index(r.appointment_id as string)] === REMINDED_CANCELLED;

  test('a cancelled appointment has no appointment, truth, record or feedback row; every other row is as without cancellations', () => {
    const count = indexes.filter((f) => f === REMINDED_CANCELLED).length;
    assert.ok(count > 50, `${count} cancelled`);
    for (const entity of ['appointments', 'records', 'feedback'] as const) {
      const withCancels = allRows(entity, runDate, { reminded });
      const without = allRows(entity, runDate, { reminded: plain });
      assert.equal(withCancels.filter(cancelled).length, 0, entity);
      assert.deepEqual(
        withCancels,
        without.filter((r) => !cancelled(r)),
        entity,
      );
    }
    const truth = allTruth(runDate, { reminded });
    assert.deepEqual(
      truth,
      allTruth(runDate, { reminded: plain }).filter((r) => !cancelled(r)),
    );
    assert.equal(truth.length, scale - count);
    assert.deepEqual(
      truth.map((r) => r.appointment_id),
      allRows('appointments', runDate, { reminded }).map((r) => r.appointment_id),
      'the truth has the rows of the appointments',
    );
  });

  test('parseRemindedIds reads answers: cancelled flags a cancellation, confirmed or nothing a reminder', () => {
    const id = (i: number) => String(day * ID_DAY_STRIDE + i);
    const text = `${REMINDED_ANSWER_HEADER}\n${id(0)},cancelled\n${id(2)},confirmed\n${id(3)},\n${id(4)}\n${id(3)},cancelled\n`;
    assert.deepEqual([...parseRemindedIds(text, runDate, 6)], [2, 0, 1, 2, 1, 0]);
    assert.throws(() => parseRemindedIds(`${id(1)},maybe`, runDate, 6), { message: /^line 1 is not/ });
  });
});

describe('without a reminded set, the bytes are those of the generator before reminders and the schedule', () => {
  // Recorded with the same specs (every shard of each day, concatenated): from main at c162007, before reminders and
  // the schedule existed; patients and what follows from them again when the chronic visit class and its hidden
  // propensity changed the generated data on purpose (2026-12-06), clinics and doctors unchanged since c162007.
  const RECORDED: Record<string, string> = {
    'clinics/2026-03-06/small': '5e87530d70bf83b4',
    'clinics/2026-03-09/5000': '377990ef76f509f8',
    'doctors/2026-03-06/small': 'c3a973aa2b0c545f',
    'doctors/2026-03-09/5000': '92567af3987f7fa6',
    'patients/2026-03-06/small': 'baf5bf17fbc7638a',
    'patients/2026-03-09/5000': 'fd4be7039901a174',
    'appointments/2026-03-06/small': '6625050d93368b3b',
    'appointments/2026-03-09/5000': '8d6ded3e09cba1ad',
    'records/2026-03-06/small': '5cdf014a9e6e5e81',
    'records/2026-03-09/5000': '7a1a29ecc9331ca0',
    'feedback/2026-03-06/small': '658e5aa85091e049',
    'feedback/2026-03-09/5000': '95c097ea9592e4d5',
  };
  const hash = (entity: EntityName, runDate: string, scale: 'small' | number) => {
    const h = createHash('sha256');
    const shards = planShards(entity, scale, 2_000);
    for (let shard = 0; shard < shards; shard++) {
      for (const c of generateShardChunks({ entity, runDate, scale, shard, seed: 42, shardRows: 2_000 })) h.update(c);
    }
    return h.digest('hex').slice(0, 16);
  };

  test('recorded hashes', () => {
    for (const [name, expected] of Object.entries(RECORDED)) {
      const [entity, runDate, scale] = name.split('/') as [EntityName, string, string];
      assert.equal(hash(entity, runDate, scale === 'small' ? 'small' : Number(scale)), expected, name);
    }
    assert.equal(appointmentsPerDay('small'), 1_000);
  });
});
