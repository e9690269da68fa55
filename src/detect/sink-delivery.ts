/**
 * What the detector hands on, and where a throw stops: every call into the ScoreSink and the
 * DetectorObserver goes through SinkDelivery, which logs a sink or observer that throws
 * ('detector callback threw; continuing', with the callback's name) and lets the detector go on.
 *
 * Each delivery is a method with its try/catch in place, no closure per call: the per-window path
 * allocates nothing here (the WindowScore handed to onScore is built by the detector).
 */
import type { Logger } from 'pino';
import type { StreamDescriptor, StreamEndReason } from '../media/types.js';
import type { Band } from './band.js';
import type { InferenceError } from './errors.js';
import type { BatchInfo, ShedReason } from './micro-batcher.js';
import { ShedLog } from './shed-log.js';
import type { ScoreSink, WindowScore } from './types.js';

/** What observability records, without detect/ knowing prom-client. All methods optional. */
export interface DetectorObserver {
  /** After every inference. `b` is reused between calls: copy what you keep. */
  batch?(b: Readonly<BatchInfo>): void;
  /** A window dropped without a score, with why and how long it had waited. */
  shed?(stream: StreamDescriptor, seq: number, reason: ShedReason, waitMs: number): void;
  /** At create and after each swap. */
  modelLoaded?(m: ModelLoadedInfo): void;
  inferenceError?(err: InferenceError): void;
}

export interface ModelLoadedInfo {
  name: string;
  version: string;
  band: Band;
  executionProvider: string;
  dir: string;
}

export class SinkDelivery {
  readonly #sink: ScoreSink;
  readonly #observer: DetectorObserver | undefined;
  readonly #log: Logger;
  readonly #shedLog: ShedLog;

  constructor(sink: ScoreSink, observer: DetectorObserver | undefined, log: Logger) {
    this.#sink = sink;
    this.#observer = observer;
    this.#log = log;
    this.#shedLog = new ShedLog(log);
  }

  streamStart(stream: StreamDescriptor): void {
    try {
      this.#sink.onStreamStart?.(stream);
    } catch (err) {
      this.#threw('onStreamStart', err);
    }
  }

  score(ws: WindowScore): void {
    try {
      this.#sink.onScore(ws);
    } catch (err) {
      this.#threw('onScore', err);
    }
  }

  /** A window dropped unscored: the sink's onShed, then the observer's shed. */
  shed(stream: StreamDescriptor, seq: number, reason: ShedReason, waitMs: number): void {
    this.#shedLog.shed(stream, reason, waitMs);
    try {
      this.#sink.onShed?.(stream, seq);
    } catch (err) {
      this.#threw('onShed', err);
    }
    try {
      this.#observer?.shed?.(stream, seq, reason, waitMs);
    } catch (err) {
      this.#threw('observer.shed', err);
    }
  }

  drained(stream: StreamDescriptor, reason: StreamEndReason): void {
    try {
      this.#sink.onStreamDrained?.(stream, reason);
    } catch (err) {
      this.#threw('onStreamDrained', err);
    }
  }

  batch(b: Readonly<BatchInfo>): void {
    try {
      this.#observer?.batch?.(b);
    } catch (err) {
      this.#threw('observer.batch', err);
    }
  }

  modelLoaded(info: ModelLoadedInfo): void {
    try {
      this.#observer?.modelLoaded?.(info);
    } catch (err) {
      this.#threw('observer.modelLoaded', err);
    }
  }

  inferenceError(err: InferenceError): void {
    try {
      this.#observer?.inferenceError?.(err);
    } catch (e) {
      this.#threw('observer.inferenceError', e);
    }
  }

  #threw(callback: string, err: unknown): void {
    this.#log.error({ err, callback }, 'detector callback threw; continuing');
  }
}
