/**
 * The doctor-rating chart: a vega-lite spec rendered to SVG by vega's headless View, then to PNG by sharp.
 *
 * Rendering is a pure function of the rows and the run date (no clock, no randomness, fonts resolved
 * by name), so a retried report activity writes the same bytes to the same object key.
 */
import type { TopLevelSpec } from 'vega-lite';

/**
 * vega, vega-lite and sharp are loaded on first render, not at import: a worker renders one chart a
 * day, and the libraries cost about 50 MB of memory in every worker process that loads them.
 */
const renderers = async () => {
  const [vega, vegaLite, sharp] = await Promise.all([import('vega'), import('vega-lite'), import('sharp')]);
  return { vega, compile: vegaLite.compile, sharp: sharp.default };
};

/** One row of the dbt mart `marts.doctor_rating` (numbers may arrive as strings from the warehouse driver). */
export interface DoctorRatingRow {
  doctor_id: string | number;
  full_name: string;
  specialty: string;
  clinic_name: string;
  rating_count: number | string;
  avg_rating: number | string;
  patients: number | string;
  billing_per_patient_amount: number | string;
  score: number | string;
  score_rank: number | string;
  /** Of rating_count, the patients' Telegram ratings (absent in rows read before ratings had sources). */
  telegram_rating_count?: number | string | null;
}

/** Optional wording of the chart's subtitle. */
export interface ChartOptions {
  /** What period the ratings cover, e.g. "last 90 days to 2026-11-23". Default: "all feedback up to <runDate>". */
  window?: string;
  /** How many doctors were ranked in total (the chart shows at most {@link TOP_N}). */
  totalDoctors?: number;
}

/** How many doctors the chart shows. */
export const TOP_N = 15;
/** Target width of the PNG in pixels. */
export const PNG_WIDTH = 1200;

const PLOT_WIDTH = 520;

