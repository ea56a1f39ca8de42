/**
 * The staff report's second chart: tomorrow's expected no-shows and high-risk appointments by clinic, from the
 * scores predictNoShows wrote to `marts.no_show_risk`. Aggregates by clinic only (counts and sums of probabilities):
 * no appointment, patient or doctor appears in it. Rendered like the doctor-rating chart (vega-lite → SVG → PNG with
 * sharp, deterministic), so a retry writes the same bytes to the same key.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CHART_FONT, chartTitle } from './charts.js';

/**
 * A scored appointment counts as high-risk when its risk decile is 10: the riskiest tenth of the day's schedule, so
 * about a tenth of the appointments whatever the model's calibration or the day's base rate.
 */
export const HIGH_RISK_DECILE = 10;

/** One clinic's row of the chart (numbers may arrive as strings from the warehouse driver). */
export interface ClinicRiskRow {
  clinic_id: string;
  /** The scored schedule's day (one per scoring date); only the query returns it. */
  appointment_day?: string;
  appointments: number | string;
  expected_no_shows: number | string;
  high_risk: number | string;
}

/** The query behind the chart: one row per clinic scored on `$1`, the most expected no-shows first. Portable SQL. */
export const CLINIC_RISK_SQL = `select clinic_id, to_char(min(appointment_day), 'YYYY-MM-DD') as appointment_day,
       count(*) as appointments, sum(probability) as expected_no_shows,
       sum(case when risk_decile >= ${HIGH_RISK_DECILE} then 1 else 0 end) as high_risk
from marts.no_show_risk
where scored_on = cast($1 as date)
group by clinic_id
order by expected_no_shows desc, clinic_id`;

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** The vega-lite spec: per clinic, two bars (expected no-shows, high-risk appointments) and the booked count. */
export function clinicRiskSpec(rows: readonly ClinicRiskRow[], appointmentDay: string): TopLevelSpec {
  const clinics = rows.map((r) => ({
    clinic: r.clinic_id,
    booked: num(r.appointments),
    expected: num(r.expected_no_shows),
    highRisk: num(r.high_risk),
  }));
  const booked = clinics.reduce((n, c) => n + c.booked, 0);
  const expected = clinics.reduce((n, c) => n + c.expected, 0);
  const values = clinics.flatMap((c) => [
    { clinic: c.clinic, measure: 'Expected no-shows', value: Math.round(c.expected * 10) / 10, booked: c.booked },
    { clinic: c.clinic, measure: `High-risk (decile ${HIGH_RISK_DECILE})`, value: c.highRisk, booked: c.booked },
  ]);
  const maxValue = Math.max(1, ...values.map((v) => v.value));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: { left: 16, right: 24, top: 16, bottom: 16 },
    title: chartTitle(
      `Expected no-shows — ${appointmentDay}`,
      `${booked} appointments booked in ${clinics.length} clinics · ${expected.toFixed(1)} expected no-shows`,
    ),
    config: { font: CHART_FONT, view: { stroke: null }, axis: { labelColor: '#333', titleColor: '#333' } },
    width: 640,
    height: { step: 44 },
    data: { values },
    encoding: {
      y: {
        field: 'clinic',
        type: 'nominal',
        sort: null,
        axis: { title: null, labelFontSize: 12, ticks: false, domain: false, minExtent: 120, maxExtent: 120 },
      },
      yOffset: { field: 'measure', type: 'nominal', sort: null },
    },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 3 },
        encoding: {
          x: {
            field: 'value',
            type: 'quantitative',
            title: 'Appointments',
            scale: { domain: [0, maxValue * 1.15], nice: false },
            axis: { grid: true, gridColor: '#eee', labelFontSize: 11, titleFontSize: 12 },
          },
          color: {
            field: 'measure',
            type: 'nominal',
            sort: null,
            scale: { range: ['#4c78a8', '#e45756'] },
            legend: {
              title: null,
              orient: 'bottom',
              direction: 'horizontal',
              labelFontSize: 11,
              labelLimit: 300,
              symbolType: 'square',
            },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 11, color: '#222' },
        encoding: { x: { field: 'value', type: 'quantitative' }, text: { field: 'value', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}
