/**
 * One WindowSink that hands every window on to several (the detector, then the speaker scorer),
 * in the order given. Each sink copies what it keeps during its own onWindow call, so they can
 * share the one reused WindowView. A sink that throws is logged and the others still get the
 * call. No allocation per window.
 */
import type { Logger } from 'pino';
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from './types.js';

export class WindowFanOut implements WindowSink {
  readonly #sinks: readonly WindowSink[];
  readonly #log: Logger;

  constructor(sinks: readonly WindowSink[], log: Logger) {
    this.#sinks = [...sinks];
    this.#log = log;
  }

  onStreamStart(stream: StreamDescriptor): void {
    for (let i = 0; i < this.#sinks.length; i++) {
      try {
        this.#sinks[i]!.onStreamStart(stream);
      } catch (err) {
        this.#log.error({ err, sink: i, callback: 'onStreamStart' }, 'window sink threw; continuing');
      }
    }
  }

  onWindow(w: WindowView): void {
    for (let i = 0; i < this.#sinks.length; i++) {
      try {
        this.#sinks[i]!.onWindow(w);
      } catch (err) {
        this.#log.error({ err, sink: i, callback: 'onWindow' }, 'window sink threw; continuing');
      }
    }
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    for (let i = 0; i < this.#sinks.length; i++) {
      try {
        this.#sinks[i]!.onStreamEnd(stream, reason);
      } catch (err) {
        this.#log.error({ err, sink: i, callback: 'onStreamEnd' }, 'window sink threw; continuing');
      }
    }
  }
}
