/**
 * npm run bench — end-to-end detector benchmark.
 *
 * N concurrent real-time RTP streams (20 ms PCMU packets, looping speech files) from a
 * SEPARATE sender process (bench/rtp-load-sender.ts) over 127.0.0.1 into a DevoxServer in
 * this process (real media sessions, real ONNX model in its inference worker, verdict
 * policy, events published to a real nats-server JetStream when one is installed, else to
 * a discarded stdout). Hop 250 ms → 4 windows/s per stream.
 *
 * Per trial it prints: windows/s scored (vs expected), window-ready → verdict-published
 * latency p50/p99/max, mean batch size and batch time, server CPU % (all threads), RSS per
 * stream, time to first verdict after the first second of speech, sender lateness.
 * Then it searches for the largest N that stays real-time: no window shed, ≥ 98 % of the
 * expected windows scored, p99 latency below one hop, and a sender that kept its schedule.
 *
 *   npm run bench                          # 200 streams, then the search
 *   npm run bench -- --streams 100,200,400 --no-search --duration 10
 *   npm run bench -- --model test/fixtures/tiny-model --no-nats
 *   npm run bench:speaker                  # the same with the speaker model on every leg (1:N against one account)
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, mergeConfig, projectRoot } from '../src/config.js';
import type { WindowScore } from '../src/detect/types.js';
import { nowMs } from '../src/media/clock.js';
import { StreamCapacityError } from '../src/media/stream-capacity.js';
import { createLogger } from '../src/logger.js';
import type { OpenedStream } from '../src/http/streams-api.js';
import { DevoxServer } from '../src/server.js';
import { NatsServer, natsServerAvailable } from '../test/helpers/nats-server.js';
import { benchArgs } from './args.js';

const HOP_MS = 250;

interface TrialResult {
  /** Streams admitted (offered minus refused at media.maxStreams). */
  streams: number;
  offered: number;
  refused: number;
  seconds: number;
  windowsPerSec: number;
  expectedWindowsPerSec: number;
  shed: number;
  latencyMs: { p50: number; p99: number; max: number };
  batch: { meanSize: number; meanMs: number; batches: number };
  cpuPercent: number;
  rssMiBPerStream: number;
  rssMiB: number;
  firstVerdictMs: { p50: number; p90: number; max: number; streams: number };
  sender: { p99LateMs: number; maxLateMs: number; cpuSec: number; sent: number };
  /** With --set speaker.enabled=true (npm run bench:speaker): the speaker model beside the detector. */
  speaker?: { windowsPerSec: number; shed: number; msPerWindow: number; meanBatch: number };
  realtime: boolean;
  why: string;
}

function quantile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function speechFiles(): string[] {
  const samples = resolve(projectRoot, 'samples');
  if (existsSync(samples)) {
    const f = readdirSync(samples).filter((n) => /\.(flac|wav)$/i.test(n)).map((n) => resolve(samples, n));
    if (f.length > 0) return f;
  }
  const shared = resolve(projectRoot, '../shared/data/speech/audio/resemblyzer/genuine/bonafide');
  return readdirSync(shared).filter((n) => n.endsWith('.flac')).slice(0, 4).map((n) => resolve(shared, n));
}

async function histogramDelta(server: DevoxServer): Promise<{ sizeSum: number; count: number; durSum: number }> {
  const size = await server.metrics.batchSize.get();
  const dur = await server.metrics.batchDuration.get();
  const pick = (vals: typeof size.values, suffix: string) => vals.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  return { sizeSum: pick(size.values, '_sum'), count: pick(size.values, '_count'), durSum: pick(dur.values, '_sum') };
}

const USAGE = `usage: npm run bench -- [options]

  --streams N[,N...]   stream counts to run (default 200)
  --no-search          do not search for the largest real-time N afterwards
  --duration S         seconds measured per trial (default 12)
  --warmup S           seconds before measuring (default 3)
  --model DIR          model directory (default: the shipped models)
  --no-nats            publish to a discarded stdout even when nats-server is installed
  --max-streams N      upper bound of the search (default 1600)
  --set key.path=VALUE config override (repeatable; VALUE parsed as JSON when it can be)
  -h, --help           this text

examples:
  npm run bench -- --streams 100,200,400 --no-search --duration 10
  npm run bench -- --model test/fixtures/tiny-model --no-nats`;

