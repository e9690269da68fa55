/**
 * Detector inference benchmark: windows/s at batch 1 / 8 / 16 / 32 / 64 with the shipped model
 * (models/devox-phone) if present, else the tiny test model.
 *
 *   npm run bench:detect [-- --model DIR --seconds S --batches 1,8,16,32,64 --streams 100,200,400]
 *
 * For each batch size it measures, on real speech windows:
 *  - engine:   back-to-back batches on the inference worker (the model's own throughput);
 *  - detector: the full Detector (copy into the batch, micro-batcher, worker round trip, scores)
 *              fed as fast as it takes windows; main-thread busy µs per window (event-loop
 *              utilisation: the feeding loop + copy + scores, inference excluded) and event-loop
 *              delay p99/max (includes this bench's own bursts of B synchronous windows);
 *  - in-thread: for contrast, session.run() on the main thread, and the event-loop stall it causes.
 * Then N streams at real-time pace (a window per stream every hop) through a Detector with the
 * default detect config: window ready → scored latency p50/p99/max, shed windows, batch sizes.
 * Prints figures; asserts nothing. Figures on a shared machine vary with its load.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { loadConfig, projectRoot } from '../src/config.js';
import { Detector } from '../src/detect/detector.js';
import { InferenceEngine } from '../src/detect/inference-engine.js';
import { loadModel } from '../src/detect/model-registry.js';
import { readAudioFile } from '../src/media/audio-file.js';
import { RingWindowView } from '../src/media/window-view.js';
import { createLogger } from '../src/logger.js';
import { benchArgs } from './args.js';

const USAGE = `usage: npm run bench:detect -- [options]

  --model DIR              model directory (default models/devox-phone, else the tiny test model)
  --seconds S              seconds per measurement (default 3)
  --batches 1,8,16,32,64   batch sizes to measure
  --streams 100,200,400    real-time stream counts through a Detector
  -h, --help               this text

DEVOX_* environment overrides apply (e.g. DEVOX_MAX_BATCH_SIZE=16).`;

const values = benchArgs(USAGE, { model: { type: 'string' }, seconds: { type: 'string' }, batches: { type: 'string' }, streams: { type: 'string' } });
const shipped = resolve(projectRoot, 'models/devox-phone');
const modelDir = values.model ?? (existsSync(join(shipped, 'card.json')) ? shipped : resolve(projectRoot, 'test/fixtures/tiny-model'));
const seconds = Number(values.seconds ?? '3');
const batchSizes = (values.batches ?? '1,8,16,32,64').split(',').map(Number);
const streamCounts = (values.streams ?? '100,200,400').split(',').map(Number);
// DEVOX_* overrides apply (e.g. DEVOX_MAX_BATCH_SIZE=16 npm run bench:detect).
const config = loadConfig();
const log = createLogger('warn');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f1 = (x: number): string => x.toFixed(1);

async function main(): Promise<void> {
  const card = (await loadModel(modelDir)).card;
  const len = card.input.shape[1];
  const { samples } = await readAudioFile(resolve(projectRoot, '../shared/data/speech/audio/resemblyzer/genuine/bonafide/libri-3005_5fa74c6f91.flac'));
  // Real speech windows, hop 250 ms, cycled.
  const nWin = Math.floor((samples.length - len) / (len / 4)) + 1;
  const windowAt = (i: number): Float32Array => {
    const start = (i % nWin) * (len / 4);
    return samples.subarray(start, start + len);
  };

  process.stdout.write(
    `Detector inference bench — model ${card.name} ${card.version} (${modelDir.replace(projectRoot + '/', '')}), ` +
      `cpu ${cpus()[0]?.model ?? '?'} × ${cpus().length} (load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}), ` +
      `intraOpThreads ${config.detect.intraOpThreads}, ${seconds}s per point\n\n`,
  );
  process.stdout.write('batch | engine win/s | batch ms p50 / p99 | detector win/s | main-thread µs/window | loop delay p99 / max ms | in-thread win/s | in-thread stall ms p50\n');
  process.stdout.write('----- | ------------ | ------------------ | -------------- | --------------------- | ----------------------- | --------------- | ---------------------\n');

  for (const B of batchSizes) {
    // 1. Engine: back-to-back batches on the worker.
    const engine = await InferenceEngine.start(modelDir, {
      executionProviders: config.detect.executionProviders,
      intraOpThreads: config.detect.intraOpThreads,
      inferenceTimeoutMs: 60_000,
      log,
    });
    let buffer = new ArrayBuffer(B * len * 4);
    {
      const v = new Float32Array(buffer);
      for (let r = 0; r < B; r++) v.set(windowAt(r), r * len);
    }
    const batchMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await engine.run(buffer, B);
      if (!o.ok) throw o.error;
      buffer = o.buffer;
    }
    let done = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const o = await engine.run(buffer, B);
      if (!o.ok) throw o.error;
      buffer = o.buffer;
      batchMs.push(o.inferenceMs);
      done += B;
    }
    const engineRate = done / ((performance.now() - t0) / 1000);
    await engine.close();

    // 2. Detector: full path, fed as fast as it takes windows (maxBatchSize = B).
    let scored = 0;
    const detector = await Detector.create({
      detect: { ...config.detect, maxBatchSize: B, maxBatchWaitMs: 2, maxQueueDelayMs: 60_000 },
      modelDir,
      windowSec: config.window.lengthSec,
      log,
      sink: { onScore: () => void scored++ },
    });
    const ring = new Float32Array(len);
    const streams = Array.from({ length: Math.max(B, 8) }, (_, i) => ({
      view: new RingWindowView({ streamId: `s${i}`, callId: `c${i}`, leg: 'caller', transport: 'file' }, card.input.sampleRate, ring),
      seq: 0,
    }));
    const loop = monitorEventLoopDelay({ resolution: 1 });
    let pushed = 0;
    const t1 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    loop.enable();
    while (performance.now() - t1 < seconds * 1000) {
      if (!detector.hasRoom) {
        await detector.whenRoom();
        continue;
      }
      const s = streams[pushed % streams.length]!;
      ring.set(windowAt(pushed));
      s.view.seq = s.seq++;
      s.view.readyMs = performance.timeOrigin + performance.now();
      detector.onWindow(s.view);
      pushed++;
      if (pushed % B === 0) await new Promise((r) => setImmediate(r)); // let timers run, as a server would
    }
    await detector.flush();
    loop.disable();
    const elu = performance.eventLoopUtilization(elu0);
    const detectorRate = scored / ((performance.now() - t1) / 1000);
    // Main-thread busy time per window (feeding + copy into the batch + scores), inference excluded.
    const mainUsPerWindow = (elu.active * 1000) / Math.max(1, scored);
    await detector.close();

    // 3. In-thread contrast: session.run on the main thread blocks it for the whole batch.
    const m = await loadModel(modelDir, { intraOpThreads: config.detect.intraOpThreads });
    const x = new Float32Array(B * len);
    for (let r = 0; r < B; r++) x.set(windowAt(r), r * len);
    // The run is queued with setImmediate and then executes synchronously on this thread: its
    // duration is how long the thread (and every RTP socket on it) would stall per batch.
    const stalls: number[] = [];
    let n3 = 0;
    const t2 = performance.now();
    while (performance.now() - t2 < Math.min(seconds, 2) * 1000) {
      const a = performance.now();
      await m.session.run({ [card.input.name]: new ort.Tensor('float32', x, [B, len]) });
      stalls.push(performance.now() - a);
      n3 += B;
    }
    const inThreadRate = n3 / ((performance.now() - t2) / 1000);
    await m.release();

    process.stdout.write(
      `${String(B).padStart(5)} | ${f1(engineRate).padStart(12)} | ${(f1(pct(batchMs, 50)) + ' / ' + f1(pct(batchMs, 99))).padStart(18)} | ${f1(detectorRate).padStart(14)} | ${f1(mainUsPerWindow).padStart(21)} | ` +
        `${(f1(loop.percentile(99) / 1e6) + ' / ' + f1(loop.max / 1e6)).padStart(23)} | ${f1(inThreadRate).padStart(15)} | ${f1(pct(stalls, 50)).padStart(21)}\n`,
    );
  }
  process.stdout.write(
    `\nReal time = 4 windows/s per stream (hop ${config.window.hopMs} ms): streams sustainable ≈ detector win/s ÷ 4.\n`,
  );

  // 4. Real-time load: N streams, each cutting a window every hop (phases spread over the hop),
  //    default detect config; window ready → scored latency as the detector adds it.
  const hopMs = config.window.hopMs;
  process.stdout.write(
    `\nReal-time load, detect config (maxBatchSize ${config.detect.maxBatchSize}, maxQueuedBatches ${config.detect.maxQueuedBatches}, ` +
      `maxBatchWaitMs ${config.detect.maxBatchWaitMs}), ${seconds}s per point, load average ${loadavg()[0]!.toFixed(1)}\n\n` +
      'streams | windows/s | scored | shed | ready→scored ms p50 / p99 / max | batch size mean / max\n' +
      '------- | --------- | ------ | ---- | ------------------------------- | ---------------------\n',
  );
  for (const N of streamCounts) {
    const lat: number[] = [];
    const sizes: number[] = [];
    let shed = 0;
    const detector = await Detector.create({
      detect: config.detect,
      modelDir,
      windowSec: config.window.lengthSec,
      log,
      sink: { onScore: (s) => lat.push(s.scoredMs - s.readyMs), onShed: () => void shed++ },
      observer: { batch: (b) => void sizes.push(b.size) },
    });
    const ring = new Float32Array(len);
    const views = Array.from({ length: N }, (_, i) => new RingWindowView({ streamId: `s${i}`, callId: `c${i}`, leg: 'caller', transport: 'file' }, card.input.sampleRate, ring));
    const start = performance.now();
    let next = 0; // windows cut so far across all streams; stream i cuts at start + (k + i/N) * hop
    let pushed = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / hopMs) * N);
      for (; next < due; next++) {
        const v = views[next % N]!;
        ring.set(windowAt(next));
        v.seq = Math.floor(next / N);
        v.readyMs = performance.timeOrigin + performance.now();
        detector.onWindow(v);
        pushed++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await detector.flush();
    await detector.close();
    const mean = sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length);
    process.stdout.write(
      `${String(N).padStart(7)} | ${f1(pushed / seconds).padStart(9)} | ${String(lat.length).padStart(6)} | ${String(shed).padStart(4)} | ` +
        `${(f1(pct(lat, 50)) + ' / ' + f1(pct(lat, 99)) + ' / ' + f1(Math.max(...lat))).padStart(31)} | ${(f1(mean) + ' / ' + Math.max(...sizes)).padStart(21)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:detect: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
