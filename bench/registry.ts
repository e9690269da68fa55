/**
 * npm run bench:registry — the model lifecycle's costs, on a real nats-server:
 *
 * 1. Hot swap under load: N real-time PCMU streams (default 400) from the separate sender
 *    process (bench/rtp-load-sender.ts) into a DevoxServer with NATS; halfway through, another
 *    narrowband version is promoted in the registry (KV write). Prints promote → serving time and,
 *    per stream, windows scored, missing (a seq never scored), scored twice and shed.
 * 2. Features export: the same load with features.export on vs off (CPU per window on the
 *    server), the exporter's own cost per window (encode + publish, main thread), bytes per
 *    record and per call-minute (payload and JetStream storage).
 *
 *   npm run bench:registry
 *   npm run bench:registry -- --streams 100 --duration 12
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig, projectRoot, type Config } from '../src/config.js';
import type { WindowScore } from '../src/detect/types.js';
import { createLogger } from '../src/logger.js';
import { ModelRegistry } from '../src/registry/registry.js';
import { DevoxServer } from '../src/server.js';
import { FeatureExporter } from '../src/verdicts/feature-exporter.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { benchArgs } from './args.js';

const USAGE = `usage: npm run bench:registry -- [options]

  --streams N      concurrent real-time PCMU streams (default 400)
  --duration S     seconds of load per trial (default 16; the swap at half)
  -h, --help`;

const NB = resolve(projectRoot, 'models/devox-phone-nb');
const ALT = resolve(projectRoot, 'test/fixtures/cv-narrowband-f0'); // fold 0 of the 2.1 recipe: another graph's weights

function versionCopy(src: string, version: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'devox-bench-model-'));
  cpSync(src, dir, { recursive: true });
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8'));
  writeFileSync(join(dir, 'card.json'), JSON.stringify({ ...card, version }));
  return dir;
}

interface Trial {
  streams: number;
  windows: number;
  missing: number;
  twice: number;
  shed: number;
  swapMs: number | null;
  cpuSec: number;
  featureRecords: number;
  featureBytes: number;
  storedBytes: number;
  byVersion: Record<string, number>;
}

async function trial(o: { natsUrl: string; streams: number; durationSec: number; features: boolean; swap: boolean; registry: ModelRegistry; files: string[]; cache: string; nb: string }): Promise<Trial> {
  const config: Readonly<Config> = loadConfig({
    env: {},
    overrides: {
      log: { level: process.env.DEVOX_BENCH_LOG ?? 'error' },
      http: { port: 0 },
      detect: { narrowbandModelDir: o.nb },
      media: { streamTimeoutMs: 5000, maxStreams: o.streams + 10 },
      nats: { servers: [o.natsUrl], maxBufferedEvents: 200000 },
      registry: { cacheDir: o.cache, pollSec: 1 },
      features: { export: o.features, stream: `BENCH_FEATURES_${Date.now()}`, subjectPrefix: `bench-features-${Date.now()}` },
      websocket: { enabled: false },
      webrtc: { enabled: false },
    },
  });
  const seqs = new Map<string, number[]>();
  const byVersion: Record<string, number> = {};
  const listener = {
    onWindow(s: WindowScore) {
      let l = seqs.get(s.stream.streamId);
      if (!l) seqs.set(s.stream.streamId, (l = []));
      l.push(s.seq);
      byVersion[s.modelVersion] = (byVersion[s.modelVersion] ?? 0) + 1;
    },
  };
  const server = await DevoxServer.start({ config, log: createLogger(config.log.level), stdout: new Writable({ write: (_c, _e, cb) => cb() }), listener });
  try {
    const opened = [];
    for (let i = 0; i < o.streams; i++) opened.push(await server.openStream({ callId: `bench-reg-${i}`, leg: 'caller', codec: 'PCMU' }));
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'bench/rtp-load-sender.ts')], { cwd: projectRoot, stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.stdout.resume();
    child.stdin.end(JSON.stringify({ address: '127.0.0.1', targets: opened.map((s) => ({ port: s.port, payloadType: s.payloadType })), files: o.files, codec: 'PCMU', durationSec: o.durationSec, spreadMs: 250 }) + '\n');
    const cpu0 = process.cpuUsage();
    let swapMs: number | null = null;
    if (o.swap) {
      await new Promise((r) => setTimeout(r, 1500 + (o.durationSec * 1000) / 2));
      const target = server.detector.cardFor('narrowband').version === 'bench-a' ? 'bench-b' : 'bench-a';
      const t0 = performance.now();
      await o.registry.promote('devox-phone-nb', target, 'narrowband', 'bench');
      while (server.detector.cardFor('narrowband').version !== target && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 5));
      swapMs = performance.now() - t0;
    }
    await exited;
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of opened) server.releaseStream(s.streamId);
    const deadline = Date.now() + 30_000;
    while (server.pipeline.stats.streams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    let windows = 0;
    let missing = 0;
    let twice = 0;
    for (const l of seqs.values()) {
      windows += l.length;
      const max = Math.max(...l);
      const seen = new Set(l);
      twice += l.length - seen.size;
      missing += max + 1 - seen.size;
    }
    const m = server.metrics.registry;
    const metric = async (name: string) => ((await m.getSingleMetric(name)?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
    let storedBytes = 0;
    if (o.features) {
      const nc = await connect({ servers: o.natsUrl });
      storedBytes = (await (await jetstreamManager(nc)).streams.info(config.features.stream)).state.bytes;
      await nc.close();
    }
    return {
      streams: o.streams,
      windows,
      missing,
      twice,
      shed: server.pipeline.stats.shed,
      swapMs,
      cpuSec: (cpu.user + cpu.system) / 1e6,
      featureRecords: await metric('devox_features_exported_total'),
      featureBytes: await metric('devox_features_bytes_total'),
      storedBytes,
      byVersion,
    };
  } finally {
    await server.close();
  }
}

/** The exporter alone: encode + core publish per window, main thread, on a real connection. */
async function exporterCost(natsUrl: string): Promise<{ usPerWindow: number; bytesPerRecord: number }> {
  const nc = await connect({ servers: natsUrl });
  const config = loadConfig({ env: {}, overrides: { features: { export: true } } });
  let bytes = 0;
  const ex = new FeatureExporter(nc, config, { exported: (b) => (bytes += b) });
  const stream = { streamId: '3b241101-e2bb-4255-8caf-4136c566a962', callId: 'bench-call-0001', leg: 'caller', transport: 'rtp' as const };
  const emb = new Float32Array(64).map((_, i) => Math.sin(i));
  const s: WindowScore = { stream, seq: 0, score: 0.3, speechRatio: 0.9, rmsDbfs: -20, lostRatio: 0, mediaStartSec: 0, mediaEndSec: 1, arrivalMs: 0, readyMs: 0, scoredMs: 0, batchSize: 32, modelVersion: '2.1.0+nb', embedding: emb };
  const n = 100_000;
  for (let i = 0; i < 5000; i++) ex.onScore({ ...s, seq: i });
  bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    s.seq = i;
    ex.onScore(s);
  }
  const us = ((performance.now() - t0) * 1000) / n;
  await nc.flush();
  await nc.close();
  return { usPerWindow: us, bytesPerRecord: bytes / n };
}