async function main(): Promise<number> {
  const v = benchArgs(USAGE, {
    streams: { type: 'string', default: '200' },
    search: { type: 'boolean', default: true },
    'no-search': { type: 'boolean', default: false },
    duration: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    model: { type: 'string' },
    nats: { type: 'boolean', default: true },
    'no-nats': { type: 'boolean', default: false },
    'max-streams': { type: 'string', default: '1600' },
    /** Config overrides, e.g. --set detect.intraOpThreads=2 --set detect.maxBatchSize=32 (value parsed as JSON when it can be). */
    set: { type: 'string', multiple: true },
  });
  const extra: Record<string, unknown> = {};
  for (const kv of v.set ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) {
      process.stderr.write(`--set: expected key.path=value, got ${JSON.stringify(kv)}\n\n${USAGE}\n`);
      return 2;
    }
    const raw = kv.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    let cur = extra;
    const keys = kv.slice(0, i).split('.');
    for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
    cur[keys.at(-1)!] = value;
  }
  const durationSec = Number(v.duration);
  const warmupSec = Number(v.warmup);
  const shipped = resolve(projectRoot, 'models/devox-phone');
  const modelDir = v.model ? resolve(v.model) : existsSync(resolve(shipped, 'card.json')) ? shipped : resolve(projectRoot, 'test/fixtures/tiny-model');
  const useNats = v.nats && !v['no-nats'] && natsServerAvailable();
  const files = speechFiles();

  let nats: NatsServer | undefined;
  if (useNats) nats = await NatsServer.start();
  const config = loadConfig({
    overrides: mergeConfig(
      {
        log: { level: process.env.DEVOX_BENCH_LOG ?? 'error' },
        http: { port: 0 },
        // --model alone judges every stream; by default the shipped narrowband model judges these PCMU streams
        detect: v.model ? { modelDir, narrowbandModelDir: '' } : { modelDir },
        // The search looks for the detector's limit, so the admission cap (media.maxStreams) must not find it first.
        media: { streamTimeoutMs: 5000, maxStreams: Number(v['max-streams']) },
        nats: { servers: nats ? [nats.url] : [], maxBufferedEvents: 100000 },
        websocket: { enabled: false },
        webrtc: { enabled: false },
      },
      extra,
    ),
  });

  // Per-window facts recorded by the pipeline's listener (preallocated, reset per trial).
  const cap = 4_000_000;
  const latencies = new Float64Array(cap);
  let nLat = 0;
  let measureFromMs = Infinity;
  let measureToMs = Infinity;
  let windowsInWindow = 0;
  const firstWindowArrival = new Map<string, number>();
  const firstVerdict: number[] = [];
  const listener = {
    onWindow(s: WindowScore, _label: string, publishedMs: number) {
      if (s.seq === 0) firstWindowArrival.set(s.stream.streamId, s.arrivalMs);
      if (s.readyMs >= measureFromMs && s.readyMs < measureToMs) {
        windowsInWindow++;
        if (nLat < cap) latencies[nLat++] = publishedMs - s.readyMs;
      }
    },
    onVerdict(stream: { streamId: string }, _label: string, previous: string) {
      if (previous !== 'listening') return;
      const a = firstWindowArrival.get(stream.streamId);
      if (a !== undefined) firstVerdict.push(nowMs() - a);
    },
  };
  const server = await DevoxServer.start({
    config,
    log: createLogger(config.log.level),
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    listener,
  });

  const header =
    `devox end-to-end bench: PCMU streams judged by ${server.detector.cardFor('narrowband').name} ${server.detector.cardFor('narrowband').version} ` +
    `(models: ${server.detector.models.map((m) => `${m.band} ${m.card.name} ${m.card.version}`).join(', ')}), ` +
    `EP ${server.detector.executionProvider}, events → ${useNats ? 'NATS JetStream (real nats-server)' : 'stdout (discarded)'}, ` +
    `maxBatch ${config.detect.maxBatchSize}, maxWait ${config.detect.maxBatchWaitMs} ms, intraOpThreads ${config.detect.intraOpThreads}, hop ${config.window.hopMs} ms, ` +
    `${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(1)).join('/')}, files ${files.length}`;
  console.log(header);

  let trialNo = 0;
  const trial = async (n: number): Promise<TrialResult> => {
    trialNo++;
    nLat = 0;
    windowsInWindow = 0;
    firstWindowArrival.clear();
    firstVerdict.length = 0;
    const rssBefore = process.memoryUsage().rss;
    const opened: OpenedStream[] = [];
    let refused = 0;
    for (let i = 0; i < n; i++) {
      try {
        opened.push(await server.openStream({ callId: `bench-${trialNo}-${i}`, leg: 'caller', codec: 'PCMU' }));
      } catch (err) {
        if (!(err instanceof StreamCapacityError)) throw err;
        refused++; // over media.maxStreams (--set media.maxStreams=N): offered but never admitted
      }
    }
    const admitted = opened.length;
    const shedBefore = server.pipeline.stats.shed;
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'bench/rtp-load-sender.ts')], {
      cwd: projectRoot,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.stdin.end(
      JSON.stringify({
        address: '127.0.0.1',
        targets: opened.map((o) => ({ port: o.port, payloadType: o.payloadType })),
        files,
        codec: 'PCMU',
        durationSec: warmupSec + durationSec + 1.5,
        spreadMs: HOP_MS,
      }) + '\n',
    );
    // Sender start-up (tsx, file encoding) then warm-up; measure a fixed wall-clock window.
    await new Promise((r) => setTimeout(r, 1500 + warmupSec * 1000));
    const h0 = await histogramDelta(server);
    const sp0 = server.speaker ? { ...server.speaker.scorer.stats } : null;
    const cpu0 = process.cpuUsage();
    const t0 = nowMs();
    measureFromMs = t0;
    measureToMs = t0 + durationSec * 1000;
    let rssPeak = 0;
    const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 250);
    await new Promise((r) => setTimeout(r, durationSec * 1000));
    const cpu1 = process.cpuUsage(cpu0);
    const wallMs = nowMs() - t0;
    const sp1 = server.speaker ? { ...server.speaker.scorer.stats } : null;
    clearInterval(rssTimer);
    const h1 = await histogramDelta(server);
    const code = await exited;
    if (code !== 0) throw new Error(`sender exited with ${code}`);
    // Windows ready inside the measurement window may still be in flight: let them land.
    await new Promise((r) => setTimeout(r, 500));
    const sender = JSON.parse(out.trim().split('\n').at(-1)!) as { sent: number; latenessMs: { p99: number; max: number }; cpuSec: number };
    for (const o of opened) server.releaseStream(o.streamId);
    const deadline = Date.now() + 20_000;
    while (server.pipeline.stats.streams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const shed = server.pipeline.stats.shed - shedBefore;
    const lat = latencies.subarray(0, nLat).sort();
    const fv = Float64Array.from(firstVerdict).sort();
    const batches = h1.count - h0.count;
    const windowsPerSec = windowsInWindow / (durationSec);
    const expected = (admitted * 1000) / HOP_MS;
    const p99 = quantile(lat, 0.99);
    const reasons: string[] = [];
    if (shed > 0) reasons.push(`${shed} windows shed`);
    if (windowsPerSec < 0.98 * expected) reasons.push(`scored ${windowsPerSec.toFixed(0)}/s < 98% of ${expected}/s`);
    if (!(p99 < HOP_MS)) reasons.push(`p99 ${p99.toFixed(1)} ms ≥ one hop`);
    if (sender.latenessMs.p99 > 20) reasons.push(`sender fell behind (p99 late ${sender.latenessMs.p99.toFixed(1)} ms)`);
    const speaker =
      sp0 && sp1
        ? {
            windowsPerSec: (sp1.embedded - sp0.embedded) / ((wallMs / 1000)),
            shed: sp1.shed - sp0.shed,
            msPerWindow: sp1.embedded > sp0.embedded ? (sp1.inferenceMs - sp0.inferenceMs) / (sp1.embedded - sp0.embedded) : Number.NaN,
            meanBatch: sp1.batches > sp0.batches ? (sp1.embedded - sp0.embedded) / (sp1.batches - sp0.batches) : 0,
          }
        : undefined;
    if (speaker && speaker.shed > 0) reasons.push(`${speaker.shed} speaker windows shed`);
    return {
      streams: admitted,
      offered: n,
      refused,
      seconds: durationSec,
      windowsPerSec,
      expectedWindowsPerSec: expected,
      shed,
      latencyMs: { p50: quantile(lat, 0.5), p99, max: lat.length ? lat[lat.length - 1]! : Number.NaN },
      batch: { meanSize: batches > 0 ? (h1.sizeSum - h0.sizeSum) / batches : 0, meanMs: batches > 0 ? ((h1.durSum - h0.durSum) * 1000) / batches : 0, batches },
      cpuPercent: ((cpu1.user + cpu1.system) / 1000 / wallMs) * 100,
      rssMiB: rssPeak / 2 ** 20,
      rssMiBPerStream: (rssPeak - rssBefore) / 2 ** 20 / Math.max(1, admitted),
      firstVerdictMs: { p50: quantile(fv, 0.5), p90: quantile(fv, 0.9), max: fv.length ? fv[fv.length - 1]! : Number.NaN, streams: fv.length },
      sender: { p99LateMs: sender.latenessMs.p99, maxLateMs: sender.latenessMs.max, cpuSec: sender.cpuSec, sent: sender.sent },
      ...(speaker ? { speaker } : {}),
      realtime: reasons.length === 0,
      why: reasons.join('; ') || 'ok',
    };
  };

  const print = (r: TrialResult): void => {
    console.log(
      `N=${String(r.streams).padStart(4)}${r.refused > 0 ? ` (of ${r.offered} offered, ${r.refused} refused at media.maxStreams)` : ''}  windows/s ${r.windowsPerSec.toFixed(0).padStart(5)}/${r.expectedWindowsPerSec}  ` +
        `latency p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(2)} ms max ${r.latencyMs.max.toFixed(1)} ms  ` +
        `batch ${r.batch.meanSize.toFixed(1)} win / ${r.batch.meanMs.toFixed(2)} ms  CPU ${r.cpuPercent.toFixed(0)}%  ` +
        `RSS ${r.rssMiB.toFixed(0)} MiB (${(r.rssMiBPerStream * 1024).toFixed(0)} KiB/stream)  ` +
        `first verdict p50 ${r.firstVerdictMs.p50.toFixed(0)} p90 ${r.firstVerdictMs.p90.toFixed(0)} ms after the first 1 s of speech  ` +
        `sender p99 late ${r.sender.p99LateMs.toFixed(1)} ms  ` +
        (r.speaker ? `speaker ${r.speaker.windowsPerSec.toFixed(0)} win/s (${r.speaker.msPerWindow.toFixed(2)} ms/win, batch ${r.speaker.meanBatch.toFixed(1)}, shed ${r.speaker.shed})  ` : '') +
        `→ ${r.realtime ? 'REAL-TIME' : 'NOT real-time: ' + r.why}`,
    );
    console.log(JSON.stringify({ bench: 'e2e', ...r }));
  };

  const results: TrialResult[] = [];
  try {
    for (const n of v.streams!.split(',').map(Number)) {
      const r = await trial(n);
      print(r);
      results.push(r);
    }
    if (v.search && !v['no-search']) {
      const maxN = Number(v['max-streams']);
      let lo = 0;
      let hi = 0;
      for (const r of results) {
        if (r.realtime) lo = Math.max(lo, r.streams);
        else hi = hi === 0 ? r.streams : Math.min(hi, r.streams);
      }
      let n = lo > 0 ? lo * 2 : 50;
      while (hi === 0 && n <= maxN) {
        const r = await trial(n);
        print(r);
        results.push(r);
        if (r.realtime) {
          lo = n;
          n *= 2;
        } else hi = n;
      }
      if (hi === 0) hi = maxN;
      while (hi - lo > Math.max(25, lo * 0.1)) {
        const mid = Math.round((lo + hi) / 2 / 25) * 25;
        if (mid <= lo || mid >= hi) break;
        const r = await trial(mid);
        print(r);
        results.push(r);
        if (r.realtime) lo = mid;
        else hi = mid;
      }
      console.log(`largest N real-time: ${lo} streams (${hi >= maxN && lo === maxN ? 'search cap' : `not at ${hi}`})`);
      console.log(JSON.stringify({ bench: 'e2e-search', largestRealtimeStreams: lo, firstFailing: hi }));
    }
  } finally {
    await server.close();
    await nats?.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