/** Fonts are named explicitly so librsvg (through fontconfig) picks the same face on every render. */
export const CHART_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** "general_practice" → "General practice". */
export function specialtyLabel(specialty: string): string {
  const words = specialty.replace(/_/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The staff charts' title block: a large title and a grey subtitle, left-aligned. */
export function chartTitle(text: string, subtitle: string) {
  return {
    text,
    subtitle,
    anchor: 'start',
    fontSize: 20,
    subtitleFontSize: 12,
    subtitleColor: '#555',
    subtitlePadding: 6,
    offset: 14,
  } as const;
}

/** " (3 on Telegram)" when some of a doctor's ratings came from the patients' bot, else nothing. */
function viaTelegram(r: DoctorRatingRow): string {
  const n = r.telegram_rating_count == null ? 0 : num(r.telegram_rating_count);
  return n > 0 ? ` (${n} on Telegram)` : '';
}

/** Builds the vega-lite spec; exported so tests and notebooks can inspect it without rendering. */
export function doctorRatingSpec(
  rows: readonly DoctorRatingRow[],
  runDate: string,
  options: ChartOptions = {},
): TopLevelSpec {
  const top = [...rows].sort((a, b) => num(a.score_rank) - num(b.score_rank)).slice(0, TOP_N);
  const values = top.map((r) => ({
    // Rank first so two doctors with the same name stay two bars; '|' splits the axis label into two lines.
    label: `${num(r.score_rank)}. ${r.full_name}|${r.clinic_name}`,
    rank: num(r.score_rank),
    score: num(r.score),
    specialty: specialtyLabel(r.specialty),
    details: `★ ${num(r.avg_rating).toFixed(2)} · ${num(r.rating_count)} ratings${viaTelegram(r)} · ${num(r.patients)} patients`,
  }));
  const window = options.window ?? `all feedback up to ${runDate}`;
  const ranked = options.totalDoctors ?? rows.length;
  const subtitle =
    values.length === 0
      ? window.charAt(0).toUpperCase() + window.slice(1)
      : `Top ${values.length} of ${ranked} doctors by score · ${window}`;
  const maxScore = Math.max(1, ...values.map((v) => v.score));

  const frame = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: { left: 16, right: 24, top: 16, bottom: 16 },
    title: chartTitle(`Doctor rating — ${runDate}`, subtitle),
    config: {
      font: CHART_FONT,
      view: { stroke: null },
      axis: { labelColor: '#333', titleColor: '#333' },
      title: { color: '#111' },
    },
  } as const;

  if (values.length === 0) {
    // No axes or legend around nothing: just the title and a sentence.
    return {
      ...frame,
      width: PLOT_WIDTH,
      height: 60,
      data: { values: [{ message: 'No doctor has been rated yet, so there is nothing to rank.' }] },
      mark: { type: 'text', align: 'left', baseline: 'middle', fontSize: 14, color: '#555' },
      encoding: { text: { field: 'message', type: 'nominal' }, x: { value: 0 }, y: { value: 30 } },
    } as TopLevelSpec;
  }

  return {
    ...frame,
    width: PLOT_WIDTH,
    height: { step: 34 },
    data: { values },
    encoding: {
      y: {
        field: 'label',
        type: 'nominal',
        sort: { field: 'rank', op: 'min', order: 'ascending' },
        axis: {
          title: null,
          labelExpr: "split(datum.value, '|')",
          labelFontSize: 11,
          labelLineHeight: 13,
          // Generous: without a canvas vega overestimates text width (0.8 em per character), so a tight limit
          // would truncate names that fit.
          labelLimit: 340,
          labelPadding: 8,
          ticks: false,
          domain: false,
          // The same overestimate would push the plot right; a fixed extent keeps the layout tight and stable.
          minExtent: 200,
          maxExtent: 200,
        },
      },
    },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 3, height: { band: 0.72 } },
        encoding: {
          x: {
            field: 'score',
            type: 'quantitative',
            title: 'Score',
            // Headroom so the score printed after the longest bar stays inside the plot.
            scale: { domain: [0, maxScore * 1.12], nice: false },
            axis: { grid: true, gridColor: '#eee', tickCount: 6, labelFontSize: 11, titleFontSize: 12 },
          },
          color: {
            field: 'specialty',
            type: 'nominal',
            scale: { scheme: 'tableau10' },
            legend: {
              title: 'Specialty',
              orient: 'bottom',
              direction: 'horizontal',
              columns: 4,
              labelFontSize: 11,
              titleFontSize: 11,
              symbolType: 'square',
            },
          },
        },
      },
      {
        mark: {
          type: 'text',
          align: 'left',
          baseline: 'middle',
          dx: 5,
          fontSize: 11,
          fontWeight: 'bold',
          color: '#222',
        },
        encoding: {
          x: { field: 'score', type: 'quantitative' },
          text: { field: 'score', type: 'quantitative', format: '.1f' },
        },
      },
      {
        // A details column right of the plot, so the score axis is not stretched to make room for text.
        mark: { type: 'text', align: 'left', baseline: 'middle', fontSize: 11, color: '#444' },
        encoding: {
          x: { value: PLOT_WIDTH + 14 },
          text: { field: 'details', type: 'nominal' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Renders a vega-lite spec to an SVG string with vega's headless View (no canvas, no DOM). */
export async function specSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, compile } = await renderers();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Renders a vega-lite spec as a PNG about {@link PNG_WIDTH} pixels wide on a white background. Deterministic: the
 * same spec gives the same bytes, so re-rendering on retry is harmless. Every chart of the staff report uses it.
 */
export async function renderSpecPng(spec: TopLevelSpec): Promise<Buffer> {
  const svg = await specSvg(spec);
  const width = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1]);
  if (!Number.isFinite(width) || width <= 0) throw new Error('vega produced an SVG without a width');
  // SVG user units are 1/72 inch to librsvg; scale the density so the PNG comes out PNG_WIDTH wide.
  const density = (72 * PNG_WIDTH) / width;
  const { sharp } = await renderers();
  return sharp(Buffer.from(svg), { density })
    .flatten({ background: '#ffffff' })
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
}

/** The doctor-rating chart as SVG. */
export async function doctorRatingSvg(
  rows: readonly DoctorRatingRow[],
  runDate: string,
  options: ChartOptions = {},
): Promise<string> {
  return specSvg(doctorRatingSpec(rows, runDate, options));
}

/** Renders the top {@link TOP_N} doctors as a PNG (see {@link renderSpecPng}). */
export async function renderDoctorRatingPng(
  rows: readonly DoctorRatingRow[],
  runDate: string,
  options: ChartOptions = {},
): Promise<Buffer> {
  return renderSpecPng(doctorRatingSpec(rows, runDate, options));
}
