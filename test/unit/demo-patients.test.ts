/**
 * The pure parts of the demo's patient loop (`npm run demo -- --days N`): which patients tomorrow's schedule holds
 * (derived without generating it, and equal to the generated part file), which of them link, and what each answers
 * to a reminder or a rating request: deterministic per seed, with shares within tolerance.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { plannedLinks, ratingReply, reminderReply } from '../../src/bot/demo-patients.js';
import { weekdaysEndingAt } from '../../src/domain/dates.js';
import { generateShardChunks, scheduledAppointments } from '../../src/domain/generator/index.js';

const SEED = 20_261_120;

test('weekdaysEndingAt: the N weekdays up to a date, oldest first, skipping weekends', () => {
  assert.deepEqual(weekdaysEndingAt('2026-12-07', 3), ['2026-12-03', '2026-12-04', '2026-12-07']);
  // A Sunday ends at the Friday before it.
  assert.deepEqual(weekdaysEndingAt('2026-12-06', 2), ['2026-12-03', '2026-12-04']);
  assert.deepEqual(weekdaysEndingAt('2026-12-03', 1), ['2026-12-03']);
  assert.deepEqual(weekdaysEndingAt('2026-12-03', 0), []);
});

describe('scheduledAppointments', () => {
  test('is exactly the schedule part file the generator writes for the date (ids and patients)', () => {
    for (const runDate of ['2026-12-03', '2026-12-04']) {
      const csv = [
        ...generateShardChunks({ entity: 'schedule', runDate, scale: 500, shard: 0, seed: SEED, shardRows: 1000 }),
      ]
        .map((b) => b.toString('utf8'))
        .join('');
      const rows = csv
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(',').slice(0, 2).map(Number));
      const derived = scheduledAppointments(SEED, runDate, 500);
      assert.ok(rows.length > 200, `${rows.length} scheduled rows`);
      assert.deepEqual(
        derived.map((a) => [a.appointmentId, a.patientId]),
        rows,
        runDate,
      );
      for (const a of derived) assert.ok(a.noShowProbability > 0 && a.noShowProbability < 1);
    }
  });
});

describe('plannedLinks', () => {
  const schedule = scheduledAppointments(SEED, '2026-12-03', 'small');

  test('links about the share asked, the same patients for a seed, each once', () => {
    const patients = new Set(schedule.map((a) => a.patientId)).size;
    const links = plannedLinks(schedule, { seed: 7, linkShare: 0.6 });
    assert.deepEqual(plannedLinks(schedule, { seed: 7, linkShare: 0.6 }), links);
    assert.equal(new Set(links.map((l) => l.patientId)).size, links.length);
    const share = links.length / patients;
    assert.ok(Math.abs(share - 0.6) < 0.06, `share ${share} of ${patients}`);
    assert.notDeepEqual(
      plannedLinks(schedule, { seed: 8, linkShare: 0.6 }).map((l) => l.patientId),
      links.map((l) => l.patientId),
    );
    assert.equal(plannedLinks(schedule, { seed: 7, linkShare: 0 }).length, 0);
  });

  test('leaves out patients already linked and stops at the limit', () => {
    const links = plannedLinks(schedule, { seed: 7, linkShare: 0.6 });
    const linked = new Set(links.slice(0, 10).map((l) => l.patientId));
    assert.deepEqual(plannedLinks(schedule, { seed: 7, linkShare: 0.6, linked }), links.slice(10));
    assert.deepEqual(plannedLinks(schedule, { seed: 7, linkShare: 0.6, limit: 5 }), links.slice(0, 5));
  });
});

describe('answers', () => {
  const shares = (p: number) => {
    const n = 4000;
    const counts = { confirm: 0, cancel: 0, ignore: 0 };
    for (let i = 1; i <= n; i++) counts[reminderReply(SEED, i, 1000 + i, p)]++;
    return { confirm: counts.confirm / n, cancel: counts.cancel / n, ignore: counts.ignore / n };
  };

  test('a reminder is confirmed, cancelled or left with the shares its no-show probability gives', () => {
    assert.equal(reminderReply(SEED, 42, 4242, 0.3), reminderReply(SEED, 42, 4242, 0.3));
    const low = shares(0.1);
    const high = shares(0.6);
    // p = 0.1: ignore 0.21, cancel 0.085, confirm 0.705; p = 0.6: ignore 0.51, cancel 0.26, confirm 0.23.
    assert.ok(Math.abs(low.ignore - 0.21) < 0.03 && Math.abs(low.cancel - 0.085) < 0.02, JSON.stringify(low));
    assert.ok(Math.abs(high.ignore - 0.51) < 0.03 && Math.abs(high.cancel - 0.26) < 0.03, JSON.stringify(high));
    assert.ok(high.confirm < low.confirm);
  });

  test('a rating request gets 1–5 stars or nothing, deterministically', () => {
    let answered = 0;
    let stars = 0;
    for (let i = 1; i <= 4000; i++) {
      const r = ratingReply(SEED, i, 2000 + i, 0.2);
      assert.equal(r, ratingReply(SEED, i, 2000 + i, 0.2));
      if (r === undefined) continue;
      assert.ok(Number.isInteger(r) && r >= 1 && r <= 5);
      answered++;
      stars += r;
    }
    // Answered with 0.8 - 0.4 p = 0.72; mean stars 4.01.
    assert.ok(Math.abs(answered / 4000 - 0.72) < 0.03, `answered ${answered}`);
    assert.ok(Math.abs(stars / answered - 4.01) < 0.08, `mean ${stars / answered}`);
  });
});
