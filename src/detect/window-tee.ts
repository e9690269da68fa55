/**
 * Shadow scoring's tap on the window path: every window goes to the serving detector set; a
 * sampled share of the windows of one band also goes to a second WindowSink (the shadow
 * candidate's Detector), which copies it into its own batch. The serving path is unchanged:
 * the shadow's scores go to their own sink and never reach the verdict engine.
 *
 * Sampling is deterministic per (stream, window seq), so both sides of a comparison agree on
 * which windows were sampled without keeping a set.
 */
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../media/types.js';
import { bandOf, type Band } from './band.js';

/** FNV-1a of the stream id, then a golden-ratio step per window: uniform in [0, 1). */
export function sampleFraction(streamId: string, seq: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    h ^= streamId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  const x = (h >>> 0) / 4294967296 + seq * 0.6180339887498949;
  return x - Math.floor(x);
}

export function isSampled(streamId: string, seq: number, share: number): boolean {
  return share >= 1 || (share > 0 && sampleFraction(streamId, seq) < share);
}

export class WindowTee implements WindowSink {
  readonly #primary: WindowSink;
  readonly #shadow: WindowSink;
  readonly #band: Band;
  readonly #share: number;
  /** Streams the shadow was told about (of its band, at their first window). */
  readonly #started = new Set<string>();

  constructor(primary: WindowSink, shadow: WindowSink, band: Band, share: number) {
    this.#primary = primary;
    this.#shadow = shadow;
    this.#band = band;
    this.#share = share;
  }

  onStreamStart(stream: StreamDescriptor): void {
    this.#primary.onStreamStart(stream);
  }

  onWindow(w: WindowView): void {
    this.#primary.onWindow(w);
    const id = w.stream.streamId;
    if (!isSampled(id, w.seq, this.#share)) return;
    if (!this.#started.has(id)) {
      if (bandOf(w.inputRate) !== this.#band) return;
      this.#started.add(id);
      this.#shadow.onStreamStart(w.stream);
    }
    this.#shadow.onWindow(w);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    this.#primary.onStreamEnd(stream, reason);
    if (this.#started.delete(stream.streamId)) this.#shadow.onStreamEnd(stream, reason);
  }
}
