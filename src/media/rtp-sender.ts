/**
 * A real RTP sender for `devox send`, tests and benchmarks: encodes audio into 20 ms
 * packets and sends them over UDP on a drift-free schedule (every send time is
 * computed from the start time, never from the previous timer), optionally with
 * seeded loss / reordering / jitter / duplication injected.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEncoder, defaultPayloadFormat } from './codecs.js';
import { floatToInt16 } from './audio-file.js';
import { resampleBuffer } from './resampler.js';
import { writeRtpHeader, RTP_HEADER_BYTES } from './rtp-packet.js';
import type { CodecName } from './types.js';
import { seededRandom } from './seeded-random.js';

export interface RtpPacketizeOptions {
  codec: CodecName;
  payloadType?: number;
  ssrc?: number;
  startSeq?: number;
  startTs?: number;
  packetMs?: number;
  /** L16 sample rate (default 16000). */
  l16Rate?: number;
  /** Opus bitrate (default 32000). */
  opusBitrate?: number;
}

export interface RtpPacketOut {
  /** Packet index in the stream (0, 1, ...), before impairments. */
  index: number;
  sequence: number;
  timestamp: number;
  data: Buffer;
}

export interface Impairments {
  /** Probability a packet is dropped. */
  loss?: number;
  /** Probability a packet is held back and sent after the next one. */
  reorder?: number;
  /** Uniform extra send delay 0..jitterMs per packet (may reorder when > packet time). */
  jitterMs?: number;
  /** Probability a packet is sent twice. */
  duplicate?: number;
  seed?: number;
}

export interface RtpSendOptions extends RtpPacketizeOptions, Impairments {
  to: { address: string; port: number };
  /** Pace packets in real time (default true); false sends as fast as the receiver can take. */
  realtime?: boolean;
  /** Send from this socket (e.g. to keep one source address across sends). */
  socket?: Socket;
  signal?: AbortSignal;
  /** Called about once a second of audio (every 50 packets at 20 ms) and after the last packet: datagrams sent so far, of `total`. */
  onSent?: (sent: number, total: number) => void;
}

export interface RtpSendStats {
  packets: number;
  sent: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** Indices of the packets dropped by --loss. */
  droppedIndices: number[];
  ssrc: number;
  payloadType: number;
  clockRate: number;
  samplesPerPacket: number;
  durationMs: number;
  /** Largest lateness of a send versus its schedule, ms (realtime only). */
  maxLateMs: number;
}

/** Seeded PRNG so impairment patterns are reproducible (--seed). */
export { seededRandom };

/** Encodes mono float audio at `sampleRate` into RTP packets (the last partial packet is zero-padded). */
export function packetize(samples: Float32Array, sampleRate: number, opts: RtpPacketizeOptions): { packets: RtpPacketOut[]; clockRate: number; samplesPerPacket: number; payloadType: number; ssrc: number } {
  const format = defaultPayloadFormat(opts.codec, { payloadType: opts.payloadType, sampleRate: opts.l16Rate });
  const codecRate = format.clockRate;
  const pcm = floatToInt16(resampleBuffer(samples, sampleRate, codecRate));
  const packetMs = opts.packetMs ?? 20;
  const spp = Math.round((codecRate * packetMs) / 1000);
  const enc = createEncoder(opts.codec, { sampleRate: codecRate, bitrate: opts.opusBitrate });
  const ssrc = (opts.ssrc ?? 0x1234abcd) >>> 0;
  const startSeq = opts.startSeq ?? 1000;
  const startTs = opts.startTs ?? 160000;
  const frame = new Int16Array(spp);
  const payload = new Uint8Array(Math.max(4000, spp * 2));
  const packets: RtpPacketOut[] = [];
  try {
    for (let i = 0, off = 0; off < pcm.length; i++, off += spp) {
      const n = Math.min(spp, pcm.length - off);
      frame.fill(0);
      frame.set(pcm.subarray(off, off + n));
      const len = enc.encode(frame, 0, spp, payload);
      const data = Buffer.allocUnsafe(RTP_HEADER_BYTES + len);
      const sequence = (startSeq + i) & 0xffff;
      const timestamp = (startTs + i * spp) >>> 0;
      writeRtpHeader(data, { marker: i === 0, payloadType: format.payloadType, sequence, timestamp, ssrc });
      data.set(payload.subarray(0, len), RTP_HEADER_BYTES);
      packets.push({ index: i, sequence, timestamp, data });
    }
  } finally {
    enc.close();
  }
  return { packets, clockRate: codecRate, samplesPerPacket: spp, payloadType: format.payloadType, ssrc };
}

