/**
 * The speaker side of a leg, beside the detector: a WindowSink that embeds every Nth speech
 * window of each stream with the speaker model and keeps the leg's running mean embedding
 * (EmbeddingAccumulator). Windows of all streams share batches, flushed on size or time,
 * whichever first (like detect/micro-batcher.ts); one batch runs in the worker while the next
 * one fills. Window audio is copied straight into the batch buffer (no allocation per window).
 * When the next batch is full and the worker is still busy, the window is shed and counted:
 * speaker evidence is a mean, so a lost window costs nothing but time.
 *
 * Calls to the SpeakerSink come in per-stream order: onEmbedding per embedded window, then
 * onSpeakerDrained once, after the stream ended and its last window came back.
 *
 * Every live stream is known here (a small record, no audio), so that a WindowCapture can be
 * attached to any leg while it runs (enrolment from a live call, call-enrolment.ts): the captured
 * leg's speech windows, one in the capture's `everyNth`, share the batches, and their unit
 * embeddings go to the capture, not into the identity evidence. Legs with neither an identity
 * interest nor a capture cost one map lookup per window.
 */
import type { Logger } from 'pino';
import type { StreamDescriptor, StreamEndReason, WindowMeasures, WindowSink, WindowView } from '../media/types.js';
import { EmbeddingAccumulator } from './embedding-accumulator.js';
import type { SpeakerEngine } from './speaker-engine.js';

export interface SpeakerSink {
  /** A window of the stream was embedded; `acc` holds every embedded window so far (read, do not keep). */
  onEmbedding(stream: StreamDescriptor, acc: EmbeddingAccumulator, mediaEndSec: number): void;
  /** The stream ended and every window it sent has been embedded or shed. */
  onSpeakerDrained(stream: StreamDescriptor, acc: EmbeddingAccumulator, reason: StreamEndReason): void;
}

/** Takes the embeddings of one leg's speech windows for a while (enrolment from a live call). */
export interface WindowCapture {
  /** Embed one speech window in every `everyNth`, counted from the capture's start. */
  readonly everyNth: number;
  /** Every window of the leg while attached, speech or not (read its measures, do not keep it). */
  onWindow(w: Readonly<WindowMeasures>): void;
  /** One captured window's unit embedding: row `row` of a rows × dim block (copy what you keep). */
  onEmbedding(block: Float32Array, row: number, mediaEndSec: number): void;
  /** The leg ended while attached, and every captured window has come back (or been shed). */
  onLegEnded(reason: StreamEndReason): void;
}

/** Why attach() refused. */
export type AttachRefusal = 'unknown' | 'ended' | 'busy';

export interface SpeakerScorerOptions {
  engine: SpeakerEngine;
  /** Embed one speech window in every `everyNth` (1 = all; 4 with a 250-ms hop = one per second of speech). */
  everyNth: number;
  /** Windows below this speech ratio are not embedded. */
  minSpeechRatio: number;
  maxBatchSize: number;
  maxBatchWaitMs: number;
  sink: SpeakerSink;
  /** Whether a stream is embedded at all (e.g. only legs with a claim); default all. */
  wants?(stream: StreamDescriptor): boolean;
  log: Logger;
}

interface LegState {
  readonly stream: StreamDescriptor;
  /** The identity evidence; null: the leg is not embedded for identity (no claim, no 1:N set). */
  readonly acc: EmbeddingAccumulator | null;
  speechWindows: number;
  capture: WindowCapture | null;
  captureSpeechWindows: number;
  inFlight: number;
  ended: StreamEndReason | null;
}

/** What a batch row is for (bits). */
const FOR_IDENTITY = 1;
const FOR_CAPTURE = 2;

export interface SpeakerScorerStats {
  embedded: number;
  shed: number;
  batches: number;
  inferenceMs: number;
  streams: number;
}

