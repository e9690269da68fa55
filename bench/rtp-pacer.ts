/**
 * Real-time RTP for many streams from one UDP socket and one timer: each stream loops an encoded
 * speech file in 20 ms packets on a drift-free schedule (packet k of a stream goes at its start +
 * k·20 ms), with a preallocated packet buffer per stream (no per-packet allocation). Streams can
 * be added and stopped while it runs (bench/soak/rtp-calls.ts: calls that end and start), or all
 * given at once (bench/rtp-load-sender.ts: `npm run bench`).
 *
 * Encoded files: `encodeFiles()` packetizes each file once; streams copy payloads out of them.
 */
import type { Socket } from 'node:dgram';
import { readAudioFile } from '../src/media/audio-file.js';
import { packetize } from '../src/media/rtp-sender.js';
import { RTP_HEADER_BYTES, writeRtpHeader } from '../src/media/rtp-packet.js';
import type { CodecName } from '../src/media/types.js';

export const PACKET_MS = 20;

export interface EncodedFile {
  /** One payload per 20 ms packet (views into the packetized file). */
  payloads: Buffer[];
  /** Samples per packet at the codec's clock rate. */
  spp: number;
}

/** Packetizes every file once (PCMU, PCMA...: payloads only; headers are written per send). */
export async function encodeFiles(files: readonly string[], codec: CodecName): Promise<EncodedFile[]> {
  const out: EncodedFile[] = [];
  for (const f of files) {
    const a = await readAudioFile(f);
    const p = packetize(a.samples, a.sampleRate, { codec, packetMs: PACKET_MS });
    out.push({ payloads: p.packets.map((k) => k.data.subarray(RTP_HEADER_BYTES)), spp: p.samplesPerPacket });
  }
  return out;
}

export interface PacedStream {
  port: number;
  address: string;
  payloadType: number;
  ssrc: number;
  /** Index into the encoded files. */
  file: number;
  /** When packet 0 is due (performance.now() ms). */
  startMs: number;
  /** Packets to send before stopping by itself (Infinity: until stop()). */
  limit: number;
}

interface StreamState extends PacedStream {
  /** Packets sent so far (= the next packet's index). */
  next: number;
  buf: Buffer;
  busy: boolean;
}

export interface PacerStats {
  sent: number;
  sendErrors: number;
}

export class RtpPacer {
  readonly #sock: Socket;
  readonly #encoded: readonly EncodedFile[];
  readonly #maxPayload: number;
  readonly #streams = new Map<number, StreamState>();
  readonly #header = { marker: false, payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0 };
  /** Called with each packet's lateness (ms behind its due time). */
  readonly #onLate: (lateMs: number) => void;
  readonly stats: PacerStats = { sent: 0, sendErrors: 0 };

  constructor(sock: Socket, encoded: readonly EncodedFile[], onLate: (lateMs: number) => void = () => {}) {
    this.#sock = sock;
    this.#encoded = encoded;
    this.#maxPayload = Math.max(...encoded.flatMap((e) => e.payloads.map((p) => p.length)));
    this.#onLate = onLate;
  }

  get size(): number {
    return this.#streams.size;
  }

  add(id: number, s: PacedStream): void {
    this.#streams.set(id, { ...s, next: 0, buf: Buffer.alloc(RTP_HEADER_BYTES + this.#maxPayload), busy: false });
  }

  /** Stops a stream now; returns the packets it sent (undefined: no such stream). */
  stop(id: number): number | undefined {
    const s = this.#streams.get(id);
    if (!s) return undefined;
    this.#streams.delete(id);
    return s.next;
  }

  /** Packets sent so far by a live stream. */
  sentBy(id: number): number | undefined {
    return this.#streams.get(id)?.next;
  }

  ids(): IterableIterator<number> {
    return this.#streams.keys();
  }

  /** Sends every packet due by `now`; streams that reached their limit stop (returned as [id, sent]). */
  sendDue(now: number): Array<[number, number]> {
    const done: Array<[number, number]> = [];
    for (const [id, s] of this.#streams) {
      const enc = this.#encoded[s.file]!;
      while (s.next < s.limit) {
        const due = s.startMs + s.next * PACKET_MS;
        if (due > now) break;
        this.#send(s, enc);
        this.#onLate(now - due);
      }
      if (s.next >= s.limit) done.push([id, s.next]);
    }
    for (const [id] of done) this.#streams.delete(id);
    return done;
  }

  #send(s: StreamState, enc: EncodedFile): void {
    const payload = enc.payloads[s.next % enc.payloads.length]!;
    // The previous send of this stream's buffer not done yet (rare): a fresh one.
    const own = !s.busy;
    const buf = own ? s.buf : Buffer.alloc(RTP_HEADER_BYTES + this.#maxPayload);
    const h = this.#header;
    h.marker = s.next === 0;
    h.payloadType = s.payloadType;
    h.sequence = (1000 + s.next) & 0xffff;
    h.timestamp = (160000 + s.next * enc.spp) >>> 0;
    h.ssrc = s.ssrc;
    writeRtpHeader(buf, h);
    payload.copy(buf, RTP_HEADER_BYTES);
    if (own) s.busy = true;
    this.#sock.send(buf, 0, RTP_HEADER_BYTES + payload.length, s.port, s.address, (err) => {
      if (own) s.busy = false;
      if (err) this.stats.sendErrors++;
    });
    this.stats.sent++;
    s.next++;
  }
}
