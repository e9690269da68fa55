/**
 * How many windows the media sent should produce: a stream of media time T cuts its first window
 * at T = window length, then one every hop (docs/media.md), so `windowsFor(T)` = 0 before one
 * window length, else ⌊(T − length) / hop⌋ + 1. The ledger sums that over every call: ended calls
 * with their final media time, live ones with what they have sent so far.
 */
import { PACKET_MS } from '../rtp-pacer.js';

export interface WindowShape {
  lengthMs: number;
  hopMs: number;
}

/** Windows cut from `frames` 20-ms frames of one stream. */
export function windowsFor(frames: number, w: WindowShape): number {
  const mediaMs = frames * PACKET_MS;
  return mediaMs < w.lengthMs ? 0 : Math.floor((mediaMs - w.lengthMs) / w.hopMs) + 1;
}

export class WindowLedger {
  readonly #shape: WindowShape;
  /** Latest frames sent by each live call. */
  readonly #live = new Map<number, number>();
  #endedWindows = 0;
  #endedFrames = 0;

  constructor(shape: WindowShape) {
    this.#shape = shape;
  }

  /** A live call has sent `frames` so far (from a load process's report). */
  progress(id: number, frames: number): void {
    if (this.#live.has(id)) this.#live.set(id, frames);
  }

  begin(id: number): void {
    this.#live.set(id, 0);
  }

  /** The call's media is final. */
  end(id: number, frames: number): void {
    this.#live.delete(id);
    this.#endedFrames += frames;
    this.#endedWindows += windowsFor(frames, this.#shape);
  }

  /** A call that never sent media. */
  forget(id: number): void {
    this.#live.delete(id);
  }

  get expected(): number {
    let n = this.#endedWindows;
    for (const f of this.#live.values()) n += windowsFor(f, this.#shape);
    return n;
  }

  /** Seconds of media sent by every call. */
  get mediaSec(): number {
    let f = this.#endedFrames;
    for (const x of this.#live.values()) f += x;
    return (f * PACKET_MS) / 1000;
  }
}
