/**
 * A real WindowSink that records what media hands it: every stream start and end (in order), every window (its
 * stamps and a copy of its audio, as the detector copies it), per stream; waitFor() resolves on the event that
 * makes a predicate hold. Used by the media, SIP, WebSocket and WebRTC tests alike.
 */
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../../src/media/types.js';

export interface RecordedWindow {
  seq: number;
  mediaStartSec: number;
  mediaEndSec: number;
  arrivalMs: number;
  readyMs: number;
  speechRatio: number;
  rmsDbfs: number;
  lostRatio: number;
  length: number;
  sampleRate: number;
  audio: Float32Array;
}

/** The audio of a stream rebuilt from its windows (windows overlap; later ones win), at least minSamples long. */
export function rebuildAudio(windows: readonly RecordedWindow[], minSamples = 0): Float32Array {
  const last = windows[windows.length - 1];
  const rate = windows[0]?.sampleRate ?? 0;
  const out = new Float32Array(Math.max(minSamples, last ? Math.round(last.mediaEndSec * rate) : 0));
  for (const w of windows) out.set(w.audio, Math.round(w.mediaStartSec * rate));
  return out;
}

/** Room kept for a stream's rebuilt `audio` (30 s at 16 kHz): reading past the end of the media gives zeros. */
const AUDIO_ROOM = 16000 * 30;

export class RecordedStream {
  readonly windows: RecordedWindow[] = [];
  endReason: StreamEndReason | undefined;
  endedAtMs = 0;
  readonly startedAtMs = Date.now();
  #audio: { windows: number; samples: Float32Array } | undefined;
  constructor(readonly descriptor: StreamDescriptor) {}
  /** The stream's audio rebuilt from its windows, zero-padded to 30 s (rebuilt only when a window was added). */
  get audio(): Float32Array {
    if (this.#audio?.windows !== this.windows.length) this.#audio = { windows: this.windows.length, samples: rebuildAudio(this.windows, AUDIO_ROOM) };
    return this.#audio.samples;
  }
}

/** Media length covered by a stream's windows, in samples at 16 kHz. */
export function coveredSamples(s: RecordedStream): number {
  const last = s.windows[s.windows.length - 1];
  return last ? Math.round(last.mediaEndSec * 16000) : 0;
}

export class RecordingSink implements WindowSink {
  readonly streams = new Map<string, RecordedStream>();
  /** Every stream start, in order. */
  readonly started: StreamDescriptor[] = [];
  /** Every stream end, in order. */
  readonly ended: Array<{ stream: StreamDescriptor; reason: StreamEndReason }> = [];
  #windows = 0;
  #waiters: Array<() => void> = [];

  onStreamStart(stream: StreamDescriptor): void {
    this.started.push(stream);
    this.streams.set(stream.streamId, new RecordedStream(stream));
    this.#wake();
  }

  onWindow(w: WindowView): void {
    const audio = new Float32Array(w.length);
    w.copyInto(audio, 0);
    this.#record(w.stream).windows.push({
      seq: w.seq, mediaStartSec: w.mediaStartSec, mediaEndSec: w.mediaEndSec, arrivalMs: w.arrivalMs,
      readyMs: w.readyMs, speechRatio: w.speechRatio, rmsDbfs: w.rmsDbfs, lostRatio: w.lostRatio,
      length: w.length, sampleRate: w.sampleRate, audio,
    });
    this.#windows++;
    this.#wake();
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    const s = this.#record(stream);
    s.endReason = reason;
    s.endedAtMs = Date.now();
    this.ended.push({ stream, reason });
    this.#wake();
  }

  /** Windows received, all streams together. */
  get windowCount(): number {
    return this.#windows;
  }

  /** The windows of one stream (none when it never started). */
  windowsOf(streamId: string): RecordedWindow[] {
    return this.streams.get(streamId)?.windows ?? [];
  }

  /** Why the stream ended; undefined while it has not. */
  endReason(streamId: string): StreamEndReason | undefined {
    return this.streams.get(streamId)?.endReason;
  }

  hasEnded(streamId: string): boolean {
    return this.endReason(streamId) !== undefined;
  }

  /** The stream's audio timeline rebuilt from its windows (windows overlap; later ones win). */
  timeline(streamId: string): Float32Array {
    return rebuildAudio(this.windowsOf(streamId));
  }

  /** Streams of one call, by leg. */
  byCall(callId: string): Map<string, RecordedStream> {
    const out = new Map<string, RecordedStream>();
    for (const s of this.streams.values()) if (s.descriptor.callId === callId) out.set(s.descriptor.leg, s);
    return out;
  }

  /** Resolves when pred() holds (checked now and on each start, window and end), or rejects after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs = 15_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`RecordingSink.waitFor: timed out after ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  #record(stream: StreamDescriptor): RecordedStream {
    let s = this.streams.get(stream.streamId);
    if (!s) {
      s = new RecordedStream(stream);
      this.streams.set(stream.streamId, s);
    }
    return s;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
