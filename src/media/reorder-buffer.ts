/**
 * A small reorder buffer keyed by extended sequence number. Packets are released in
 * sequence order; a hole is waited for until `depth` later packets have arrived (or
 * the holder flushes on time), then counted lost. Nothing is copied: slots keep a
 * reference to the datagram (dgram gives each datagram its own Buffer).
 */

export interface ReorderTarget {
  /** Called in sequence order for every released packet; `seq` is its extended sequence number. */
  releasePacket(buf: Uint8Array, offset: number, length: number, payloadType: number, pos: number, arrivalMs: number, seq: number): void;
}

export type InsertResult = 'ok' | 'duplicate' | 'late';

const HISTORY = 512;

export class ReorderBuffer {
  readonly capacity: number;
  /** Next extended sequence number to release; NaN before the first packet. */
  #next = Number.NaN;
  #held = 0;
  lost = 0;
  readonly #seq: Float64Array;
  readonly #bufs: Array<Uint8Array | null>;
  readonly #off: Int32Array;
  readonly #len: Int32Array;
  readonly #pt: Uint8Array;
  readonly #pos: Float64Array;
  readonly #arrival: Float64Array;
  /** Recently released sequence numbers, to tell duplicates from late packets. */
  readonly #released = new Float64Array(HISTORY).fill(-1);

  constructor(depth: number, private readonly target: ReorderTarget) {
    this.capacity = depth + 1;
    const c = this.capacity;
    this.#seq = new Float64Array(c).fill(-1);
    this.#bufs = new Array<Uint8Array | null>(c).fill(null);
    this.#off = new Int32Array(c);
    this.#len = new Int32Array(c);
    this.#pt = new Uint8Array(c);
    this.#pos = new Float64Array(c);
    this.#arrival = new Float64Array(c);
  }

  get held(): number {
    return this.#held;
  }

  /** Arrival time of the oldest held packet (Infinity when empty). */
  oldestArrivalMs(): number {
    if (this.#held === 0) return Infinity;
    let min = Infinity;
    for (let i = 0; i < this.capacity; i++) if (this.#bufs[i] && this.#arrival[i]! < min) min = this.#arrival[i]!;
    return min;
  }

  /** Restart sequencing at `seq` (first packet of a stream or of a new segment). Call flush() first. */
  restart(seq: number): void {
    this.#next = seq;
  }

  insert(seq: number, buf: Uint8Array, offset: number, length: number, payloadType: number, pos: number, arrivalMs: number): InsertResult {
    if (Number.isNaN(this.#next)) this.#next = seq;
    if (seq < this.#next) {
      return this.#released[seq % HISTORY] === seq ? 'duplicate' : 'late';
    }
    const c = this.capacity;
    while (seq >= this.#next + c) {
      if (this.#held === 0) {
        // Everything before seq-c+1 is missing: count it lost in one step.
        const target = seq - c + 1;
        this.lost += target - this.#next;
        this.#next = target;
        break;
      }
      this.#releaseNext();
    }
    const slot = seq % c;
    if (this.#bufs[slot] !== null && this.#seq[slot] === seq) return 'duplicate';
    this.#seq[slot] = seq;
    this.#bufs[slot] = buf;
    this.#off[slot] = offset;
    this.#len[slot] = length;
    this.#pt[slot] = payloadType;
    this.#pos[slot] = pos;
    this.#arrival[slot] = arrivalMs;
    this.#held++;
    // Release the in-order run.
    for (;;) {
      const s = this.#next % c;
      if (this.#bufs[s] === null || this.#seq[s] !== this.#next) break;
      this.#releaseNext();
    }
    return 'ok';
  }

  /** Releases everything held, in order, counting holes between them as lost. */
  flush(): void {
    while (this.#held > 0) this.#releaseNext();
  }

  #releaseNext(): void {
    const s = this.#next % this.capacity;
    const buf = this.#bufs[s];
    const seq = this.#next;
    this.#next++;
    if (buf === null || this.#seq[s] !== seq) {
      this.lost++;
      return;
    }
    this.#bufs[s] = null;
    this.#held--;
    this.#released[seq % HISTORY] = seq;
    this.target.releasePacket(buf, this.#off[s]!, this.#len[s]!, this.#pt[s]!, this.#pos[s]!, this.#arrival[s]!, seq);
  }
}
