/**
 * AudioStream: the transport-agnostic half of the media path. Every transport (RTP,
 * WebSocket, WebRTC, files) writes mono int16 at the stream's input rate, placed by
 * media position; this resamples to the detector's rate into a one-window ring and,
 * every hop of MEDIA time, hands the sink the latest window (one reused WindowView).
 *
 *  - a gap in positions becomes silence in place, flagged as lost (lostRatio);
 *  - writeSilence() fills a gap that is known silence (comfort noise / DTX), not lost;
 *  - samples behind the write head that fall in a lost gap not yet inside any cut window
 *    are inserted in place (the resampler is linear: their contribution is added to what
 *    the gap's zeros produced); anything else behind the write head, or behind the last
 *    cut window, is late: counted, never inserted. Reordering within a few packets is the
 *    transport's job (the RTP reorder buffer);
 *  - a gap longer than maxGapSec is a discontinuity: media time continues without
 *    inserting minutes of silence (logged once).
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { safeEmit } from '../safe-emit.js';
import { nowMs } from './clock.js';
import { StreamResampler } from './resampler.js';
import { RingWindowView } from './window-view.js';
import { LostGaps } from './lost-gaps.js';
import { WindowMeter } from './window-meter.js';
import type { AudioTapListener, AudioTaps, TapPoint } from './audio-tap.js';
import type { StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from './types.js';

export interface AudioStreamOptions {
  descriptor: StreamDescriptor;
  inputRate: number;
  outputRate: number;
  windowSec: number;
  hopMs: number;
  speechThresholdDbfs: number;
  sink: WindowSink;
  log?: Logger;
  /** Longest gap (seconds of media) filled with silence; longer ones are discontinuities. Default 10. */
  maxGapSec?: number;
  /** Where the stream can be tapped while it lives (the console's listen-in); none: it cannot. */
  taps?: AudioTaps;
}

/** The AudioStream options that come from the `window` config section, for every transport alike. */
export function windowOptions(window: Config['window']): Pick<AudioStreamOptions, 'windowSec' | 'hopMs' | 'speechThresholdDbfs'> {
  return { windowSec: window.lengthSec, hopMs: window.hopMs, speechThresholdDbfs: window.speechThresholdDbfs };
}

export function newStreamCounters(): StreamCounters {
  return {
    packetsReceived: 0,
    packetsLost: 0,
    packetsDuplicate: 0,
    packetsLate: 0,
    packetsMalformed: 0,
    packetsUnknownPayload: 0,
    packetsWrongSource: 0,
    packetsRtcp: 0,
    packetsOutOfRange: 0,
    packetsUndecodable: 0,
    codecMismatches: 0,
    ssrcChanges: 0,
    bytesReceived: 0,
    jitterSec: 0,
    windowsEmitted: 0,
  };
}

/** Input samples resampled per step: small, so per-stream scratch stays small (a 20 ms Opus packet is 2 steps). */
const CHUNK = 512;

export class AudioStream implements TapPoint {
  readonly descriptor: StreamDescriptor;
  readonly counters: StreamCounters = newStreamCounters();
  readonly inputRate: number;
  readonly outputRate: number;

  readonly #sink: WindowSink;
  readonly #log: Logger | undefined;
  readonly #resampler: StreamResampler;
  readonly #ring: Float32Array;
  /** Block level and loss of the ring, and the window's measures at each cut. */
  readonly #meter: WindowMeter;
  readonly #out: Float32Array;
  readonly #view: RingWindowView;
  readonly #windowLen: number;
  readonly #hop: number;
  readonly #maxGap: number;
  readonly #logged = new Set<string>();
  /** Input position the next contiguous sample belongs at. */
  #writePos = 0;
  /** Output samples placed so far (= media time * outputRate). */
  #outPos = 0;
  #nextCut: number;
  #arrivalMs = 0;
  #ended = false;
  /** Output position where the last cut window ended (nothing before it changes). */
  #lastCutOut = 0;
  /** Input positions skipped by discontinuities (input position - resampler index). */
  #inShift = 0;
  /** Lost gaps not yet inside a cut window (input positions). */
  readonly #gaps = new LostGaps();
  #lateOut: Float32Array | undefined;
  /** Provisional outputs for an early cut (only the look-ahead is missing). */
  readonly #peekBuf: Float32Array;
  /** Made once: the per-window emit allocates nothing. */
  readonly #onWindowError = (err: unknown): void => this.#sinkThrew('onWindow', err);
  /** Who hears the resampled audio now (audio-tap.ts); undefined, the usual case: nobody. */
  #tap: AudioTapListener | undefined;
  readonly #untap: ((reason: StreamEndReason) => void) | undefined;