export class SpeakerScorer implements WindowSink {
  readonly #o: SpeakerScorerOptions;
  readonly #legs = new Map<string, LegState>();
  readonly #len: number;
  /** The filling batch: its buffer (and a float view of it), the leg and media end of each row. */
  #buffer: ArrayBuffer | null;
  #view: Float32Array | null;
  /** The other buffer, while it is not in the worker. */
  #spare: ArrayBuffer | null;
  #rows = 0;
  readonly #rowLeg: (LegState | undefined)[];
  readonly #rowEnd: Float64Array;
  readonly #rowUse: Uint8Array;
  readonly #rowCapture: (WindowCapture | undefined)[];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly stats: SpeakerScorerStats = { embedded: 0, shed: 0, batches: 0, inferenceMs: 0, streams: 0 };

  constructor(opts: SpeakerScorerOptions) {
    this.#o = opts;
    this.#len = opts.engine.windowLength;
    const bytes = opts.maxBatchSize * this.#len * 4;
    this.#buffer = new ArrayBuffer(bytes);
    this.#view = new Float32Array(this.#buffer);
    this.#spare = new ArrayBuffer(bytes);
    this.#rowLeg = new Array<LegState | undefined>(opts.maxBatchSize);
    this.#rowEnd = new Float64Array(opts.maxBatchSize);
    this.#rowUse = new Uint8Array(opts.maxBatchSize);
    this.#rowCapture = new Array<WindowCapture | undefined>(opts.maxBatchSize);
  }

