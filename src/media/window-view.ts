/**
 * The one WindowView object a stream reuses for every window it emits. The ring holds
 * exactly one window at the output rate; a window is cut at the moment the ring is full
 * up to its end, so `start` is also where the oldest sample sits.
 */
import type { StreamDescriptor, WindowView } from './types.js';

export class RingWindowView implements WindowView {
  seq = 0;
  mediaStartSec = 0;
  mediaEndSec = 0;
  arrivalMs = 0;
  readyMs = 0;
  speechRatio = 0;
  rmsDbfs = -120;
  lostRatio = 0;
  /** Ring index of the window's first sample. */
  start = 0;

  constructor(
    readonly stream: StreamDescriptor,
    readonly sampleRate: number,
    private readonly ring: Float32Array,
  ) {}

  get length(): number {
    return this.ring.length;
  }

  copyInto(dst: Float32Array, offset: number): void {
    const ring = this.ring;
    const n = ring.length;
    if (offset < 0 || offset + n > dst.length) {
      throw new RangeError(`copyInto: destination too small (need ${n} from offset ${offset}, have ${dst.length})`);
    }
    const s = this.start;
    const first = n - s;
    // Manual copies: a subarray() per window would allocate two view objects.
    for (let i = 0; i < first; i++) dst[offset + i] = ring[s + i]!;
    const o2 = offset + first;
    for (let i = 0; i < s; i++) dst[o2 + i] = ring[i]!;
  }
}
