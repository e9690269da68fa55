/**
 * A ring of at most `capacity` numbers (the oldest value goes when full). Its buffer grows as
 * values come, doubling from 64 up to the capacity, so a leg's timeline costs what it holds, not
 * its cap: the console keeps every ended call's rings for console.endedRetentionSec, and six
 * preallocated rings of console.timelineWindows (2,400) cost 115 KB per leg however short the
 * call (`npm run soak` showed the server's RSS growing by that per ended call).
 */
const INITIAL = 64;

export class Ring {
  readonly #capacity: number;
  #buf: Float64Array;
  /** Index of the oldest value; stays 0 until the ring is full at its capacity. */
  #start = 0;
  #len = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#buf = new Float64Array(Math.min(capacity, INITIAL));
  }

  get length(): number {
    return this.#len;
  }

  /** Bytes of the buffer now (for tests and memory estimates). */
  get bytes(): number {
    return this.#buf.byteLength;
  }

  push(v: number): void {
    if (this.#len === this.#buf.length && this.#len < this.#capacity) this.#grow();
    const cap = this.#buf.length;
    if (this.#len < cap) {
      this.#buf[(this.#start + this.#len) % cap] = v;
      this.#len++;
    } else {
      this.#buf[this.#start] = v;
      this.#start = (this.#start + 1) % cap;
    }
  }

  /** Oldest first, each rounded to `digits` decimals (compact JSON). */
  toArray(digits = 3): number[] {
    return this.tail(this.#len, digits);
  }

  /** The newest `n` values (at most all), oldest first, rounded like toArray. */
  tail(n: number, digits = 3): number[] {
    const cap = this.#buf.length;
    const f = 10 ** digits;
    const k = Math.max(0, Math.min(n, this.#len));
    const from = this.#len - k;
    const out = new Array<number>(k);
    for (let i = 0; i < k; i++) out[i] = Math.round(this.#buf[(this.#start + from + i) % cap]! * f) / f;
    return out;
  }

  /** Not full yet, so the values sit at 0 … len-1: copied into a buffer twice as large (at most the capacity). */
  #grow(): void {
    const next = new Float64Array(Math.min(this.#capacity, this.#buf.length * 2));
    next.set(this.#buf);
    this.#buf = next;
  }
}
