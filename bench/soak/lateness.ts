/**
 * Lateness of sent frames in a fixed 1-ms-bucket histogram (0 … 10 s, the last bucket holds
 * anything later): constant memory over a 30-minute run, percentiles per report interval.
 */
const BUCKETS = 10_001;

export class LatenessHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #n = 0;
  #max = 0;

  add(lateMs: number): void {
    const b = Math.min(BUCKETS - 1, Math.max(0, Math.floor(lateMs)));
    this.#counts[b]!++;
    this.#n++;
    if (lateMs > this.#max) this.#max = lateMs;
  }

  /** p-quantile (0..1) in ms (bucket floor); 0 when empty. */
  quantile(p: number): number {
    if (this.#n === 0) return 0;
    const rank = Math.ceil(p * this.#n);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b]!;
      if (seen >= rank) return b;
    }
    return BUCKETS - 1;
  }

  get max(): number {
    return this.#max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#n = 0;
    this.#max = 0;
  }
}
