/**
 * The lost gaps of one stream that no cut window holds yet, as input-position ranges
 * [start, end), oldest first. AudioStream uses them to flag output samples as lost and to
 * put late samples back in place. Bounded: beyond `capacity` the oldest gap is forgotten.
 */
export class LostGaps {
  readonly #r: Float64Array;
  #count = 0;
  /** Set by statusAt(): the next output position where the status may change. */
  boundary = Infinity;

  constructor(readonly capacity = 32) {
    this.#r = new Float64Array(2 * capacity);
  }

  get count(): number {
    return this.#count;
  }
  start(i: number): number {
    return this.#r[2 * i]!;
  }
  end(i: number): number {
    return this.#r[2 * i + 1]!;
  }

  clear(): void {
    this.#count = 0;
  }

  add(start: number, end: number): void {
    const r = this.#r;
    if (this.#count === this.capacity) {
      r.copyWithin(0, 2, 2 * this.#count); // forget the oldest
      this.#count--;
    }
    r[2 * this.#count] = start;
    r[2 * this.#count + 1] = end;
    this.#count++;
  }

  /** Removes [a, b) from gap i (which it overlaps): shrinks, deletes or splits it. */
  remove(i: number, a: number, b: number): void {
    const r = this.#r;
    const gs = r[2 * i]!;
    const ge = r[2 * i + 1]!;
    if (a <= gs && b >= ge) {
      r.copyWithin(2 * i, 2 * i + 2, 2 * this.#count);
      this.#count--;
    } else if (a <= gs) {
      r[2 * i] = b;
    } else if (b >= ge) {
      r[2 * i + 1] = a;
    } else {
      r[2 * i + 1] = a;
      if (this.#count < this.capacity) {
        r.copyWithin(2 * i + 4, 2 * i + 2, 2 * this.#count);
        r[2 * i + 2] = b;
        r[2 * i + 3] = ge;
        this.#count++;
      }
    }
  }

  /** Drops gaps that end at or before minPos. */
  pruneBefore(minPos: number): void {
    let drop = 0;
    while (drop < this.#count && this.#r[2 * drop + 1]! <= minPos) drop++;
    if (drop > 0) {
      this.#r.copyWithin(0, 2 * drop, 2 * this.#count);
      this.#count -= drop;
    }
  }

  /**
   * 1 if OUTPUT position p lies in a gap mapped to output positions (in * up / down, after
   * subtracting `shift` from input positions), else 0; sets `boundary`.
   */
  statusAt(p: number, up: number, down: number, shift: number): number {
    this.boundary = Infinity;
    const n = this.#count;
    if (n === 0) return 0;
    const r = this.#r;
    let lost = 0;
    for (let g = 0; g < n; g++) {
      const os = Math.ceil(((r[2 * g]! - shift) * up) / down);
      const oe = Math.ceil(((r[2 * g + 1]! - shift) * up) / down);
      if (p >= os && p < oe) {
        lost = 1;
        if (oe < this.boundary) this.boundary = oe;
      } else if (os > p && os < this.boundary) {
        this.boundary = os;
      }
    }
    return lost;
  }
}
