/**
 * StreamCapacity: one cap on live streams across every ingress (RTP via SIP or /streams,
 * WebSocket legs, WebRTC sessions), media.maxStreams. Past the detector's capacity every
 * stream would lose windows to shedding (docs/benchmarks.md: ~425 real-time streams on 2
 * cores), and the media work of the excess streams starves the rest. Refusing the next
 * stream at signaling time (SIP 503 + Retry-After, WebSocket/WebRTC close 1013, HTTP 503)
 * keeps the admitted ones whole and tells the sender to retry or go elsewhere.
 */
import type { ReleaseSlot, TransportKind } from './types.js';
import { StreamCapacityError } from './errors.js';

export { StreamCapacityError } from './errors.js';

export type { ReleaseSlot } from './types.js';

export class StreamCapacity {
  readonly limit: number;
  #active = 0;
  readonly #refused: Record<TransportKind, number> = { rtp: 0, websocket: 0, webrtc: 0, file: 0 };

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`stream capacity must be a positive integer, not ${limit}`);
    this.limit = limit;
  }

  get active(): number {
    return this.#active;
  }

  /** Streams refused so far, by transport. */
  get refused(): Readonly<Record<TransportKind, number>> {
    return this.#refused;
  }

  /** Takes a slot for one stream, or throws StreamCapacityError (counted) when all are taken. */
  take(transport: TransportKind): ReleaseSlot {
    if (this.#active >= this.limit) {
      this.#refused[transport]++;
      throw new StreamCapacityError(this.limit);
    }
    this.#active++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#active--;
    };
  }
}
