/**
 * Media ingest benchmark: how many concurrent real-time PCMU RTP streams (20 ms packets)
 * one process ingests and windows. A separate sender process (bench/media-sender.ts,
 * child_process.fork) sends N streams over loopback; this process runs MediaSessions with
 * a sink that copies every window out (as the detector does) and measures CPU, RSS,
 * packets/s, windows/s and window lateness (window ready time minus the scheduled send
 * time of its last packet).
 *
 *   npm run bench:media -- [--streams 250,500,1000,1500,2000] [--seconds 12] [--warmup 4]
 */
import { fork } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { MediaSessions } from '../src/media/media-sessions.js';
import { nowMs } from '../src/media/clock.js';
import type { StreamDescriptor, WindowSink, WindowView } from '../src/media/types.js';
import { benchArgs } from './args.js';

const here = dirname(fileURLToPath(import.meta.url));
const SPEECH = resolve(here, '..', '..', 'shared', 'data', 'speech', 'audio/bigcodec_demo/genuine/bonafide/libri-6829_129fb374e5.flac');

const USAGE = `usage: npm run bench:media -- [options]

  --streams 250,500,1000,1500,2000   concurrent real-time PCMU streams per level
  --seconds S                        seconds measured per level (default 12)
  --warmup S                         seconds before measuring (default 4)
  --port-min PORT                    first RTP port (default 20000)
  --bare                             sockets only (count datagrams): Node's UDP receive floor
  -h, --help                         this text`;

const values = benchArgs(USAGE, {
  streams: { type: 'string', default: '250,500,1000,1500,2000' },
  seconds: { type: 'string', default: '12' },
  warmup: { type: 'string', default: '4' },
  'port-min': { type: 'string', default: '20000' },
  /** Sockets only (count datagrams, nothing else): Node's UDP receive floor for comparison. */
  bare: { type: 'boolean', default: false },
});
const bare = values.bare;
const levels = values.streams.split(',').map(Number);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const portMin = Number(values['port-min']);

/** Sink doing what the detector does per window: copy it out; records lateness. */
class BenchSink implements WindowSink {
  readonly row = new Float32Array(16000);
  readonly index = new Map<string, number>();
  t0 = 0;
  n = 1;
  measureFrom = Infinity;
  windows = 0;
  lateness = new Float64Array(1 << 20);
  lateCount = 0;
  onStreamStart(_s: StreamDescriptor): void {}
  onStreamEnd(): void {}
  onWindow(w: WindowView): void {
    w.copyInto(this.row, 0);
    const now = w.readyMs;
    if (now < this.measureFrom) return;
    this.windows++;
    const i = this.index.get(w.stream.streamId)!;
    // Last packet of the window: k = mediaEnd/20ms - 1, sent at t0 + (k*n + i) * 20/n.
    const k = Math.round(w.mediaEndSec / 0.02) - 1;
    const due = this.t0 + ((k * this.n + i) * 20) / this.n;
    if (this.lateCount < this.lateness.length) this.lateness[this.lateCount++] = now - due;
  }
}

function pct(a: Float64Array, n: number, p: number): number {
  const s = Array.from(a.subarray(0, n)).sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}

interface Row {
  streams: number;
  pktPerSec: number;
  windowsPerSec: number;
  expectedWindowsPerSec: number;
  cpuPct: number;
  rssPerStreamKiB: number;
  lossPct: number;
  /** Sequence holes seen by the receivers (reorder buffer gave up), % of packets. */
  seqLostPct: number;
  lateP50: number;
  lateP99: number;
  lateMax: number;
  elDelayP99: number;
  senderCpuPct: number;
  senderBehindP99: number;
  keptUp: boolean;
}

