/**
 * WindowMeter: what AudioStream measures on its ring as samples land — per-block energy and
 * lost-sample counts, so cutting a window reads ~100 blocks instead of every sample — and the
 * window's level, speech ratio and lost ratio at each cut. Block length divides the hop, the
 * window and the 20 ms speech frame (10 ms with the defaults), so windows and frames start on
 * blocks. Everything is preallocated per stream; nothing here allocates per sample or window.
 */
import type { LostGaps } from './lost-gaps.js';
import type { WindowMeasures } from './types.js';

const FRAME_SEC = 0.02;
const SILENCE_FLOOR_DBFS = -120;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export interface WindowMeterOptions {
  /** Window and hop, in output samples. */
  windowLen: number;
  hop: number;
  outputRate: number;
  speechThresholdDbfs: number;
  /** The stream's lost gaps (input positions) and the resampler's L/M that maps them to output positions. */
  gaps: LostGaps;
  up: number;
  down: number;
}

export class WindowMeter {
  readonly #len: number;
  readonly #frameLen: number;
  readonly #speechFrameSumSq: number;
  readonly #blockLen: number;
  readonly #blockSq: Float64Array;
  readonly #blockLost: Int32Array;
  readonly #gaps: LostGaps;
  readonly #up: number;
  readonly #down: number;
  /** The block being filled: energy, lost samples, samples so far. */
  #accSq = 0;
  #accLost = 0;
  #accN = 0;

  constructor(o: WindowMeterOptions) {
    this.#len = o.windowLen;
    this.#frameLen = Math.max(1, Math.round(FRAME_SEC * o.outputRate));
    this.#speechFrameSumSq = 10 ** (o.speechThresholdDbfs / 10) * this.#frameLen;
    this.#blockLen = gcd(gcd(o.hop, o.windowLen), this.#frameLen);
    this.#blockSq = new Float64Array(o.windowLen / this.#blockLen);
    this.#blockLost = new Int32Array(o.windowLen / this.#blockLen);
    this.#gaps = o.gaps;
    this.#up = o.up;
    this.#down = o.down;
  }

  /** 1 if output position p is in a lost gap; the gap list's `boundary` says until where. */
  lostAt(p: number, shift: number): number {
    return this.#gaps.statusAt(p, this.#up, this.#down, shift);
  }

  /**
   * Writes src[srcOff, srcOff + count) into the ring at output positions p.., adding each sample
   * to its block's stats. `provisional`: the block being filled keeps its accumulators as they
   * were (an early cut's look-ahead samples are replaced when the real ones come).
   */
  write(ring: Float32Array, src: Float32Array, srcOff: number, count: number, p: number, shift: number, provisional: boolean): void {
    const len = this.#len;
    const blockLen = this.#blockLen;
    const blockSq = this.#blockSq;
    const blockLost = this.#blockLost;
    const gaps = this.#gaps;
    let idx = p % len;
    let accSq = this.#accSq;
    let accN = this.#accN;
    let accLost = this.#accLost;
    let lost = this.lostAt(p, shift);
    let boundary = gaps.boundary;
    for (let k = 0; k < count; k++, p++) {
      if (p === boundary) {
        lost = this.lostAt(p, shift);
        boundary = gaps.boundary;
      }
      const v = src[srcOff + k]!;
      ring[idx] = v;
      accSq += v * v;
      accLost += lost;
      if (++accN === blockLen) {
        const b = (idx + 1) / blockLen - 1; // idx is the block's last sample
        blockSq[b] = accSq;
        blockLost[b] = accLost;
        accSq = 0;
        accLost = 0;
        accN = 0;
      }
      if (++idx === len) idx = 0;
    }
    if (provisional) return;
    this.#accSq = accSq;
    this.#accN = accN;
    this.#accLost = accLost;
  }

  /**
   * Recomputes block level for outputs [from, to) from the ring and removes loss for
   * [lost0, lost1); `outPos` is the output placed so far.
   */
  restat(ring: Float32Array, from: number, to: number, lost0: number, lost1: number, outPos: number): void {
    if (to <= from) return;
    const bl = this.#blockLen;
    const blocks = this.#blockSq.length;
    const len = this.#len;
    const partialStart = outPos - this.#accN;
    for (let b = Math.floor(from / bl); b * bl < to; b++) {
      const s0 = b * bl;
      const s1 = Math.min(s0 + bl, outPos);
      let sq = 0;
      for (let i = s0; i < s1; i++) {
        const v = ring[i % len]!;
        sq += v * v;
      }
      const overlap = Math.max(0, Math.min(s1, lost1) - Math.max(s0, lost0));
      if (s0 >= partialStart) {
        this.#accSq = sq;
        this.#accLost = Math.max(0, this.#accLost - overlap);
      } else {
        const r = b % blocks;
        this.#blockSq[r] = sq;
        this.#blockLost[r] = Math.max(0, this.#blockLost[r]! - overlap);
      }
    }
  }

  /** Level, speech ratio and lost ratio of the window whose oldest sample is at ring index `start` (a block boundary). */
  measure(start: number, out: Pick<WindowMeasures, 'speechRatio' | 'rmsDbfs' | 'lostRatio'>): void {
    const len = this.#len;
    const blockSq = this.#blockSq;
    const blockLost = this.#blockLost;
    const blocks = blockSq.length;
    const perFrame = this.#frameLen / this.#blockLen;
    let b = start / this.#blockLen;
    let total = 0;
    let frameSum = 0;
    let inFrame = 0;
    let frames = 0;
    let speechFrames = 0;
    let lostCount = 0;
    for (let k = 0; k < blocks; k++) {
      const sq = blockSq[b]!;
      total += sq;
      lostCount += blockLost[b]!;
      frameSum += sq;
      if (++inFrame === perFrame) {
        frames++;
        if (frameSum > this.#speechFrameSumSq) speechFrames++;
        frameSum = 0;
        inFrame = 0;
      }
      if (++b === blocks) b = 0;
    }
    // A trailing partial frame counts for the level, not the speech ratio.
    out.speechRatio = frames > 0 ? speechFrames / frames : 0;
    out.rmsDbfs = total > 0 ? Math.max(SILENCE_FLOOR_DBFS, 10 * Math.log10(total / len)) : SILENCE_FLOOR_DBFS;
    out.lostRatio = lostCount / len;
  }
}
