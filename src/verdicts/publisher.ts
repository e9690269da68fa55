/**
 * The event publisher contract: verdicts/ is the only producer of NATS messages, through one
 * of two EventPublishers, and reports what happens to events through a PublisherObserver
 * (observability turns it into metrics; verdicts/ never imports prom-client).
 *
 * - NatsPublisher (nats-publisher.ts): JetStream, events buffered in order while NATS is away.
 * - StdoutPublisher (stdout-publisher.ts): one JSON line per event (no NATS configured).
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { NatsPublisher } from './nats-publisher.js';
import { StdoutPublisher } from './stdout-publisher.js';
import type { DevoxEvent, EventType } from './types.js';
import { safeEmit } from '../safe-emit.js';
import { NatsPublisherError, type NatsPublisherErrorCode } from './errors.js';

export { NatsPublisherError, type NatsPublisherErrorCode };

export interface EventPublisher {
  readonly kind: EventOutput;
  /** Connects / prepares; throws NatsPublisherError with a clear message when it cannot. */
  start(): Promise<void>;
  /** Never throws: serialises now, delivers (or buffers) asynchronously. */
  publish(event: DevoxEvent): void;
  /** Resolves true once every accepted event is delivered (or dropped), false on timeout. */
  flush(timeoutMs: number): Promise<boolean>;
  /** True when events are being delivered now (stdout: always). */
  readonly connected: boolean;
  /** Events accepted but not yet delivered. */
  readonly pending: number;
  close(): Promise<void>;
}

export type EventOutput = 'nats' | 'stdout';

/** Why an event was not delivered. */
export type EventDropReason = 'closed' | 'rejected' | 'buffer_full';

/** What a publisher reports, without verdicts/ knowing prom-client. All methods optional. */
export interface PublisherObserver {
  /** The publisher exists (once, at construction). */
  output?(output: EventOutput): void;
  /** The output started or stopped delivering. */
  outputUp?(output: EventOutput, up: boolean): void;
  /** An event was delivered (NATS: acknowledged by JetStream). */
  published?(type: EventType): void;
  /** `count` events will never be delivered. */
  dropped?(reason: EventDropReason, count: number): void;
  /** Events waiting unsent now (NATS). */
  buffered?(queued: number): void;
  /** The NATS connection was lost. */
  disconnected?(): void;
  /** The NATS connection is back. */
  reconnected?(): void;
}



/** NATS when nats.servers names any, else stdout. */
export function createPublisher(opts: {
  nats: Config['nats'];
  observer: PublisherObserver;
  log: Logger;
  stdout?: NodeJS.WritableStream;
}): EventPublisher {
  if (opts.nats.servers.length === 0) return new StdoutPublisher(opts.nats.subjectPrefix, opts.observer, opts.stdout, opts.log);
  return new NatsPublisher(opts.nats, opts.observer, opts.log);
}

/** Sees every event as it is handed to the publisher (the console's in-process call board). */
export interface EventTap {
  /** Called on the scoring path: keep it cheap; a throw is logged and ignored. */
  onEvent(event: DevoxEvent): void;
}

/**
 * `inner` with `tap` seeing every event first. With `forwardWindows` false the window.scored
 * events reach the tap only (stdout without per-window lines, yet a console with sparklines).
 */
export function tapPublisher(inner: EventPublisher, tap: EventTap, opts: { forwardWindows: boolean; log: Logger }): EventPublisher {
  const onError = (err: unknown): void => opts.log.error({ err, listener: 'event tap' }, 'event tap threw; continuing');
  return {
    get kind() {
      return inner.kind;
    },
    start: () => inner.start(),
    publish(event: DevoxEvent): void {
      safeEmit(onError, tap, tap.onEvent, event);
      if (opts.forwardWindows || event.type !== 'window.scored') inner.publish(event);
    },
    flush: (timeoutMs) => inner.flush(timeoutMs),
    get connected() {
      return inner.connected;
    },
    get pending() {
      return inner.pending;
    },
    close: () => inner.close(),
  };
}