  constructor(opts: AudioStreamOptions) {
    this.descriptor = opts.descriptor;
    this.inputRate = opts.inputRate;
    this.outputRate = opts.outputRate;
    this.#sink = opts.sink;
    this.#log = opts.log;
    this.#windowLen = Math.round(opts.windowSec * opts.outputRate);
    this.#hop = Math.round((opts.hopMs / 1000) * opts.outputRate);
    if (this.#windowLen <= 0 || this.#hop <= 0 || this.#hop > this.#windowLen) {
      throw new RangeError(`AudioStream: need 0 < hop (${this.#hop}) <= window (${this.#windowLen}) samples`);
    }
    this.#maxGap = Math.round((opts.maxGapSec ?? 10) * opts.inputRate);
    this.#resampler = new StreamResampler(opts.inputRate, opts.outputRate, CHUNK);
    this.#ring = new Float32Array(this.#windowLen);
    this.#meter = new WindowMeter({
      windowLen: this.#windowLen,
      hop: this.#hop,
      outputRate: opts.outputRate,
      speechThresholdDbfs: opts.speechThresholdDbfs,
      gaps: this.#gaps,
      up: this.#resampler.design.up,
      down: this.#resampler.design.down,
    });
    this.#out = new Float32Array(this.#resampler.maxOutput(CHUNK));
    this.#view = new RingWindowView(opts.descriptor, opts.outputRate, this.#ring, opts.inputRate);
    const d = this.#resampler.design;
    this.#peekBuf = new Float32Array(Math.ceil(((d.reach + 2) * d.up) / d.down) + 2);
    this.#nextCut = this.#windowLen;
    safeEmit((err) => this.#sinkThrew('onStreamStart', err), this.#sink, this.#sink.onStreamStart, this.descriptor);
    this.#untap = opts.taps?.register(this);
  }

  /** TapPoint: the listener that hears each resampled block from now on (AudioTaps sets it). */
  setTap(listener: AudioTapListener | undefined): void {
    this.#tap = this.#ended ? undefined : listener;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Media time placed so far, seconds. */
  get mediaSec(): number {
    return this.#outPos / this.outputRate;
  }

  /** Input position the next contiguous sample belongs at. */
  get writePosition(): number {
    return this.#writePos;
  }

  /**
   * Place `count` mono int16 samples at media position `pos` (input-rate samples since the
   * stream's first sample). Gaps become silence (counted as lost); samples behind the write
   * head fill a lost gap if no cut window holds it yet, otherwise they are counted late.
   */
  write(pcm: Int16Array, offset: number, count: number, pos: number, arrivalMs: number): void {
    if (this.#ended || count <= 0) return;
    if (pos < this.#writePos) {
      const behind = Math.min(count, this.#writePos - pos);
      const inserted = this.insertLate(pcm, offset, behind, pos);
      if (behind === count) {
        if (inserted === 0) this.counters.packetsLate++;
        return;
      }
      offset += behind;
      count -= behind;
      pos = this.#writePos;
    }
    this.#arrivalMs = arrivalMs;
    this.#fillGap(pos, true);
    let done = 0;
    while (done < count) {
      const n = Math.min(CHUNK, count - done);
      this.#resampler.pushInt16(pcm, offset + done, n);
      this.#drain();
      done += n;
    }
    this.#writePos = pos + count;
    this.#cutEarly();
  }

  /**
   * Samples behind the write head: the parts that fall in a lost gap not yet inside a cut
   * window are put in place; returns how many samples were inserted (0: all too late, or
   * not a gap). Does not count anything; write() and transports decide what "late" means.
   */
  insertLate(pcm: Int16Array, offset: number, count: number, pos: number): number {
    if (this.#ended || count <= 0 || this.#gaps.count === 0) return 0;
    const { up: L, down: M } = this.#resampler.design;
    const minPos = Math.ceil((this.#lastCutOut * M) / L) + this.#inShift;
    const end = Math.min(pos + count, this.#writePos);
    const gaps = this.#gaps;
    let inserted = 0;
    // Newest first, so splitting a gap (inserting after it) never disturbs unvisited entries.
    for (let g = gaps.count - 1; g >= 0; g--) {
      const a = Math.max(pos, gaps.start(g), minPos);
      const b = Math.min(end, gaps.end(g));
      if (a >= b) continue;
      for (let c = a; c < b; c += CHUNK) this.#superpose(pcm, offset + (c - pos), Math.min(CHUNK, b - c), c);
      inserted += b - a;
      gaps.remove(g, a, b);
    }
    return inserted;
  }

  /** Known silence (comfort noise, DTX) of `count` samples at `pos`: filled, not counted lost. */
  writeSilence(count: number, pos: number, arrivalMs: number): void {
    if (this.#ended || count <= 0 || pos + count <= this.#writePos) return;
    this.#arrivalMs = arrivalMs;
    this.#fillGap(pos, true);
    const from = Math.max(pos, this.#writePos);
    this.#silence(pos + count - from);
    this.#writePos = pos + count;
    this.#cutEarly();
  }

  /** Idempotent; flushes nothing partial; calls sink.onStreamEnd once. */
  end(reason: StreamEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#untap?.(reason);
    this.#tap = undefined;
    safeEmit((err) => this.#sinkThrew('onStreamEnd', err), this.#sink, this.#sink.onStreamEnd, this.descriptor, reason);
  }

  #fillGap(pos: number, lost: boolean): void {
    const gap = pos - this.#writePos;
    if (gap <= 0) return;
    if (gap > this.#maxGap) {
      this.#logOnce('discontinuity', { gapSamples: gap }, 'media gap too long to fill; continuing without it');
      this.#inShift += gap;
      this.#gaps.clear();
      this.#writePos = pos;
      return;
    }
    if (lost) this.#gaps.add(this.#writePos, pos);
    this.#silence(gap);
    this.#writePos = pos;
  }

  /** Adds a late block's resampled contribution into the ring and fixes the block stats. */
  #superpose(pcm: Int16Array, offset: number, count: number, pos: number): void {
    const rs = this.#resampler;
    const { up: L, down: M } = rs.design;
    this.#lateOut ??= new Float32Array(rs.maxLateOutput(CHUNK)); // once per stream, on first use
    const out = this.#lateOut;
    const at = pos - this.#inShift;
    const k = rs.addLate(pcm, offset, count, at, this.#lastCutOut, out);
    const first = rs.lateFirst;
    const ring = this.#ring;
    const len = this.#windowLen;
    let idx = first % len;
    for (let i = 0; i < k; i++) {
      ring[idx]! += out[i]!;
      if (++idx === len) idx = 0;
    }
    // Loss no longer covers the block's own output span.
    const x0 = Math.max(Math.ceil((at * L) / M), this.#lastCutOut);
    const x1 = Math.min(Math.ceil(((at + count) * L) / M), this.#outPos);
    this.#meter.restat(ring, Math.min(first, x0), Math.max(first + k, x1), x0, x1, this.#outPos);
  }

  /** Zeros through the resampler; whether they count as lost is decided by the gap list. */
  #silence(count: number): void {
    let done = 0;
    while (done < count) {
      const n = Math.min(CHUNK, count - done);
      this.#resampler.pushSilence(n);
      this.#drain();
      done += n;
    }
  }

  /** Moves resampled output into the ring, cutting a window each time one is complete. */
  #drain(): void {
    const out = this.#out;
    const n = this.#resampler.pull(out, 0);
    // A listener (listen-in) hears the block first; one field test per block when nobody listens.
    const tap = this.#tap;
    if (tap !== undefined && n > 0) tap.onAudio(out, 0, n);
    let i = 0;
    while (i < n) {
      const m = Math.min(n - i, this.#nextCut - this.#outPos);
      this.#meter.write(this.#ring, out, i, m, this.#outPos, this.#inShift, false);
      i += m;
      this.#outPos += m;
      if (this.#outPos === this.#nextCut) this.#cut(this.#outPos);
    }
  }

  /**
   * Cuts the next window as soon as its last sample's input has arrived, instead of waiting
   * for the resampler's look-ahead (R input samples: with 20 ms packets, the next packet).
   * The few samples at the window's very end (1.25 ms for 8k->16k) are computed as if the
   * input stopped there; the ring gets the exact values when the next packet comes, so later
   * windows hold exact audio.
   */
  #cutEarly(): void {
    const need = this.#nextCut - this.#outPos;
    if (need <= 0 || need > this.#peekBuf.length || !this.#resampler.canPeek(need)) return;
    const prov = this.#peekBuf;
    this.#resampler.peek(prov, need);
    // Provisional block stats: the persistent accumulators stay as they are.
    this.#meter.write(this.#ring, prov, 0, need, this.#outPos, this.#inShift, true);
    this.#cut(this.#nextCut);
  }

  /** Emits the window ending at output position `end` (== nextCut). */
  #cut(end: number): void {
    const len = this.#windowLen;
    const start = end % len; // a block boundary: the oldest sample of the window
    const view = this.#view;
    view.seq = this.counters.windowsEmitted;
    view.start = start;
    view.mediaEndSec = end / this.outputRate;
    view.mediaStartSec = (end - len) / this.outputRate;
    view.arrivalMs = this.#arrivalMs;
    view.readyMs = nowMs();
    this.#meter.measure(start, view);
    this.#lastCutOut = end;
    this.#gaps.pruneBefore(Math.ceil((end * this.#resampler.design.down) / this.#resampler.design.up) + this.#inShift);
    this.counters.windowsEmitted++;
    this.#nextCut += this.#hop;
    safeEmit(this.#onWindowError, this.#sink, this.#sink.onWindow, this.#view);
  }

  /** A throwing sink must not kill the media loop: logged once per kind, then ignored. */
  #sinkThrew(what: 'onStreamStart' | 'onWindow' | 'onStreamEnd', err: unknown): void {
    this.#logOnce(`sink_${what}`, { err }, 'window sink threw; continuing');
  }

  #logOnce(kind: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    this.#log?.warn({ streamId: this.descriptor.streamId, callId: this.descriptor.callId, kind, ...fields }, msg);
  }
}