async function main(): Promise<number> {
  const v = benchArgs(USAGE, { streams: { type: 'string', default: '400' }, duration: { type: 'string', default: '16' } });
  const streams = Number(v.streams);
  const durationSec = Number(v.duration);
  const files = [resolve(projectRoot, 'samples/genuine-librispeech.flac'), resolve(projectRoot, 'samples/synthetic-ljspeech-espnet.flac')];
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  const work = mkdtempSync(join(tmpdir(), 'devox-bench-registry-'));
  const a = versionCopy(existsSync(join(ALT, 'model.onnx')) ? ALT : NB, 'bench-a');
  const b = versionCopy(NB, 'bench-b');
  const onDisk = versionCopy(NB, 'bench-disk');
  try {
    const registry = await ModelRegistry.open(nc, { objectBucket: 'devox-models', kvBucket: 'devox-serving', subjectPrefix: 'devox', log: createLogger('silent') });
    await registry.publish(a, { windowSec: 1, by: 'bench' });
    await registry.publish(b, { windowSec: 1, by: 'bench' });
    await registry.promote('devox-phone-nb', 'bench-a', 'narrowband', 'bench');
    console.log(`devox registry bench: ${streams} real-time PCMU streams, ${durationSec} s per trial, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(1)).join('/')}`);
    const common = { natsUrl: nats.url, streams, durationSec, registry, files, cache: join(work, 'cache'), nb: onDisk };
    const swap = await trial({ ...common, features: false, swap: true });
    console.log(`hot swap at ${streams} streams: promote → serving ${swap.swapMs?.toFixed(0)} ms; windows ${swap.windows} (${JSON.stringify(swap.byVersion)}), missing ${swap.missing}, scored twice ${swap.twice}, shed ${swap.shed}`);
    console.log(JSON.stringify({ bench: 'registry-swap', ...swap }));
    const off = await trial({ ...common, features: false, swap: false });
    const on = await trial({ ...common, features: true, swap: false });
    const cost = await exporterCost(nats.url);
    const perWindowUs = ((on.cpuSec - off.cpuSec) / Math.max(1, on.featureRecords)) * 1e6;
    const speechShare = on.featureRecords / Math.max(1, on.windows);
    // A call-minute: 240 windows (hop 250 ms); only speech windows are exported.
    const perMinute = (bytes: number) => (bytes / Math.max(1, on.featureRecords)) * 240 * speechShare;
    console.log(
      `features export at ${streams} streams: ${on.featureRecords} of ${on.windows} windows exported (speech ${(100 * speechShare).toFixed(0)} %); ` +
        `server CPU ${off.cpuSec.toFixed(1)} s off → ${on.cpuSec.toFixed(1)} s on (${perWindowUs.toFixed(0)} µs per exported window, all threads, embedding fetch included); ` +
        `exporter alone ${cost.usPerWindow.toFixed(1)} µs per window; ${cost.bytesPerRecord.toFixed(0)} B per record; ` +
        `per call-minute ${(perMinute(on.featureBytes) / 1024).toFixed(1)} KiB payload, ${(perMinute(on.storedBytes) / 1024).toFixed(1)} KiB stored in JetStream; shed off/on ${off.shed}/${on.shed}`,
    );
    console.log(JSON.stringify({ bench: 'registry-features', off, on, exporter: cost, perCallMinuteBytes: { payload: perMinute(on.featureBytes), stored: perMinute(on.storedBytes) }, speechShare }));
  } finally {
    await nc.close();
    await nats.close();
    for (const d of [work, a, b, onDisk]) rmSync(d, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench:registry: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
