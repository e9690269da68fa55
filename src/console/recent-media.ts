/**
 * What the call detail shows of a leg's media: the codec every stream arrived in (RTP, WebRTC,
 * WebSocket: MediaIngress onStreamOpened) and, for RTP, the live counters object its session
 * hands out when it opens (onRtpSessionOpened), still readable after the stream ends, so an ended
 * call keeps its codec, loss and jitter. Bounded: the oldest streams go first.
 */
import type { StreamCounters } from '../media/types.js';

interface LegMedia {
  codec?: string;
  counters?: StreamCounters;
}

export class RecentMedia {
  readonly #max: number;
  readonly #byStream = new Map<string, LegMedia>();

  constructor(max: number) {
    this.#max = max;
  }

  rememberCodec(streamId: string, codec: string): void {
    this.#entry(streamId).codec = codec;
  }

  rememberCounters(streamId: string, counters: StreamCounters): void {
    this.#entry(streamId).counters = counters;
  }

  /** The detail view's media block, or undefined for a stream this process never carried. */
  view(streamId: string): Record<string, number | string> | undefined {
    const m = this.#byStream.get(streamId);
    if (!m) return undefined;
    const out: Record<string, number | string> = {};
    if (m.codec !== undefined) out.codec = m.codec;
    const c = m.counters;
    if (c) {
      const expected = c.packetsReceived + c.packetsLost;
      Object.assign(out, {
        'RTP packets': c.packetsReceived,
        lost: c.packetsLost,
        loss: `${expected > 0 ? ((100 * c.packetsLost) / expected).toFixed(2) : '0.00'} %`,
        late: c.packetsLate,
        duplicate: c.packetsDuplicate,
        jitter: `${(c.jitterSec * 1000).toFixed(1)} ms`,
        'codec mismatches': c.codecMismatches,
      });
    }
    return out;
  }

  #entry(streamId: string): LegMedia {
    let m = this.#byStream.get(streamId);
    if (!m) {
      if (this.#byStream.size >= this.#max) this.#byStream.delete(this.#byStream.keys().next().value!);
      m = {};
      this.#byStream.set(streamId, m);
    }
    return m;
  }
}
