/**
 * SIPREC bench through a REAL drachtio-server: sipp (test/fixtures/sipp/siprec-uac.xml, two PCMU
 * streams per call) is the SBC; DevoX runs in this process (DevoxServer: real media
 * sessions, model, verdict pipeline; events to a discarded stdout) with the SIP app.
 *
 *  1. Setup rate: for each --rates R, sipp places --calls calls at R calls/s (OPTIONS,
 *     INVITE, ACK, BYE, no hold). Prints calls accepted per second of wall time, failures,
 *     503s, the max port occupancy, and whether every port came back.
 *  2. Concurrency: for each --concurrent K, sipp opens K calls and holds them; while all K
 *     are up, a separate process (bench/rtp-load-sender.ts) streams real speech PCMU to all
 *     2K answered ports. Over --hold seconds (after sender start-up and the first 1-s window)
 *     it prints whether all 2K legs were allocated, windows cut vs expected (4/s per leg),
 *     windows scored and shed, packets lost, the sender's lateness, and ports free after BYE.
 *
 * Refuses to run without drachtio-server (DRACHTIO_BIN or `drachtio` on PATH).
 *
 *   DRACHTIO_BIN=/usr/local/bin/drachtio npm run bench:siprec -- --rates 10,25,50 --concurrent 25,50,100
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { resolve } from 'node:path';
import { loadConfig, projectRoot } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { DevoxServer } from '../src/server.js';
import type { SipApp } from '../src/signaling/sip/sip-app.js';
import { freePort } from '../test/helpers/nats-server.js';
import { DRACHTIO_SKIP_REASON, DrachtioServer, findDrachtio } from '../test/helpers/drachtio-server.js';
import { benchArgs } from './args.js';

const SCENARIO = resolve(projectRoot, 'test/fixtures/sipp/siprec-uac.xml');
const SPEECH = resolve(projectRoot, '../shared/data/speech/audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac');

const USAGE = `usage: npm run bench:siprec -- [options]   (needs drachtio-server: DRACHTIO_BIN or drachtio on PATH, and sipp)

  --rates 10,25,50,100     call setup rates (calls/s) to measure
  --calls N                calls placed per rate (default 200)
  --concurrent 25,50,100   concurrent calls held while real speech streams to every leg
  --hold S                 seconds measured while the calls are held (default 10)
  --model DIR              model directory (default: the shipped models)
  -h, --help               this text`;

const args = benchArgs(USAGE, {
  rates: { type: 'string', default: '10,25,50,100' },
  calls: { type: 'string', default: '200' },
  concurrent: { type: 'string', default: '25,50,100' },
  hold: { type: 'string', default: '10' },
  model: { type: 'string' },
});

function list(s: string): number[] {
  return s.split(',').map((x) => Number(x.trim())).filter((n) => Number.isFinite(n) && n > 0);
}

class Discard extends Writable {
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
}

function runSipp(sipPort: number, sipArgs: string[]): Promise<{ code: number | null; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolveRun, reject) => {
    void freePort().then((p) => {
      const sipp = spawn('sipp', [`127.0.0.1:${sipPort}`, '-sf', SCENARIO, '-i', '127.0.0.1', '-p', String(p),
        '-nostdin', '-timeout', '300s', ...sipArgs], { stdio: 'ignore' });
      sipp.once('error', reject);
      sipp.once('exit', (code) => resolveRun({ code, ms: performance.now() - t0 }));
    });
  });
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

async function main(): Promise<number> {
  const bin = findDrachtio();
  if (bin === undefined) {
    process.stderr.write(`bench/siprec: refusing to run: ${DRACHTIO_SKIP_REASON}\n`);
    return 2;
  }
  // The shipped model once it has landed (card.json next to model.onnx), else the tiny real fixture model.
  const shipped = resolve(projectRoot, 'models/devox-phone');
  const modelDir = args.model ? resolve(args.model)
    : existsSync(resolve(shipped, 'card.json')) ? shipped : resolve(projectRoot, 'test/fixtures/tiny-model');
  const drachtio = await DrachtioServer.start(bin, await freePort(), await freePort());
  const maxConcurrent = Math.max(...list(args.concurrent), 1);
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: process.env.DEVOX_BENCH_LOG ?? 'warn' },
      http: { host: '127.0.0.1', port: 0 },
      detect: { modelDir },
      media: { rtpPortMin: 30000, rtpPortMax: 30000 + 8 * maxConcurrent + 99, streamTimeoutMs: 30_000,
        maxStreams: 4 * maxConcurrent + 100 },
      sip: { enabled: true, drachtioPort: drachtio.adminPort, drachtioSecret: drachtio.secret,
        maxConcurrentCalls: 2 * maxConcurrent + 50 },
    },
  });
  const log = createLogger(config.log.level);
  let started: DevoxServer | undefined;
  try {
    const server = await DevoxServer.start({ config, log, stdout: new Discard() });
    started = server;
    // src/server.ts starts the SIP app because sip.enabled is true.
    const sipRef: SipApp = server.sip!;
    await sipRef.waitReady(15_000);
    console.log(`SIPREC bench: drachtio-server ${bin}, model ${server.detector.card.name} ${server.detector.card.version} ` +
      `(${modelDir.replace(projectRoot + '/', '')}), EP ${server.detector.executionProvider}, events → stdout (discarded)`);

    console.log('\n## SIPREC call setup rate (2 streams per call, OPTIONS+INVITE+ACK+BYE)\n');
    console.log('| offered calls/s | calls | accepted | accepted calls/s (wall) | 503 | sipp exit | max legs up | ports free after |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const rate of list(args.rates)) {
      const calls = Number(args.calls);
      const before = { ...sipRef.counters };
      let maxLegs = 0;
      const sampler = setInterval(() => (maxLegs = Math.max(maxLegs, server.media.size)), 5);
      const run = await runSipp(drachtio.sipPort, ['-r', String(rate), '-m', String(calls), '-d', '0']);
      clearInterval(sampler);
      const free = await waitUntil(() => server.media.size === 0, 5_000);
      const accepted = sipRef.counters.accepted - before.accepted;
      const busy = sipRef.counters.rejected_over_capacity - before.rejected_over_capacity +
        sipRef.counters.rejected_media_unavailable - before.rejected_media_unavailable;
      console.log(`| ${rate} | ${calls} | ${accepted} | ${(accepted / (run.ms / 1000)).toFixed(1)} | ${busy} | ${run.code} | ${maxLegs} | ${free ? 'yes' : `no (${server.media.size})`} |`);
    }

    const holdSec = Number(args.hold);
    // As bench/e2e.ts: the sender (a tsx process) needs ~1.5 s to start and every leg needs 1 s
    // of audio before its first window, so windows are counted over a fixed `holdSec` wall-clock
    // window that opens STARTUP_SEC after the sender is spawned.
    const STARTUP_SEC = 2.5;
    console.log(`\n## Concurrent SIPREC calls (2 legs each, real speech RTP; windows counted over ${holdSec} s)\n`);
    console.log('| calls | legs up | windows/s cut (expected) | scored/s | shed | packets lost | sender late p99 ms | 503 | ports free after BYE |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const k of list(args.concurrent)) {
      const before = { ...sipRef.counters };
      const setupRate = 50;
      const pauseMs = Math.ceil((k / setupRate) * 1000) + (holdSec + STARTUP_SEC + 5) * 1000;
      const sipp = runSipp(drachtio.sipPort, ['-r', String(setupRate), '-m', String(k), '-l', String(k),
        '-d', String(pauseMs)]);
      const allUp = await waitUntil(() => server.media.size >= 2 * k, Math.ceil((k / setupRate) * 1000) + 10_000);
      const sessions = [...server.media.streams()];
      const cut = (): number => sessions.reduce((a, s) => a + s.counters.windowsEmitted, 0);
      const sender = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'bench/rtp-load-sender.ts')], {
        cwd: projectRoot, stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      sender.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const senderExit = new Promise((r) => sender.once('exit', r));
      sender.stdin.end(JSON.stringify({ address: '127.0.0.1', targets: sessions.map((s) => ({ port: s.port, payloadType: 0 })),
        files: [SPEECH], codec: 'PCMU', durationSec: STARTUP_SEC + holdSec + 0.5, spreadMs: 250 }) + '\n');
      await new Promise((r) => setTimeout(r, STARTUP_SEC * 1000));
      const w0 = cut();
      const p0 = server.pipeline.stats;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, holdSec * 1000));
      const sec = (performance.now() - t0) / 1000;
      const windows = cut() - w0;
      const p1 = server.pipeline.stats;
      await senderExit;
      const sent = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { latenessMs?: { p99: number } };
      const lost = sessions.reduce((a, s) => a + s.counters.packetsLost, 0);
      await sipp;
      const free = await waitUntil(() => server.media.size === 0, 10_000);
      const busy = sipRef.counters.rejected_over_capacity - before.rejected_over_capacity +
        sipRef.counters.rejected_media_unavailable - before.rejected_media_unavailable;
      console.log(`| ${k} | ${allUp ? 2 * k : sessions.length} | ${(windows / sec).toFixed(0)} (${4 * sessions.length}) | ` +
        `${((p1.scored - p0.scored) / sec).toFixed(0)} | ${p1.shed - p0.shed} | ${lost} | ${sent.latenessMs?.p99.toFixed(1) ?? '?'} | ` +
        `${busy} | ${free ? 'yes' : `no (${server.media.size})`} |`);
    }
    return 0;
  } finally {
    await started?.close();
    await drachtio.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
