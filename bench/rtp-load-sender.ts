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
 * The streams share one timer and one socket (bench/rtp-pacer.ts), not rtp-sender's sendAudio
 * per stream.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { CodecName } from '../src/media/types.js';
import { encodeFiles, PACKET_MS, RtpPacer } from './rtp-pacer.js';

interface SenderConfig {
  address: string;
  targets: Array<{ port: number; payloadType: number }>;
  files: string[];
  codec: CodecName;
  durationSec: number;
  spreadMs: number;
}

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
  const encoded = await encodeFiles(cfg.files, cfg.codec);
  const sock = createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  sock.setSendBufferSize(8 * 1024 * 1024);

  const t0 = performance.now() + 50;
  const n = cfg.targets.length;
  const endMs = t0 + cfg.durationSec * 1000 + cfg.spreadMs;
  const lateness = new Float64Array(Math.ceil((n * (cfg.durationSec * 1000 + cfg.spreadMs)) / PACKET_MS) + n + 16);
  let nLate = 0;
  const pacer = new RtpPacer(sock, encoded, (late) => {
    if (nLate < lateness.length) lateness[nLate++] = late;
  });
  cfg.targets.forEach((t, i) => {
    const startMs = t0 + (n > 1 ? (cfg.spreadMs * i) / n : 0);
    pacer.add(i, {
      port: t.port,
      address: cfg.address,
      payloadType: t.payloadType,
      ssrc: (0x10000000 + i * 7919) >>> 0,
      file: i % encoded.length,
      startMs,
      // Every packet due by the end of the run.
      limit: Math.floor((endMs - startMs) / PACKET_MS) + 1,
    });
  });

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      pacer.sendDue(performance.now());
      if (pacer.size === 0) return resolve();
      setTimeout(tick, 2);
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  await new Promise((r) => setTimeout(r, 50));
  sock.close();
  const late = lateness.subarray(0, nLate).sort();
  const q = (p: number): number => (late.length ? late[Math.min(late.length - 1, Math.floor(p * late.length))]! : 0);
  const usage = process.cpuUsage();
  process.stdout.write(
    JSON.stringify({
      streams: n,
      sent: pacer.stats.sent,
      dropped: pacer.stats.sendErrors,
      latenessMs: { p50: q(0.5), p99: q(0.99), max: late.length ? late[late.length - 1] : 0 },
      cpuSec: (usage.user + usage.system) / 1e6,
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`rtp-load-sender: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
