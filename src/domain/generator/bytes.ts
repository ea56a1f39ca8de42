/**
 * Byte-level CSV writing. The generator writes digits, dates and pre-encoded text straight into a
 * 64 KiB Buffer instead of building strings: no per-row string allocation, no UTF-8 encoding in the
 * hot loop. Every field written here is a number, a date or time in a fixed format, or text that was
 * CSV-encoded once by csvField, so nothing needs quoting.
 *
 * The row writers (stream.ts) store four bytes at a time through a DataView: short texts are kept
 * {@link pack}ed as little-endian 32-bit words, digits come from the {@link DIGITS4} table. A byte
 * loop costs about 1 ns a byte; word stores cut a ~90-byte appointment row from ~100 ns of stores to
 * ~25 (micro-benchmark on Node 20). Word stores may write up to seven bytes past a field's end (a
 * day's digits are stored as two words); the next field overwrites them, the chunk has 8 KiB of
 * slack, and {@link ChunkWriter.take} never hands out bytes past `pos`.
 */
import { dateOffset } from './calendar.js';
import { CHUNK_BYTES } from './csv.js';

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (for text encoded once, outside the hot loop). */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

const COMMA = 44;
const COLON = 58;
const ZERO = 48;
/** Room past `capacity`: a row started below capacity always fits, with its word-store overhang. */
const SLACK = 8 * 1024;

export class ChunkWriter {
  /** The chunk being filled; row writers write at `pos` through `buf` or `view` and advance `pos`. */
  buf: Buffer;
  view: DataView;
  pos = 0;

