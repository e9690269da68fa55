/** A fixed-capacity ring of numbers (preallocated; the oldest value goes when full). */
export class Ring {
  readonly #buf: Float64Array;
  #start = 0;
  #len = 0;

  constructor(capacity: number) {
    this.#buf = new Float64Array(capacity);
  }

  get length(): number {
    return this.#len;
  }

  push(v: number): void {
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
}
