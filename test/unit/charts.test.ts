import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  doctorRatingSvg,
  PNG_WIDTH,
  renderDoctorRatingPng,
  specialtyLabel,
  TOP_N,
} from '../../src/activities/charts.js';
import { renderDoctorRatingPngInChild } from '../../src/activities/chart-process.js';
import { sampleDoctorRatingRows } from '../support/doctor-rating-rows.js';

const RUN_DATE = '2026-11-23';

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png)
    .extract({ left: x, top: y, width: 1, height: 1 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Array.from(data.subarray(0, info.channels));
}

describe('doctor-rating chart', () => {
  test('the child process the worker renders in gives the same bytes as rendering in process', async () => {
    const rows = sampleDoctorRatingRows(20);
    const options = { totalDoctors: 40, window: 'last 90 days' };
    const child = await renderDoctorRatingPngInChild(rows, RUN_DATE, options);
    assert.ok(child.equals(await renderDoctorRatingPng(rows, RUN_DATE, options)));
  });

  test('renders a PNG about 1200 px wide on a white background', async () => {
    const png = await renderDoctorRatingPng(sampleDoctorRatingRows(20), RUN_DATE);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(Math.abs((meta.width ?? 0) - PNG_WIDTH) <= 2, `width ${meta.width}`);
    assert.ok((meta.height ?? 0) > 500 && (meta.height ?? 0) < 1200, `height ${meta.height}`);
    assert.equal(meta.hasAlpha, false, 'flattened: no alpha channel');
    const w = meta.width ?? 0;
    const h = meta.height ?? 0;
    for (const [x, y] of [
      [0, 0],
      [w - 1, 0],
      [0, h - 1],
      [w - 1, h - 1],
    ] as const) {
      assert.deepEqual(await pixel(png, x, y), [255, 255, 255], `corner ${x},${y} is white`);
    }
  });

  test('text is actually drawn: the title area has dark pixels', async () => {
    const png = await renderDoctorRatingPng(sampleDoctorRatingRows(5), RUN_DATE);
    // The title sits in the top-left; count near-black pixels in that strip.
    const { data } = await sharp(png)
      .extract({ left: 0, top: 0, width: 600, height: 50 })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const dark = data.reduce((n, v) => n + (v < 80 ? 1 : 0), 0);
    assert.ok(dark > 500, `expected title glyphs, found ${dark} dark pixels`);
  });

  test('is deterministic for the same rows and run date', async () => {
    const rows = sampleDoctorRatingRows(15);
    const [a, b] = await Promise.all([renderDoctorRatingPng(rows, RUN_DATE), renderDoctorRatingPng(rows, RUN_DATE)]);
    assert.ok(a.equals(b), 'same bytes');
    const c = await renderDoctorRatingPng(rows, '2026-11-24');
    assert.ok(!a.equals(c), 'a different run date changes the title, so the bytes');
  });

  test(`shows the top ${TOP_N} by rank, whatever the row order, with title and subtitle`, async () => {
    const rows = sampleDoctorRatingRows(18).reverse();
    const svg = await doctorRatingSvg(rows, RUN_DATE, { window: 'feedback of the last 90 days' });
    assert.match(svg, new RegExp(`Doctor rating — ${RUN_DATE}`));
    assert.match(svg, /Top 15 of 18 doctors by score · feedback of the last 90 days/);
    const first = rows.find((r) => r.score_rank === '1');
    assert.ok(first);
    assert.ok(svg.includes(`1. ${first.full_name}`), 'rank 1 labelled');
    assert.ok(svg.includes('15. '), 'rank 15 labelled');
    assert.ok(!svg.includes('16. '), 'rank 16 is not drawn');
    assert.ok(svg.includes(specialtyLabel('general_practice')), 'legend uses readable specialty names');
  });

  test('a doctor’s line says how many of the ratings came from Telegram, and nothing when none did', async () => {
    const rows = sampleDoctorRatingRows(2).map((r, i) => ({ ...r, telegram_rating_count: String(i === 0 ? 7 : 0) }));
    const svg = await doctorRatingSvg(rows, RUN_DATE);
    assert.ok(svg.includes(`${rows[0]!.rating_count} ratings (7 on Telegram)`), 'the first doctor’s Telegram share');
    assert.ok(svg.includes(`${rows[1]!.rating_count} ratings · `), 'no Telegram share for the second');
  });

  test('an empty mart still renders a chart that says so', async () => {
    const png = await renderDoctorRatingPng([], RUN_DATE);
    assert.equal((await sharp(png).metadata()).format, 'png');
    assert.match(await doctorRatingSvg([], RUN_DATE), /No doctor has been rated yet/);
  });
});