  /**
   * With `reuse`, {@link take} hands out a view of the same buffer every time, valid until the next call: for a
   * consumer that copies each chunk before asking for the next, no chunk is left for the garbage collector.
   */
  constructor(
    readonly capacity = CHUNK_BYTES,
    readonly reuse = false,
  ) {
    this.buf = Buffer.allocUnsafe(capacity + SLACK);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** True once the chunk reached its target size; call {@link take} then. */
  get full(): boolean {
    return this.pos >= this.capacity;
  }

  get length(): number {
    return this.pos;
  }

  /**
   * Hands over the bytes written so far and starts a fresh buffer (the handed-over one is owned by
   * the consumer from now on, so it is never reused), or with `reuse` starts over in the same buffer. Rows are at
   * most a few hundred bytes and the buffer has 8 KiB of slack beyond `capacity`, so a row started below capacity
   * always fits.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (this.reuse) return out;
    this.buf = Buffer.allocUnsafe(this.capacity + SLACK);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return out;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** '0000'..'9999' as little-endian 32-bit words (first digit in the low byte): one store writes four digits. */
export const DIGITS4: Uint32Array = (() => {
  const t = new Uint32Array(10_000);
  for (let n = 0; n < 10_000; n++) {
    const d = [(n / 1000) | 0, ((n / 100) | 0) % 10, ((n / 10) | 0) % 10, n % 10];
    t[n] = ((ZERO + d[0]!) | ((ZERO + d[1]!) << 8) | ((ZERO + d[2]!) << 16) | ((ZERO + d[3]!) << 24)) >>> 0;
  }
  return t;
})();

/** '00'..'99' as little-endian 16-bit words. */
export const DIGITS2: Uint16Array = Uint16Array.from(
  { length: 100 },
  (_, n) => (ZERO + ((n / 10) | 0)) | ((ZERO + (n % 10)) << 8),
);

/** A short text ready for word stores: its UTF-8 bytes and the same bytes as zero-padded little-endian words. */
export interface Packed {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly length: number;
}

/** Packs a string (UTF-8 encoded) or bytes for {@link putPacked}. */
export function pack(text: string | Uint8Array): Packed {
  const bytes = typeof text === 'string' ? utf8(text) : text;
  // Little-endian by construction (not a Uint32Array view of the bytes), like every word the writers store.
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  bytes.forEach((b, k) => (words[k >> 2] = ((words[k >> 2] as number) | (b << (8 * (k & 3)))) >>> 0));
  return { bytes, words, length: bytes.length };
}

/** Beyond this many bytes a native copy (`buf.set`) beats word stores. */
const NATIVE_COPY_FROM = 32;

/** Writes `t` at `p`; returns the position after it (may store up to 3 padding bytes beyond). */
export function putPacked(view: DataView, buf: Uint8Array, p: number, t: Packed): number {
  const n = t.length;
  if (n > NATIVE_COPY_FROM) {
    buf.set(t.bytes, p);
    return p + n;
  }
  const w = t.words;
  for (let k = 0; k < w.length; k++) view.setUint32(p + 4 * k, w[k] as number, true);
  return p + n;
}

/** Writes an integer in [0, 10^7) as exactly seven digits (zero-padded). */
export function putDigits7(view: DataView, p: number, n: number): number {
  const hi = (n / 10_000) | 0;
  // The top three digits: '0hhh' shifted down one byte is 'hhh' plus a zero the low four digits overwrite.
  view.setUint32(p, (DIGITS4[hi] as number) >>> 8, true);
  view.setUint32(p + 3, DIGITS4[n - hi * 10_000] as number, true);
  return p + 7;
}

/** Writes a non-negative integer below 2^31 in decimal. */
export function putUint(buf: Uint8Array, p: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = (t / 10) | 0) len++;
  let q = p + len - 1;
  do {
    buf[q--] = ZERO + (n % 10);
    n = (n / 10) | 0;
  } while (n > 0);
  return p + len;
}

/**
 * Writes the id `day * 10^7 + index` (ids encode the day; see patients.ts) given the day's digits
 * packed in two words (`dayLength` bytes, 0 for day 0, whose ids are the bare index).
 */
export function putDayId(
  view: DataView,
  buf: Uint8Array,
  p: number,
  day0: number,
  day1: number,
  dayLength: number,
  index: number,
): number {
  if (dayLength === 0) return putUint(buf, p, index);
  view.setUint32(p, day0, true);
  view.setUint32(p + 4, day1, true);
  return putDigits7(view, p + dayLength, index);
}

/** '1'..'999' as little-endian words (tenures of patient ids: at most one a year since 2000), and their lengths. */
const TENURE_DIGITS = Uint32Array.from({ length: 1000 }, (_, n) => pack(String(n)).words[0] as number);
const TENURE_LENGTH = Uint8Array.from({ length: 1000 }, (_, n) => String(n).length);

/** Writes the patient id `tenure * 10^9 + slot` (slot < 10^9, tenure < 1000; tenure 0 gives the bare slot). */
export function putPatientId(view: DataView, buf: Uint8Array, p: number, tenure: number, slot: number): number {
  if (tenure === 0) return putUint(buf, p, slot);
  view.setUint32(p, TENURE_DIGITS[tenure] as number, true);
  p += TENURE_LENGTH[tenure] as number;
  const hi = (slot / 100_000) | 0;
  const lo = slot - hi * 100_000;
  const mid = (lo / 10_000) | 0;
  view.setUint32(p, DIGITS4[hi] as number, true);
  buf[p + 4] = ZERO + mid;
  view.setUint32(p + 5, DIGITS4[lo - mid * 10_000] as number, true);
  return p + 9;
}

/** Writes `HH:MM:SS` for a second of the day. */
export function putTime(view: DataView, p: number, second: number): number {
  const h = (second / 3600) | 0;
  const rest = second - h * 3600;
  const m = (rest / 60) | 0;
  const s = rest - m * 60;
  // 'HH:M' then 'M:SS'.
  view.setUint32(p, (DIGITS2[h] as number) | (COLON << 16) | (((DIGITS2[m] as number) & 0xff) << 24), true);
  view.setUint32(p + 4, ((DIGITS2[m] as number) >>> 8) | (COLON << 8) | ((DIGITS2[s] as number) << 16), true);
  return p + 8;
}

/** Copies the 10 bytes of a day's YYYY-MM-DD from the calendar table `dates`. */
export function putDate(buf: Uint8Array, p: number, dates: Uint8Array, day: number): number {
  const from = dateOffset(day);
  for (let k = 0; k < 10; k++) buf[p + k] = dates[from + k] as number;
  return p + 10;
}

/** A comma at `p`. */
export function putComma(buf: Uint8Array, p: number): number {
  buf[p] = COMMA;
  return p + 1;
}
