/**
 * RTP stream counters as Prometheus metrics: devox_rtp_<counter>_total summed over live and ended
 * streams, and devox_rtp_jitter_seconds over live streams, all read at scrape time.
 * Metrics owns one StreamCounterTotals and registers these families through registerRtpMetrics.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StreamCounters } from '../media/types.js';

/** The counter fields of StreamCounters exported as devox_rtp_<name>_total. */
const RTP_COUNTER_FIELDS = [
  ['packetsReceived', 'packets_received', 'RTP packets accepted (duplicate, late and undecodable included)'],
  ['packetsLost', 'packets_lost', 'RTP packets never received (sequence gaps)'],
  ['packetsDuplicate', 'packets_duplicate', 'duplicate RTP packets dropped'],
  ['packetsLate', 'packets_late', 'RTP packets that arrived after their window was cut'],
  ['packetsMalformed', 'packets_malformed', 'datagrams that were not valid RTP'],
  ['packetsUnknownPayload', 'packets_unknown_payload', 'RTP packets with a payload type not negotiated'],
  ['packetsWrongSource', 'packets_wrong_source', 'RTP packets from an unexpected source address'],
  ['packetsRtcp', 'packets_rtcp', 'RTCP datagrams (rtcp-mux on the RTP port, or on the RTCP port): not analysed'],
  ['packetsOutOfRange', 'packets_out_of_range', 'RTP packets far off in sequence/timestamp, not confirmed by the next: dropped'],
  ['packetsUndecodable', 'packets_undecodable', 'received RTP packets whose payload could not be decoded'],
  ['codecMismatches', 'codec_mismatches', 'G.711 payload types whose audio is in the other law than negotiated (PCMA sent to PCMU)'],
  ['ssrcChanges', 'ssrc_changes', 'SSRC changes within a stream'],
  ['bytesReceived', 'bytes_received', 'RTP payload bytes received'],
] as const satisfies ReadonlyArray<readonly [keyof StreamCounters, string, string]>;

type RtpField = (typeof RTP_COUNTER_FIELDS)[number][0];

/** A live source of per-stream counters (e.g. MediaSessions.streams(), WebSocket sessions). */
export interface CounterSource {
  (): Iterable<{ readonly descriptor: { readonly streamId: string }; readonly counters: StreamCounters }>;
}

/**
 * Sums StreamCounters of live streams (read at scrape time) and keeps the final values of
 * ended streams, so the exported totals never go backwards when a stream goes away.
 * Counter objects are held by reference: media keeps updating them, we only read.
 */
export class StreamCounterTotals {
  readonly #sources: CounterSource[] = [];
  readonly #live = new Map<string, StreamCounters>();
  readonly #ended: Record<RtpField, number> = Object.fromEntries(RTP_COUNTER_FIELDS.map(([f]) => [f, 0])) as Record<
    RtpField,
    number
  >;
  #endedStreams = 0;

  addSource(source: CounterSource): void {
    this.#sources.push(source);
  }

  /** Picks up streams the sources know about (at scrape time and when a stream ends). */
  refresh(): void {
    for (const source of this.#sources) {
      for (const s of source()) {
        if (!this.#live.has(s.descriptor.streamId)) this.#live.set(s.descriptor.streamId, s.counters);
      }
    }
  }

  note(streamId: string): void {
    if (!this.#live.has(streamId)) this.refresh();
  }

  track(streamId: string, counters: StreamCounters): void {
    this.#live.set(streamId, counters);
  }

  /** The stream ended: fold its final counters into the totals. Idempotent. */
  retire(streamId: string): void {
    if (!this.#live.has(streamId)) this.refresh();
    const c = this.#live.get(streamId);
    if (!c) return;
    for (const [f] of RTP_COUNTER_FIELDS) this.#ended[f] += c[f];
    this.#endedStreams++;
    this.#live.delete(streamId);
  }

  total(field: RtpField): number {
    let sum = this.#ended[field];
    for (const c of this.#live.values()) sum += c[field];
    return sum;
  }

  jitter(): { max: number; mean: number } {
    let max = 0;
    let sum = 0;
    for (const c of this.#live.values()) {
      if (c.jitterSec > max) max = c.jitterSec;
      sum += c.jitterSec;
    }
    return { max, mean: this.#live.size > 0 ? sum / this.#live.size : 0 };
  }

  get liveCount(): number {
    return this.#live.size;
  }
}

/** Registers devox_rtp_*_total (one counter per StreamCounters field) and devox_rtp_jitter_seconds; returns the jitter gauge. */
export function registerRtpMetrics(registry: Registry, rtp: StreamCounterTotals): Gauge<'stat'> {
  for (const [field, name, help] of RTP_COUNTER_FIELDS) {
    new Counter({
      name: `devox_rtp_${name}_total`,
      help: `${help} (live and ended streams)`,
      registers: [registry],
      collect() {
        // Counters only go up; StreamCounterTotals keeps ended streams' values so this holds.
        rtp.refresh();
        this.reset();
        this.inc(rtp.total(field));
      },
    });
  }
  return new Gauge({
    name: 'devox_rtp_jitter_seconds',
    help: 'Interarrival jitter (RFC 3550) over live streams: stat="max" or "mean"',
    labelNames: ['stat'] as const,
    registers: [registry],
    collect() {
      rtp.refresh();
      const j = rtp.jitter();
      this.set({ stat: 'max' }, j.max);
      this.set({ stat: 'mean' }, j.mean);
    },
  });
}