async function runLevel(n: number): Promise<Row> {
  const cfg = loadConfig({ env: {} });
  const sink = new BenchSink();
  const log = pino({ level: 'warn' });
  (globalThis as { gc?: () => void }).gc?.();
  const rss0 = process.memoryUsage().rss;
  const sessions = new MediaSessions({
    media: { ...cfg.media, rtpPortMin: portMin, rtpPortMax: portMin + 2 * n + 50, streamTimeoutMs: 30000 },
    window: cfg.window,
    outputRate: 16000,
    sink,
    log,
  });
  const list: Array<{ port: number; counters: { packetsReceived: number; packetsLost: number } }> = [];
  const bareSockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    if (bare) {
      const sock = createSocket('udp4');
      const counters = { packetsReceived: 0, packetsLost: 0 };
      sock.on('message', () => void counters.packetsReceived++);
      sock.bind(portMin + 2 * i, '127.0.0.1');
      await once(sock, 'listening');
      bareSockets.push(sock);
      list.push({ port: portMin + 2 * i, counters });
      continue;
    }
    const s = await sessions.allocate({ descriptor: { streamId: `b${i}`, callId: `c${i}`, leg: 'caller', transport: 'rtp' }, formats: [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }] });
    sink.index.set(`b${i}`, i);
    list.push(s);
  }
  const child = fork(resolve(here, 'media-sender.ts'), [], { execArgv: ['--import', 'tsx'] });
  type Reply = 'ready' | { error?: string; sent: number; maxBehindMs: number; behindP99Ms: number; cpuMs: number };
  const replies: Reply[] = [];
  let wake: (() => void) | null = null;
  child.on('message', (m: Reply) => {
    replies.push(m);
    wake?.();
  });
  const next = async (): Promise<Reply> => {
    while (replies.length === 0) await new Promise<void>((r) => (wake = r));
    const m = replies.shift()!;
    if (typeof m !== 'string' && m.error) throw new Error(`sender: ${m.error}`);
    return m;
  };
  child.send({ ports: list.map((s) => s.port), file: SPEECH });
  if ((await next()) !== 'ready') throw new Error('sender: expected ready');
  const t0 = nowMs() + 300;
  sink.t0 = t0;
  sink.n = n;
  sink.measureFrom = t0 + warmup * 1000;
  child.send({ t0, seconds });
  const done = next() as Promise<{ sent: number; maxBehindMs: number; behindP99Ms: number; cpuMs: number }>;

  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  await new Promise((r) => setTimeout(r, Math.max(0, sink.measureFrom - nowMs())));
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const m0 = nowMs();
  const pk0 = list.reduce((s, x) => s + x.counters.packetsReceived, 0);
  const measureMs = (seconds - warmup - 1) * 1000;
  await new Promise((r) => setTimeout(r, measureMs));
  const cpu = process.cpuUsage(cpu0);
  const m1 = nowMs();
  const pk1 = list.reduce((s, x) => s + x.counters.packetsReceived, 0);
  const rss1 = process.memoryUsage().rss;
  h.disable();
  const windows = sink.windows;
  const lateCount = sink.lateCount;
  const sender = await done;
  await new Promise((r) => setTimeout(r, 200));
  const received = list.reduce((s, x) => s + x.counters.packetsReceived, 0);
  const lost = list.reduce((s, x) => s + x.counters.packetsLost, 0);
  await sessions.closeAll();
  for (const sock of bareSockets) sock.close();
  const elapsed = (m1 - m0) / 1000;
  const row: Row = {
    streams: n,
    pktPerSec: (pk1 - pk0) / elapsed,
    windowsPerSec: windows / ((nowMs() - sink.measureFrom) / 1000) || 0,
    expectedWindowsPerSec: n * 4,
    cpuPct: ((cpu.user + cpu.system) / 1000 / (m1 - m0)) * 100,
    rssPerStreamKiB: (rss1 - rss0) / 1024 / n,
    lossPct: (100 * Math.max(0, sender.sent - received)) / sender.sent,
    seqLostPct: (100 * lost) / Math.max(1, received),
    lateP50: pct(sink.lateness, lateCount, 50),
    lateP99: pct(sink.lateness, lateCount, 99),
    lateMax: pct(sink.lateness, lateCount, 100),
    elDelayP99: h.percentile(99) / 1e6,
    senderCpuPct: (sender.cpuMs / (seconds * 1000)) * 100,
    senderBehindP99: sender.behindP99Ms,
    keptUp: false,
  };
  // windows/s measured until now is diluted by the tail; use the measured window count instead
  row.windowsPerSec = windows / ((sink.lateCount > 0 ? (m1 - sink.measureFrom) : 1) / 1000);
  // Kept up with real time: nothing dropped by the kernel, every window emitted, and the
  // median window no later than 100 ms after its last packet was due (falling behind makes
  // lateness grow without bound; p99 is printed too but on a shared box it mostly shows the
  // process being descheduled, see the load average).
  row.keptUp = row.lossPct < 0.1 && row.seqLostPct < 0.1 && row.windowsPerSec > 0.98 * row.expectedWindowsPerSec && row.lateP50 < 100;
  return row;
}

const rows: Row[] = [];
console.log(bare
  ? 'BARE mode: sockets that only count datagrams (Node UDP receive floor); no media path, no windows'
  : `media ingest benchmark: PCMU 20 ms real-time streams over loopback, window 1 s / hop 250 ms, output 16 kHz`);
console.log(`host: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; the sender process runs on the same host`);
console.log('streams  pkt/s    win/s(exp)        ingestCPU%  RSS/stream  loss% (seq)   late p50/p99/max ms  evloop p99 ms  senderCPU% (late p99 ms)  kept up');
for (const n of levels) {
  const load = loadavg()[0]!;
  const r = await runLevel(n);
  rows.push(r);
  process.stdout.write(`(load average before this level: ${load.toFixed(1)})\n`);
  console.log(
    `${String(r.streams).padStart(7)}  ${r.pktPerSec.toFixed(0).padStart(6)}  ${r.windowsPerSec.toFixed(0).padStart(6)} (${r.expectedWindowsPerSec})`.padEnd(34) +
      `  ${r.cpuPct.toFixed(1).padStart(9)}  ${r.rssPerStreamKiB.toFixed(0).padStart(7)} KiB  ${r.lossPct.toFixed(2).padStart(5)} (${r.seqLostPct.toFixed(2)})  ` +
      `${r.lateP50.toFixed(1)}/${r.lateP99.toFixed(1)}/${r.lateMax.toFixed(1)}`.padStart(19) +
      `  ${r.elDelayP99.toFixed(1).padStart(12)}  ${r.senderCpuPct.toFixed(1).padStart(10)} (${r.senderBehindP99.toFixed(1)})  ${r.keptUp ? 'yes' : 'NO'}`,
  );
  if (!r.keptUp && !bare) break;
}
const best = rows.filter((r) => r.keptUp).at(-1);
if (best) {
  console.log(`largest N that kept up: ${best.streams} streams at ${best.cpuPct.toFixed(0)}% of one core => ~${Math.round((best.streams / best.cpuPct) * 100)} streams per fully used core (extrapolated)`);
} else {
  console.log('no level kept up');
}
console.log(JSON.stringify({ rows }));
