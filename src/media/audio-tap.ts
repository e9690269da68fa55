/**
 * Audio taps: someone outside media/ (the console's listen-in) hears one live stream's audio
 * while, and only while, it listens. Every AudioStream built by the ingress registers its tap
 * point here; tap(streamId, listener) attaches a listener to that stream; the stream then hands
 * it each block of audio it places, resampled to the detector's rate, in media order (lost
 * packets and short gaps as zeros), and tells it when the stream ends.
 *
 * Zero cost while nobody listens: the stream tests one field per resampled block. Media never
 * learns who listens (an observer, like the WindowSink), and a throwing listener is detached
 * without touching the media loop.
 */
import { safeEmit } from '../safe-emit.js';
import type { StreamDescriptor, StreamEndReason } from './types.js';

/** Hears one stream's audio (see AudioTaps.tap). */
export interface AudioTapListener {
  /**
   * `count` mono float samples in [-1, 1] at the tap's sampleRate, starting at samples[offset],
   * next in media order after the previous block. Valid only during the call: copy what you keep.
   */
  onAudio(samples: Float32Array, offset: number, count: number): void;
  /** The stream ended: the tap is gone, no more audio comes. */
  onEnd(reason: StreamEndReason): void;
}

/** An attached listener's handle. */
export interface AudioTap {
  readonly descriptor: StreamDescriptor;
  readonly sampleRate: number;
  /** Detaches the listener (idempotent); its onEnd is not called. */
  close(): void;
}

/** What a stream offers to be tapped (AudioStream implements it). */
export interface TapPoint {
  readonly descriptor: StreamDescriptor;
  /** The rate of the audio handed to a tap. */
  readonly outputRate: number;
  /** Sets (or, with undefined, clears) the one listener the stream calls. */
  setTap(listener: AudioTapListener | undefined): void;
}

/** One tapped stream: fans its audio out to every attached listener. */
class TapEntry implements AudioTapListener {
  readonly point: TapPoint;
  readonly listeners: AudioTapListener[] = [];
  readonly #onError: (err: unknown) => void;
  /** The listener being called, so a throw detaches that one. */
  #current: AudioTapListener | undefined;

  constructor(point: TapPoint, onError: (err: unknown, l: AudioTapListener | undefined) => void) {
    this.point = point;
    this.#onError = (err) => onError(err, this.#current);
  }

  onAudio(samples: Float32Array, offset: number, count: number): void {
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!;
      this.#current = l;
      safeEmit(this.#onError, l, l.onAudio, samples, offset, count);
    }
    this.#current = undefined;
  }

  onEnd(reason: StreamEndReason): void {
    for (const l of this.listeners.splice(0)) safeEmit(this.#onError, l, l.onEnd, reason);
  }

  remove(l: AudioTapListener): void {
    const i = this.listeners.indexOf(l);
    if (i >= 0) this.listeners.splice(i, 1);
    if (this.listeners.length === 0) this.point.setTap(undefined);
  }
}

export class AudioTaps {
  readonly #entries = new Map<string, TapEntry>();
  readonly #onListenerError: ((err: unknown, streamId: string) => void) | undefined;

  /** @param onListenerError a listener threw (it has been detached). */
  constructor(onListenerError?: (err: unknown, streamId: string) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Media's side: a live stream can be tapped until the returned function is called (its end). */
  register(point: TapPoint): (reason: StreamEndReason) => void {
    const id = point.descriptor.streamId;
    const entry = new TapEntry(point, (err, l) => {
      if (l) entry.remove(l);
      this.#onListenerError?.(err, id);
    });
    this.#entries.set(id, entry);
    return (reason) => {
      if (this.#entries.get(id) === entry) this.#entries.delete(id);
      point.setTap(undefined);
      entry.onEnd(reason);
    };
  }

  /** The live stream's descriptor, if this process holds it. */
  descriptor(streamId: string): StreamDescriptor | undefined {
    return this.#entries.get(streamId)?.point.descriptor;
  }

  /** Attaches `listener` to a live stream of this process; undefined when there is none. */
  tap(streamId: string, listener: AudioTapListener): AudioTap | undefined {
    const entry = this.#entries.get(streamId);
    if (!entry) return undefined;
    entry.listeners.push(listener);
    if (entry.listeners.length === 1) entry.point.setTap(entry);
    let open = true;
    return {
      descriptor: entry.point.descriptor,
      sampleRate: entry.point.outputRate,
      close: () => {
        if (!open) return;
        open = false;
        entry.remove(listener);
      },
    };
  }

  /** Streams that can be tapped now. */
  get size(): number {
    return this.#entries.size;
  }
}