  onStreamStart(stream: StreamDescriptor): void {
    if (this.#legs.has(stream.streamId) || this.#closed) return;
    const identity = !this.#o.wants || this.#o.wants(stream);
    const acc = identity ? new EmbeddingAccumulator(this.#o.engine.card.output.dim) : null;
    this.#legs.set(stream.streamId, { stream, acc, speechWindows: 0, capture: null, captureSpeechWindows: 0, inFlight: 0, ended: null });
    this.#countStreams();
  }

  onWindow(w: WindowView): void {
    const leg = this.#legs.get(w.stream.streamId);
    if (!leg || leg.ended || this.#closed) return;
    const capture = leg.capture;
    if (!leg.acc && !capture) return;
    capture?.onWindow(w);
    if (w.speechRatio < this.#o.minSpeechRatio || w.length !== this.#len) return;
    let use = 0;
    if (leg.acc && leg.speechWindows++ % this.#o.everyNth === 0) use |= FOR_IDENTITY;
    if (capture && leg.capture === capture && leg.captureSpeechWindows++ % capture.everyNth === 0) use |= FOR_CAPTURE;
    if (use === 0) return;
    const view = this.#view;
    if (!view || this.#rows >= this.#o.maxBatchSize) {
      this.stats.shed++;
      return;
    }
    w.copyInto(view, this.#rows * this.#len);
    this.#rowLeg[this.#rows] = leg;
    this.#rowEnd[this.#rows] = w.mediaEndSec;
    this.#rowUse[this.#rows] = use;
    this.#rowCapture[this.#rows] = use & FOR_CAPTURE ? capture! : undefined;
    this.#rows++;
    leg.inFlight++;
    if (this.#rows >= this.#o.maxBatchSize) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#o.maxBatchWaitMs);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    const leg = this.#legs.get(stream.streamId);
    if (!leg) return;
    leg.ended = reason;
    if (leg.inFlight === 0) this.#drain(leg);
  }

  /** The live legs of a call (their descriptors, in the order they started). */
  legsOf(callId: string): StreamDescriptor[] {
    const out: StreamDescriptor[] = [];
    for (const leg of this.#legs.values()) if (leg.stream.callId === callId && !leg.ended) out.push(leg.stream);
    return out;
  }

  /** Starts feeding `capture` from the leg's next window; refused when the leg is unknown, ended or already captured. */
  attach(streamId: string, capture: WindowCapture): AttachRefusal | null {
    const leg = this.#legs.get(streamId);
    if (!leg) return 'unknown';
    if (leg.ended || this.#closed) return 'ended';
    if (leg.capture) return 'busy';
    leg.capture = capture;
    leg.captureSpeechWindows = 0;
    this.#countStreams();
    return null;
  }

  /** Stops feeding `capture` (windows of it still in flight are delivered; ignore them). Idempotent. */
  detach(streamId: string, capture: WindowCapture): void {
    const leg = this.#legs.get(streamId);
    if (leg?.capture !== capture) return;
    leg.capture = null;
    this.#countStreams();
  }

  #countStreams(): void {
    let n = 0;
    for (const leg of this.#legs.values()) if (leg.acc || leg.capture) n++;
    this.stats.streams = n;
  }

  #flush(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const rows = this.#rows;
    if (rows === 0) return;
    if (this.#o.engine.busy || !this.#buffer) {
      // The worker is busy (a batch of ours, or an enrolment): try again shortly.
      this.#timer = setTimeout(() => this.#flush(), Math.max(1, this.#o.maxBatchWaitMs));
      return;
    }
    const buffer = this.#buffer;
    const legs = this.#rowLeg.slice(0, rows) as LegState[];
    const ends = this.#rowEnd.slice(0, rows);
    const uses = this.#rowUse.slice(0, rows);
    const captures = this.#rowCapture.slice(0, rows);
    this.#buffer = this.#spare;
    this.#view = this.#buffer ? new Float32Array(this.#buffer) : null;
    this.#spare = null;
    this.#rows = 0;
    this.#rowLeg.fill(undefined);
    this.#rowCapture.fill(undefined);
    this.stats.batches++;
    this.#o.engine.run(buffer, rows).then(
      (r) => {
        this.#adopt(r.buffer);
        this.stats.inferenceMs += r.inferenceMs;
        this.stats.embedded += rows;
        for (let i = 0; i < rows; i++) {
          const leg = legs[i]!;
          const acc = leg.acc;
          leg.inFlight--;
          if (acc && uses[i]! & FOR_IDENTITY) {
            acc.add(r.embeddings, i);
            this.#safe(() => this.#o.sink.onEmbedding(leg.stream, acc, ends[i]!));
          }
          const capture = captures[i];
          if (capture) this.#safe(() => capture.onEmbedding(r.embeddings, i, ends[i]!));
        }
        this.#afterBatch(legs);
      },
      (err: Error & { buffer?: ArrayBuffer }) => {
        this.#adopt(err.buffer ?? new ArrayBuffer(this.#o.maxBatchSize * this.#len * 4));
        this.stats.shed += rows;
        this.#o.log.error({ err, rows }, 'speaker batch failed: its windows are shed');
        for (const leg of legs) leg.inFlight--;
        this.#afterBatch(legs);
      },
    );
  }

  /** A buffer back from the worker: the spare one, or the filling one if there was none. */
  #adopt(buffer: ArrayBuffer): void {
    if (this.#buffer) {
      this.#spare = buffer;
    } else {
      this.#buffer = buffer;
      this.#view = new Float32Array(buffer);
    }
  }

  #afterBatch(legs: LegState[]): void {
    for (const leg of new Set(legs)) if (leg.ended && leg.inFlight === 0) this.#drain(leg);
    if (this.#rows > 0) {
      if (this.#rows >= this.#o.maxBatchSize || this.#closed) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#o.maxBatchWaitMs);
    }
  }

  #drain(leg: LegState): void {
    if (!this.#legs.delete(leg.stream.streamId)) return;
    this.#countStreams();
    const reason = leg.ended ?? 'shutdown';
    const { acc, capture } = leg;
    leg.capture = null;
    if (acc) this.#safe(() => this.#o.sink.onSpeakerDrained(leg.stream, acc, reason));
    if (capture) this.#safe(() => capture.onLegEnded(reason));
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#o.log.error({ err }, 'speaker sink threw; continuing');
    }
  }

  /** Live legs known to the scorer. */
  get size(): number {
    return this.#legs.size;
  }

  /** Embeds what is queued and waits until no batch is in flight. */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000 && (this.#rows > 0 || this.#o.engine.busy); i++) {
      if (!this.#o.engine.busy) this.#flush();
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const leg of [...this.#legs.values()]) {
      leg.ended ??= 'shutdown';
      this.#drain(leg);
    }
    await this.#o.engine.close();
  }
}
