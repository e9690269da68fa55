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
    readonly inputRate?: number,
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
    // TypedArray.set is a memcpy (~7 µs per 16k window against ~100 µs for an element loop);
    // the two subarray views it needs are tiny, short-lived objects, once per window.
    dst.set(s === 0 ? ring : ring.subarray(s), offset);
    if (s > 0) dst.set(ring.subarray(0, s), offset + n - s);
  }
}
