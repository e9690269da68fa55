/**
 * The running speaker evidence of one leg: the sum of its windows' unit embeddings and how many
 * there are. The mean direction is what is compared with an enrolment (cosine), exactly as
 * training/devoxtrain/speaker.py mean_embedding() does offline. Preallocated per leg; adding a
 * window allocates nothing.
 */
export class EmbeddingAccumulator {
  readonly #sum: Float64Array;
  #count = 0;

  constructor(dim: number) {
    this.#sum = new Float64Array(dim);
  }

  get count(): number {
    return this.#count;
  }

  get dim(): number {
    return this.#sum.length;
  }

  /** Adds row `row` of a rows × dim block of unit embeddings. */
  add(block: Float32Array, row: number): void {
    const d = this.#sum.length;
    const off = row * d;
    for (let i = 0; i < d; i++) this.#sum[i]! += block[off + i]!;
    this.#count++;
  }

  /** Cosine of the mean embedding with a unit vector (0 before the first window). */
  cosine(unit: ArrayLike<number>): number {
    let dot = 0;
    let norm = 0;
    const s = this.#sum;
    for (let i = 0; i < s.length; i++) {
      dot += s[i]! * unit[i]!;
      norm += s[i]! * s[i]!;
    }
    return norm > 0 ? dot / Math.sqrt(norm) : 0;
  }

  /** The mean direction as a unit vector (a copy); null before the first window. */
  mean(): Float32Array | null {
    if (this.#count === 0) return null;
    return normalize(Float32Array.from(this.#sum));
  }
}

/** Scales v to unit length in place (a zero vector stays zero). */
export function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  for (let i = 0; i < v.length; i++) v[i]! *= s;
  return v;
}

/** Cosine of two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
