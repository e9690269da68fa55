/**
 * Benchmark RTP sender (child process of bench/media.ts): N concurrent real-time PCMU
 * streams of real speech, 20 ms packets, phases spread evenly over the 20 ms period.
 * Drift-free: packet g (all streams interleaved) is due at t0 + g * 20/N ms.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readAudioFile } from '../src/media/audio-file.js';
import { packetize } from '../src/media/rtp-sender.js';
import { writeRtpHeader, RTP_HEADER_BYTES } from '../src/media/rtp-packet.js';
import { nowMs } from '../src/media/clock.js';

interface Setup {
  ports: number[];
  file: string;
}
interface Start {
  t0: number;
  seconds: number;
}

/** Buffers per stream in rotation: a queued send keeps its buffer until libuv has sent it. */
const RING = 64;

// Protocol: parent sends Setup; we prepare and answer 'ready'; parent sends Start (t0 in the future).
process.once('message', (setup: Setup) => {
  void prepare(setup).then(
    (go) => {
      process.once('message', (start: Start) => {
        void go(start).then(
          (r) => process.send!(r, () => process.exit(0)),
          (err: unknown) => process.send!({ error: String(err) }, () => process.exit(1)),
        );
      });
      process.send!('ready');
    },
    (err: unknown) => process.send!({ error: String(err) }, () => process.exit(1)),
  );
});

type Result = { sent: number; maxBehindMs: number; behindP99Ms: number; cpuMs: number };

async function prepare(setup: Setup): Promise<(start: Start) => Promise<Result>> {
  const audio = await readAudioFile(setup.file);
  const { packets } = packetize(audio.samples, audio.sampleRate, { codec: 'PCMU' });
  const payloads = packets.map((p) => p.data.subarray(RTP_HEADER_BYTES));
  const n = setup.ports.length;
  const bufs = Array.from({ length: n * RING }, () => Buffer.alloc(RTP_HEADER_BYTES + 160));
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const job = { ...setup, t0: 0, seconds: 0 };
  return (start: Start) => {
    job.t0 = start.t0;
    job.seconds = start.seconds;
    return send(job, n, payloads, bufs, sock);
  };
}

async function send(job: Setup & Start, n: number, payloads: Buffer[], bufs: Buffer[], sock: ReturnType<typeof createSocket>): Promise<Result> {
  const period = 20 / n;
  const total = Math.floor((job.seconds * 1000) / 20) * n;
  const cpu0 = process.cpuUsage();
  let g = 0;
  let maxBehind = 0;
  const behind = new Float32Array(total);
  while (g < total) {
    const now = nowMs();
    while (g < total && job.t0 + g * period <= now) {
      const i = g % n;
      const k = Math.floor(g / n);
      const b = bufs[i * RING + (k % RING)]!;
      writeRtpHeader(b, { marker: k === 0, payloadType: 0, sequence: (i * 7919 + k) & 0xffff, timestamp: (i * 104729 + k * 160) >>> 0, ssrc: 0x10000 + i });
      b.set(payloads[k % payloads.length]!, RTP_HEADER_BYTES);
      sock.send(b, job.ports[i]!, '127.0.0.1');
      behind[g] = now - (job.t0 + g * period);
      maxBehind = Math.max(maxBehind, behind[g]!);
      g++;
    }
    const next = job.t0 + g * period - nowMs();
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(2, next))));
  }
  await new Promise((r) => setTimeout(r, 50));
  sock.close();
  const cpu = process.cpuUsage(cpu0);
  behind.sort();
  return { sent: total, maxBehindMs: maxBehind, behindP99Ms: behind[Math.floor(total * 0.99)] ?? 0, cpuMs: (cpu.user + cpu.system) / 1000 };
}
