/**
 * A byte-level CSV row writer. The generator writes digits, dates and pre-encoded text straight into
 * a 64 KiB Buffer instead of building strings: no per-row string allocation, no rope flattening, no
 * UTF-8 encoding in the hot loop. That is most of the difference between ~1M and several million
 * rows per second (see bench/generation.ts). Every field written here is either a number, a date or
 * time in a fixed format, or text that was CSV-encoded once by csvField, so nothing needs quoting.
 */
import { dateOffset, dateTable } from './calendar.js';
import { CHUNK_BYTES } from './csv.js';

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (for text encoded once, outside the hot loop). */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

const COMMA = 44;
const COLON = 58;
const ZERO = 48;

export class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly dates = dateTable();

  constructor(private readonly capacity = CHUNK_BYTES) {
    this.buf = Buffer.allocUnsafe(capacity + 8 * 1024);
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
   * the consumer from now on, so it is never reused). Rows are at most a few hundred bytes and the
   * buffer has 8 KiB of slack beyond `capacity`, so a row started below capacity always fits.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.capacity + 8 * 1024);
    this.pos = 0;
    return out;
  }

  bytes(b: Uint8Array): void {
    const buf = this.buf;
    let p = this.pos;
    const n = b.length;
    if (n > 24) {
      buf.set(b, p); // a native copy pays off beyond a couple dozen bytes
      this.pos = p + n;
      return;
    }
    for (let k = 0; k < n; k++) buf[p++] = b[k] as number;
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  comma(): void {
    this.buf[this.pos++] = COMMA;
  }

  /** A non-negative integer below 2^53 in decimal. */
  uint(n: number): void {
    if (n < 0x80000000) {
      // Small-integer path: `| 0` division stays in int32 arithmetic.
      let len = 1;
      for (let t = n; t >= 10; t = (t / 10) | 0) len++;
      const buf = this.buf;
      let p = this.pos + len - 1;
      this.pos += len;
      do {
        buf[p--] = ZERO + (n % 10);
        n = (n / 10) | 0;
      } while (n > 0);
      return;
    }
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    const buf = this.buf;
    let p = this.pos + len - 1;
    this.pos += len;
    do {
      buf[p--] = ZERO + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /** An integer in [0, 10^width) zero-padded to `width` digits. */
  padded(n: number, width: number): void {
    const buf = this.buf;
    let p = this.pos + width - 1;
    this.pos += width;
    for (let k = 0; k < width; k++) {
      buf[p--] = ZERO + (n % 10);
      n = (n / 10) | 0;
    }
  }

  /** An id `day * 10^7 + index`, written as the two small integers (the double itself formats slowly). */
  id(day: number, index: number): void {
    if (day === 0) {
      this.uint(index);
    } else {
      this.uint(day);
      this.padded(index, 7);
    }
  }

  /** YYYY-MM-DD for a day index (copied from the precomputed calendar). */
  date(day: number): void {
    const src = this.dates;
    const buf = this.buf;
    let p = this.pos;
    const end = dateOffset(day) + 10;
    for (let k = end - 10; k < end; k++) buf[p++] = src[k] as number;
    this.pos = p;
  }

  /** HH:MM:SS for a second of the day. */
  time(second: number): void {
    const buf = this.buf;
    const p = this.pos;
    const h = (second / 3600) | 0;
    const m = ((second / 60) | 0) % 60;
    const s = second % 60;
    buf[p] = ZERO + ((h / 10) | 0);
    buf[p + 1] = ZERO + (h % 10);
    buf[p + 2] = COLON;
    buf[p + 3] = ZERO + ((m / 10) | 0);
    buf[p + 4] = ZERO + (m % 10);
    buf[p + 5] = COLON;
    buf[p + 6] = ZERO + ((s / 10) | 0);
    buf[p + 7] = ZERO + (s % 10);
    this.pos = p + 8;
  }
}
