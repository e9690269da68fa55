/**
 * Benchmark: how many concurrent real-time Twilio Media Streams one DevoX process ingests.
 *
 *   npm run bench:ws -- [--streams 50,100,200,400] [--seconds 20] [--tracks 1|2]
 *
 * This process runs the MediaStreamServer on 127.0.0.1 (real `ws`, auth, JSON + zod, base64,
 * µ-law decode, reorder, resample 8→16 kHz, 1-s windows every 250 ms) with a sink that copies
 * every window into a batch row as the detector does (inference is benchmarked separately).
 * A separate child process plays N Twilio clients, each sending real speech (LibriSpeech,
 * µ-law by ffmpeg) as one 20 ms media frame per track every 20 ms.
 *
 * Per level it prints the server's CPU % (of one core), CPU ms per stream per second of audio and
 * the streams one core would carry at that cost (independent of what else loads the machine),
 * its event-loop delay p99, RSS growth per stream, window lateness (window ready time vs. the
 * stream's own best pace), the client's send lag, and whether the level was sustained: ≥ 97 % of
 * the expected windows per second (the measuring interval cuts ~1 window per stream at its
 * edges), server event-loop delay p99 < 100 ms, lateness p99 < 1 s, no stream closed abnormally.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadConfig, projectRoot } from '../src/config.js';
import type { StreamDescriptor, WindowSink, WindowView } from '../src/media/types.js';
import { MediaIngress } from '../src/media/ingress.js';
import { MediaStreamServer } from '../src/signaling/websocket/media-stream-server.js';
import { benchArgs } from './args.js';
import { TWILIO_FRAME_MS, twilioConnected, twilioMedia, twilioStart, twilioStop } from './twilio-frames.js';

const TOKEN = 'bench-token';
const CLIP = resolve(projectRoot, '../shared/data/speech/audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac');

interface ClientRun {
  url: string;
  streams: number;
  seconds: number;
  tracks: number;
}

interface ClientReport {
  opened: number;
  framesSent: number;
  sendLagP50Ms: number;
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  closedAbnormally: number;
  closeCodes: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---------------------------------------------------------------- client process

async function clientMain(): Promise<void> {
  const mulaw = execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP, '-ac', '1', '-ar', '8000', '-f', 'mulaw', '-'], { maxBuffer: 64 << 20 });
  const nFrames = Math.floor(mulaw.length / 160);
  const payloads: string[] = [];
  for (let i = 0; i < nFrames; i++) payloads.push(mulaw.subarray(i * 160, (i + 1) * 160).toString('base64'));

  process.on('message', (msg: ClientRun) => {
    runClients(msg, payloads).then(
      (report) => process.send!(report),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  process.send!({ ready: true });
}

async function runClients(run: ClientRun, payloads: string[]): Promise<ClientReport> {
  const tracks = run.tracks === 2 ? ['inbound', 'outbound'] : ['inbound'];
  const sockets: WebSocket[] = [];
  const closeCodes: Record<string, number> = {};
  let closedAbnormally = 0;
  // Open in batches so the upgrade burst does not distort the steady state.
  for (let i = 0; i < run.streams; i += 25) {
    const batch = [];
    for (let k = i; k < Math.min(run.streams, i + 25); k++) {
      // An all-zero mask lets ws skip the client-side masking copy: the client process must not
      // be the bottleneck. The server still runs its unmasking pass as for any real client.
      const ws = new WebSocket(run.url, {
        headers: { authorization: `Bearer ${TOKEN}` },
        perMessageDeflate: false,
        generateMask: (mask: Buffer) => void mask.fill(0),
      });
      ws.on('close', (code) => {
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        if (code !== 1000) closedAbnormally++;
      });
      ws.on('error', () => undefined);
      batch.push(
        new Promise<void>((res) =>
          ws.once('open', () => {
            const callSid = `CAbench${String(k).padStart(6, '0')}`;
            ws.send(twilioConnected());
            ws.send(twilioStart(callSid, tracks, { bench: '1' }));
            res();
          }),
        ),
      );
      sockets.push(ws);
    }
    await Promise.all(batch);
  }
  const totalFrames = Math.round((run.seconds * 1000) / TWILIO_FRAME_MS);
  const lags: number[] = [];
  let framesSent = 0;
  const t0 = performance.now() + 50;
  for (let f = 0; f < totalFrames; f++) {
    const due = t0 + f * TWILIO_FRAME_MS;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    lags.push(Math.max(0, performance.now() - due));
    // Every stream sends the same frame at the same time: encode it once per track.
    const payload = payloads[f % payloads.length]!;
    const msgs = tracks.map((track) => Buffer.from(twilioMedia(f, track, payload)));
    for (let s = 0; s < sockets.length; s++) {
      const ws = sockets[s]!;
      if (ws.readyState !== ws.OPEN) continue;
      for (const m of msgs) {
        ws.send(m, { binary: false });
        framesSent++;
      }
    }
  }
  for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(twilioStop());
  await Promise.all(sockets.filter((ws) => ws.readyState !== ws.CLOSED).map((ws) => new Promise<void>((r) => ws.once('close', () => r()))));
  lags.sort((a, b) => a - b);
  return {
    opened: sockets.length,
    framesSent,
    sendLagP50Ms: percentile(lags, 50),
    sendLagP99Ms: percentile(lags, 99),
    sendLagMaxMs: lags.at(-1) ?? 0,
    closedAbnormally,
    closeCodes,
  };
}

// ---------------------------------------------------------------- server / driver

/**
 * Copies each window into a batch row (what the detector does per window) and records, per
 * stream, when each window was cut relative to its media time. Lateness of a window = its
 * (readyMs - mediaEndMs) minus the smallest such offset of its stream: how far behind the
 * stream's own best pace it came out (client send jitter + server queueing).
 */
