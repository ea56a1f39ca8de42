/**
 * The staff report's second chart (expected no-shows and high-risk appointments by clinic): a real PNG of the
 * expected size from a known fixture, the same bytes in the worker's child renderer, and a spec that carries only
 * the clinic aggregates of the fixture.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { renderSpecPngInChild } from '../../src/activities/chart-process.js';
import { PNG_WIDTH, renderSpecPng, specSvg } from '../../src/activities/charts.js';
import { clinicRiskSpec, type ClinicRiskRow } from '../../src/activities/risk-chart.js';

const DAY = '2026-11-24';
const ROWS: ClinicRiskRow[] = [
  { clinic_id: 'CLN-0003', appointments: 120, expected_no_shows: '31.46', high_risk: 19 },
  { clinic_id: 'CLN-0001', appointments: 95, expected_no_shows: 18.04, high_risk: '9' },
  { clinic_id: 'CLN-0002', appointments: 60, expected_no_shows: 9.5, high_risk: 3 },
];

describe('no-show risk chart', () => {
  test('the spec holds the clinic aggregates of the fixture and nothing else', () => {
    const spec = clinicRiskSpec(ROWS, DAY) as {
      data: { values: Record<string, unknown>[] };
      title: { text: string; subtitle: string };
    };
    assert.equal(spec.title.text, `Expected no-shows — ${DAY}`);
    assert.equal(spec.title.subtitle, '275 appointments booked in 3 clinics · 59.0 expected no-shows');
    assert.deepEqual(
      spec.data.values.map((v) => [v.clinic, v.measure, v.value]),
      [
        ['CLN-0003', 'Expected no-shows', 31.5],
        ['CLN-0003', 'High-risk (decile 10)', 19],
        ['CLN-0001', 'Expected no-shows', 18],
        ['CLN-0001', 'High-risk (decile 10)', 9],
        ['CLN-0002', 'Expected no-shows', 9.5],
        ['CLN-0002', 'High-risk (decile 10)', 3],
      ],
    );
    for (const v of spec.data.values) assert.deepEqual(Object.keys(v).sort(), ['booked', 'clinic', 'measure', 'value']);
  });

  test('renders a PNG about 1200 px wide, clinics in order, the same bytes in the child renderer', async () => {
    const spec = clinicRiskSpec(ROWS, DAY);
    const png = await renderSpecPng(spec);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(Math.abs((meta.width ?? 0) - PNG_WIDTH) <= 2, `width ${meta.width}`);
    assert.ok((meta.height ?? 0) > 300 && (meta.height ?? 0) < 900, `height ${meta.height}`);
    assert.equal(meta.hasAlpha, false);
    assert.ok((await renderSpecPngInChild(spec)).equals(png));
    const svg = await specSvg(spec);
    const at = (text: string) => svg.indexOf(`>${text}<`);
    assert.ok(
      at('CLN-0003') > 0 && at('CLN-0003') < at('CLN-0001') && at('CLN-0001') < at('CLN-0002'),
      'clinic labels, most expected first',
    );
    for (const label of ['31.5', '19', '9.5', 'Expected no-shows', 'High-risk (decile 10)']) {
      assert.ok(at(label) > 0, `${label} is drawn`);
    }
  });
});
