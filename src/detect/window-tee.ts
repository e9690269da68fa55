/**
 * Shadow scoring's tap on the window path: every window goes to the serving detector set; a
 * sampled share of the windows of a band that has a shadow attached also goes to a second
 * WindowSink (that band's shadow candidate's Detector), which copies it into its own batch.
 * Shadows are attached, replaced and detached while streams run (registry shadow keys). The serving path is unchanged:
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

/** A shadow attached to the tee: the sink that gets copies of one band's sampled windows. */
export interface ShadowTap {
  sink: WindowSink;
  share: number;
}

interface Slot extends ShadowTap {
  /** Streams this slot's sink was told about (at their first sampled window). */
  started: Map<string, StreamDescriptor>;
}

export class WindowTee implements WindowSink {
  readonly #primary: WindowSink;
  /** At most one shadow per band; attached and detached live (registry shadow keys). */
  readonly #slots = new Map<Band, Slot>();

  constructor(primary: WindowSink) {
    this.#primary = primary;
  }

  /**
   * Copies a sampled `share` of the windows of `band` to `sink` from the next window on; returns
   * the tap it replaced (detached as by detach()).
   */
  attach(band: Band, tap: ShadowTap): { tap: ShadowTap; started: StreamDescriptor[] } | undefined {
    const old = this.detach(band);
    this.#slots.set(band, { ...tap, started: new Map() });
    return old;
  }

  /**
   * Stops copying windows of `band`; returns the tap and the streams it was told about, which
   * the caller ends on it (so it drains) before closing it.
   */
  detach(band: Band): { tap: ShadowTap; started: StreamDescriptor[] } | undefined {
    const s = this.#slots.get(band);
    if (!s) return undefined;
    this.#slots.delete(band);
    return { tap: { sink: s.sink, share: s.share }, started: [...s.started.values()] };
  }

  /** Changes the sampled share of an attached shadow (sampling stays deterministic per window). */
  setShare(band: Band, share: number): void {
    const s = this.#slots.get(band);
    if (s) s.share = share;
  }

  onStreamStart(stream: StreamDescriptor): void {
    this.#primary.onStreamStart(stream);
  }

  onWindow(w: WindowView): void {
    this.#primary.onWindow(w);
    if (this.#slots.size === 0) return;
    const s = this.#slots.get(bandOf(w.inputRate));
    if (!s) return;
    const id = w.stream.streamId;
    if (!isSampled(id, w.seq, s.share)) return;
    if (!s.started.has(id)) {
      s.started.set(id, w.stream);
      s.sink.onStreamStart(w.stream);
    }
    s.sink.onWindow(w);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    this.#primary.onStreamEnd(stream, reason);
    for (const s of this.#slots.values()) if (s.started.delete(stream.streamId)) s.sink.onStreamEnd(stream, reason);
  }
}