class BenchSink implements WindowSink {
  readonly #row: Float32Array;
  readonly #offsets = new Map<string, number[]>();
  windows = 0;

  constructor(rate: number) {
    this.#row = new Float32Array(rate);
  }
  onStreamStart(s: StreamDescriptor): void {
    this.#offsets.set(s.streamId, []);
  }
  onWindow(w: WindowView): void {
    w.copyInto(this.#row, 0);
    this.windows++;
    this.#offsets.get(w.stream.streamId)!.push(w.readyMs - w.mediaEndSec * 1000);
  }
  onStreamEnd(): void {}

  /** Lateness (ms) of every window of the streams seen since the last call, sorted. */
  takeLateness(): number[] {
    const out: number[] = [];
    for (const offs of this.#offsets.values()) {
      const min = Math.min(...offs);
      for (const o of offs) out.push(o - min);
    }
    this.#offsets.clear();
    return out.sort((a, b) => a - b);
  }
}

const USAGE = `usage: npm run bench:ws -- [options]

  --streams 50,100,200,400   concurrent Twilio Media Streams per level
  --seconds S                seconds per level (default 20)
  --tracks 1|2               tracks per stream (default 1)
  -h, --help                 this text`;

async function main(): Promise<number> {
  const values = benchArgs(USAGE, {
    streams: { type: 'string', default: '50,100,200,400' },
    seconds: { type: 'string', default: '20' },
    tracks: { type: 'string', default: '1' },
    /** Internal: the forked client process. */
    client: { type: 'boolean', default: false },
  });
  if (values.client) {
    await clientMain();
    return -1;
  }
  const levels = values.streams!.split(',').map(Number);
  const seconds = Number(values.seconds);
  const tracks = Number(values.tracks) === 2 ? 2 : 1;
  const outputRate = 16000;
  const cfg = loadConfig({ env: {}, overrides: { websocket: { tokens: [TOKEN], maxStreamsPerToken: 100000 } } });
  const sink = new BenchSink(outputRate);
  const media = new MediaStreamServer({
    websocket: cfg.websocket,
    ingress: new MediaIngress({ media: cfg.media, window: cfg.window, outputRate, sink, log: pino({ level: 'silent' }) }),
    log: pino({ level: 'silent' }),
  });
  const http = createServer();
  media.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}${cfg.websocket.pathPrefix}/twilio`;

  const child: ChildProcess = fork(process.argv[1]!, ['--client'], { stdio: 'inherit' });
  await new Promise<void>((r) => child.once('message', () => r()));

  console.log(
    `# WebSocket media streams bench: Twilio protocol, µ-law 8 kHz, ${tracks} track(s)/stream, 20 ms frames, ${seconds} s per level; ` +
      `node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}`,
  );
  console.log('streams  legs  sustained  server_cpu%  cpu_ms/stream/s  streams/core  loop_p99_ms  rss_MB  rss_KB/stream  windows/s  late_p50_ms  late_p99_ms  client_lag_p99_ms  abnormal_closes  loadavg1');
  let best = 0;
  for (const n of levels) {
    sink.windows = 0;
    const rssBefore = process.memoryUsage().rss;
    const reportP = new Promise<ClientReport>((r) => child.once('message', (m) => r(m as ClientReport)));
    child.send({ url, streams: n, seconds, tracks } satisfies ClientRun);
    // Measure the steady state: skip the first 3 s (connects, first window), stop 1 s early.
    await new Promise((r) => setTimeout(r, 3000));
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const win0 = sink.windows;
    let rssPeak = 0;
    const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 500);
    await new Promise((r) => setTimeout(r, Math.max(1000, (seconds - 4) * 1000)));
    const cpu = process.cpuUsage(cpu0);
    loopDelay.disable();
    const loopP99 = loopDelay.percentile(99) / 1e6;
    const wall = performance.now() - w0;
    const winRate = ((sink.windows - win0) * 1000) / wall;
    clearInterval(rssTimer);
    const report = await reportP;
    const late = sink.takeLateness();
    const cpuPct = ((cpu.user + cpu.system) / 1000 / wall) * 100;
    const legs = n * tracks;
    const expectedRate = legs * (1000 / cfg.window.hopMs);
    const p99 = percentile(late, 99);
    // The client shares this machine: its send lag shows in lateness but is not held against the
    // server; the server must keep up with every frame (windows/s), keep its event loop
    // responsive, and not let lateness grow without bound.
    const sustained = winRate >= 0.97 * expectedRate && loopP99 < 100 && p99 < 1000 && report.closedAbnormally === 0;
    if (sustained) best = n;
    console.log(
      [
        String(n).padStart(7),
        String(legs).padStart(5),
        (sustained ? 'yes' : 'NO').padStart(10),
        cpuPct.toFixed(1).padStart(12),
        (cpuPct * 10 / n).toFixed(3).padStart(16),
        (100 / (cpuPct / n)).toFixed(0).padStart(13),
        loopP99.toFixed(1).padStart(12),
        (rssPeak / 2 ** 20).toFixed(0).padStart(7),
        (((rssPeak - rssBefore) / 1024 / n) || 0).toFixed(0).padStart(14),
        winRate.toFixed(0).padStart(10),
        percentile(late, 50).toFixed(1).padStart(12),
        p99.toFixed(1).padStart(12),
        report.sendLagP99Ms.toFixed(1).padStart(18),
        String(report.closedAbnormally).padStart(16),
        loadavg()[0]!.toFixed(1).padStart(9),
      ].join(' '),
    );
    if (report.closedAbnormally > 0) {
      const reasons = Object.entries(media.counters.closed).filter(([r, c]) => c > 0 && r !== 'stop');
      console.log(`#   client saw close codes ${JSON.stringify(report.closeCodes)}; server reasons so far ${JSON.stringify(Object.fromEntries(reasons))}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(`# sustained in real time: ${best} concurrent streams (${best * tracks} legs) — the largest level tried that passed`);
  child.kill();
  await media.close();
  await new Promise<void>((r) => http.close(() => r()));
  return 0;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
