/**
 * CSV encoding for generated part files (RFC 4180 quoting, LF line ends).
 *
 * Hand-written instead of csv-stringify for speed: the generator encodes every pool entry (names,
 * neighbourhoods, diagnoses, comments) once, up front, and the hot loop only concatenates already
 * encoded fields, numbers and fixed-format dates, none of which ever need quoting. The unit tests
 * check the output with csv-parse.
 *
 * Lines end in LF, not CRLF: PostgreSQL COPY and Redshift COPY both read LF, and a CR would end up
 * inside the last field (batch_date) for loaders that do not strip it.
 */

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One field as RFC 4180 text: quoted when it contains a comma, double quote, CR or LF, with inner
 * double quotes doubled; `null`/`undefined` become the empty field (NULL for COPY ... CSV).
 */
export function csvField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (!NEEDS_QUOTES.test(value)) return value;
  return `"${value.replace(/"/g, '""')}"`;
}

/** Target size of each chunk the generator yields, in bytes. */
export const CHUNK_BYTES = 64 * 1024;
