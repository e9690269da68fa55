/**
 * The media counters of recent RTP streams, for the call detail: the live counters object each
 * RTP session hands out when it opens (MediaIngress onRtpSessionOpened) stays readable after the
 * stream ends, so an ended call still shows its loss and jitter. Bounded: the oldest go first.
 */
import type { StreamCounters } from '../media/types.js';

export class RecentCounters {
  readonly #max: number;
  readonly #byStream = new Map<string, StreamCounters>();

  constructor(max: number) {
    this.#max = max;
  }

  remember(streamId: string, counters: StreamCounters): void {
    if (this.#byStream.size >= this.#max) this.#byStream.delete(this.#byStream.keys().next().value!);
    this.#byStream.set(streamId, counters);
  }

  /** What the detail view shows of a stream's counters, or undefined when it is not an RTP stream of this process. */
  view(streamId: string): Record<string, number | string> | undefined {
    const c = this.#byStream.get(streamId);
    if (!c) return undefined;
    const expected = c.packetsReceived + c.packetsLost;
    return {
      'RTP packets': c.packetsReceived,
      lost: c.packetsLost,
      loss: `${expected > 0 ? ((100 * c.packetsLost) / expected).toFixed(2) : '0.00'} %`,
      late: c.packetsLate,
      duplicate: c.packetsDuplicate,
      jitter: `${(c.jitterSec * 1000).toFixed(1)} ms`,
      'codec mismatches': c.codecMismatches,
    };
  }
}
