/**
 * The SEPARATE sender process of `npm run bench`: streams N concurrent real-time RTP
 * streams over loopback, each looping a speech file, 20 ms packets on a drift-free
 * schedule (packet k of stream i goes at start_i + k·20 ms). Stream starts are spread over
 * one hop so that windows are cut at different times, as with independent calls.
 *
 * Input: one JSON line on stdin, {"address", "targets": [{"port", "payloadType"}],
 * "files": [...], "codec", "durationSec", "spreadMs"}. Output: one JSON line on stdout with
 * packets sent and lateness percentiles, then exit.
 *
 * Hand-written loop (not rtp-sender's sendAudio per stream) so that hundreds of streams share
 * one timer and one socket, with a preallocated packet buffer per stream (no per-packet
 * allocation).
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readAudioFile } from '../src/media/audio-file.js';
import { packetize } from '../src/media/rtp-sender.js';
import { RTP_HEADER_BYTES, writeRtpHeader } from '../src/media/rtp-packet.js';
import type { CodecName } from '../src/media/types.js';

interface SenderConfig {
  address: string;
  targets: Array<{ port: number; payloadType: number }>;
  files: string[];
  codec: CodecName;
  durationSec: number;
  spreadMs: number;
}

interface StreamState {
  port: number;
  payloadType: number;
  ssrc: number;
  file: number;
  /** Packet offset into the file loop (0: every stream starts at its file's first word). */
  offset: number;
  startMs: number;
  next: number;
  buf: Buffer;
  busy: boolean;
}

const PACKET_MS = 20;

async function readConfig(): Promise<SenderConfig> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return JSON.parse(text) as SenderConfig;
}

async function main(): Promise<void> {
  const cfg = await readConfig();
  // Encode every file once; streams copy payloads out of these.
  const encoded: Array<{ payloads: Buffer[]; spp: number }> = [];
  for (const f of cfg.files) {
    const a = await readAudioFile(f);
    const p = packetize(a.samples, a.sampleRate, { codec: cfg.codec, packetMs: PACKET_MS });
    encoded.push({ payloads: p.packets.map((k) => k.data.subarray(RTP_HEADER_BYTES)), spp: p.samplesPerPacket });
  }
  const maxPayload = Math.max(...encoded.flatMap((e) => e.payloads.map((p) => p.length)));
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  sock.setSendBufferSize(8 * 1024 * 1024);

  const t0 = performance.now() + 50;
  const n = cfg.targets.length;
  const streams: StreamState[] = cfg.targets.map((t, i) => ({
    port: t.port,
    payloadType: t.payloadType,
    ssrc: (0x10000000 + i * 7919) >>> 0,
    file: i % encoded.length,
    offset: 0,
    startMs: t0 + (n > 1 ? (cfg.spreadMs * i) / n : 0),
    next: 0,
    buf: Buffer.alloc(RTP_HEADER_BYTES + maxPayload),
    busy: false,
  }));
  const endMs = t0 + cfg.durationSec * 1000 + cfg.spreadMs;
  const lateness = new Float64Array(Math.ceil((n * (cfg.durationSec * 1000 + cfg.spreadMs)) / PACKET_MS) + n + 16);
  let sent = 0;
  let dropped = 0;
  const header = { marker: false, payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0 };

  const sendDue = (): void => {
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const s = streams[i]!;
      for (;;) {
        const due = s.startMs + s.next * PACKET_MS;
        if (due > now || due > endMs) break;
        const enc = encoded[s.file]!;
        const payload = enc.payloads[(s.offset + s.next) % enc.payloads.length]!;
        let buf = s.buf;
        if (s.busy) buf = Buffer.alloc(RTP_HEADER_BYTES + maxPayload); // previous send not done yet (rare)
        header.marker = s.next === 0;
        header.payloadType = s.payloadType;
        header.sequence = (1000 + s.next) & 0xffff;
        header.timestamp = (160000 + s.next * enc.spp) >>> 0;
        header.ssrc = s.ssrc;
        writeRtpHeader(buf, header);
        payload.copy(buf, RTP_HEADER_BYTES);
        const len = RTP_HEADER_BYTES + payload.length;
        if (buf === s.buf) s.busy = true;
        const own = buf === s.buf;
        sock.send(buf, 0, len, s.port, cfg.address, (err) => {
          if (own) s.busy = false;
          if (err) dropped++;
        });
        if (sent < lateness.length) lateness[sent] = now - due;
        sent++;
        s.next++;
      }
    }
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      sendDue();
      if (performance.now() >= endMs) return resolve();
      setTimeout(tick, 2);
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  await new Promise((r) => setTimeout(r, 50));
  sock.close();
  const late = lateness.subarray(0, Math.min(sent, lateness.length)).sort();
  const q = (p: number): number => (late.length ? late[Math.min(late.length - 1, Math.floor(p * late.length))]! : 0);
  const usage = process.cpuUsage();
  process.stdout.write(
    JSON.stringify({
      streams: n,
      sent,
      dropped,
      latenessMs: { p50: q(0.5), p99: q(0.99), max: late.length ? late[late.length - 1] : 0 },
      cpuSec: (usage.user + usage.system) / 1e6,
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`rtp-load-sender: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