interface ScheduledSend {
  atMs: number;
  data: Buffer;
}

/** Applies impairments to an in-order packet list, giving each send a time offset (ms from start). */
export function schedule(packets: readonly RtpPacketOut[], packetMs: number, imp: Impairments): { sends: ScheduledSend[]; dropped: number; duplicated: number; reordered: number; droppedIndices: number[] } {
  const rand = seededRandom(imp.seed ?? 1);
  const sends: ScheduledSend[] = [];
  let dropped = 0;
  let duplicated = 0;
  let reordered = 0;
  const droppedIndices: number[] = [];
  let held: RtpPacketOut | null = null;
  for (const p of packets) {
    const at = p.index * packetMs + (imp.jitterMs ? rand() * imp.jitterMs : 0);
    if (imp.loss && rand() < imp.loss) {
      dropped++;
      droppedIndices.push(p.index);
      continue;
    }
    if (held === null && imp.reorder && rand() < imp.reorder) {
      held = p;
      reordered++;
      continue;
    }
    sends.push({ atMs: at, data: p.data });
    if (imp.duplicate && rand() < imp.duplicate) {
      sends.push({ atMs: at, data: p.data });
      duplicated++;
    }
    if (held !== null) {
      sends.push({ atMs: at, data: held.data });
      held = null;
    }
  }
  if (held !== null) sends.push({ atMs: held.index * packetMs, data: held.data });
  // Stable sort by time: jitter larger than a packet time reorders too.
  sends.sort((a, b) => a.atMs - b.atMs);
  return { sends, dropped, duplicated, reordered, droppedIndices };
}

function send(sock: Socket, data: Buffer, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => sock.send(data, port, address, (err) => (err ? reject(err) : resolve())));
}

/** Streams audio as RTP to opts.to; resolves when the last packet was sent. */
export async function sendAudio(samples: Float32Array, sampleRate: number, opts: RtpSendOptions): Promise<RtpSendStats> {
  const packetMs = opts.packetMs ?? 20;
  const p = packetize(samples, sampleRate, opts);
  const plan = schedule(p.packets, packetMs, opts);
  const own = opts.socket === undefined;
  const sock = opts.socket ?? createSocket('udp4');
  if (own) {
    sock.bind(0, opts.to.address.includes(':') ? '::1' : '127.0.0.1');
    await once(sock, 'listening');
  }
  const t0 = performance.now();
  let maxLate = 0;
  try {
    for (let i = 0; i < plan.sends.length; i++) {
      if (opts.signal?.aborted) break;
      const s = plan.sends[i]!;
      if (opts.realtime !== false) {
        const wait = t0 + s.atMs - performance.now();
        if (wait > 1) await sleep(wait);
        maxLate = Math.max(maxLate, performance.now() - (t0 + s.atMs));
      } else if (i % 16 === 15) {
        // As fast as possible, but let a receiver in the same process (tests) drain its socket.
        await new Promise((r) => setImmediate(r));
      }
      await send(sock, s.data, opts.to.port, opts.to.address);
      if (opts.onSent && (i % 50 === 49 || i === plan.sends.length - 1)) opts.onSent(i + 1, plan.sends.length);
    }
  } finally {
    if (own) sock.close();
  }
  return {
    packets: p.packets.length,
    sent: plan.sends.length,
    dropped: plan.dropped,
    duplicated: plan.duplicated,
    reordered: plan.reordered,
    droppedIndices: plan.droppedIndices,
    ssrc: p.ssrc,
    payloadType: p.payloadType,
    clockRate: p.clockRate,
    samplesPerPacket: p.samplesPerPacket,
    durationMs: performance.now() - t0,
    maxLateMs: maxLate,
  };
}
