/**
 * One ScoreSink that hands every call on to several, in the order they were added (the verdict
 * pipeline first, then e.g. the WebRTC page's live score). Sinks are added while wiring, before
 * streams start (the detector is created first: it loads the model the pipeline reads). A sink
 * that throws is logged and the others still get the call. No allocation per window: an index
 * loop over the sinks.
 */
import type { Logger } from 'pino';
import type { StreamDescriptor, StreamEndReason } from '../media/types.js';
import type { ScoreSink, WindowScore } from './types.js';

export class ScoreFanOut implements ScoreSink {
  readonly #sinks: ScoreSink[] = [];
  readonly #log: Logger;

  constructor(log: Logger, sinks: readonly ScoreSink[] = []) {
    this.#log = log;
    this.#sinks.push(...sinks);
  }

  /** Adds a sink after the ones already there. */
  add(sink: ScoreSink): void {
    this.#sinks.push(sink);
  }

  onStreamStart(stream: StreamDescriptor): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.onStreamStart?.(stream);
      } catch (err) {
        this.#threw('onStreamStart', i, err);
      }
    }
  }

  onScore(s: WindowScore): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.onScore(s);
      } catch (err) {
        this.#threw('onScore', i, err);
      }
    }
  }

  onShed(stream: StreamDescriptor, seq: number): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.onShed?.(stream, seq);
      } catch (err) {
        this.#threw('onShed', i, err);
      }
    }
  }

  onStreamDrained(stream: StreamDescriptor, reason: StreamEndReason): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.onStreamDrained?.(stream, reason);
      } catch (err) {
        this.#threw('onStreamDrained', i, err);
      }
    }
  }

  #threw(callback: string, sink: number, err: unknown): void {
    this.#log.error({ err, callback, sink }, 'score sink threw; continuing');
  }
}
