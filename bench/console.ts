/**
 * Benchmark: the supervisor console with many live calls.
 *
 *   npm run bench:console -- [--calls 400] [--seconds 30] [--browsers 1]
 *
 * 1. A real DevoX server (shipped model, console on, no NATS) takes one real RTP call (the
 *    synthetic sample, real time) and the events its pipeline publishes are recorded.
 * 2. Those recorded events are replayed as `--calls` concurrent calls (own call/stream ids and
 *    per-stream seq, a window every 250 ms per call as live calls give, staggered starts) into
 *    the console's event tap, the same entry the publisher feeds in-process. Detection itself
 *    is not what is measured here (npm run bench: ~425 real-time streams on 2 cores).
 * 3. `--browsers` headless Chromium pages (playwright-core, /usr/bin/chromium) sign in and
 *    show the live table while it runs.
 *
 * Prints the server's push cost (CPU ms per second spent building and writing pushes, pushes a
 * second, bytes a second per browser), the cost of folding events into the call board, the
 * event-loop delay p99, and each browser's frame time: the console's render of a push (p50 /
 * p95 / p99 / max ms) and the interval between animation frames (p99, long frames > 50 ms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { loadConfig, projectRoot } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { readAudioFile } from '../src/media/audio-file.js';
import { sendAudio } from '../src/media/rtp-sender.js';
import { DevoxServer } from '../src/server.js';
import { hashPassword } from '../src/console/accounts.js';
import type { DevoxEvent } from '../src/verdicts/types.js';
import { benchArgs } from './args.js';

const USAGE = `
usage: npm run bench:console -- [--calls 400] [--seconds 30] [--browsers 1]

  --calls N      concurrent live calls replayed into the console (default 400)
  --seconds S    measuring time once every call is live (default 30)
  --browsers B   headless Chromium pages showing the console meanwhile (default 1; 0: none)
  --screenshot F save the first browser's view at the end of the measurement to F (PNG)
`;

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const SAMPLE = resolve(projectRoot, 'samples/synthetic-ljspeech-espnet.flac');
const HOP_MS = 250;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const v = benchArgs(USAGE, { calls: { type: 'string', default: '400' }, seconds: { type: 'string', default: '30' }, browsers: { type: 'string', default: '1' }, screenshot: { type: 'string' } });
  const calls = Number(v.calls);
  const seconds = Number(v.seconds);
  const browsers = Number(v.browsers);
  if (!(calls >= 1 && seconds >= 1 && browsers >= 0)) {
    process.stderr.write(`--calls, --seconds must be >= 1 and --browsers >= 0\n${USAGE}`);
    process.exit(2);
  }
  if (browsers > 0 && !CHROMIUM) {
    process.stderr.write('chromium not installed (/usr/bin/chromium): run with --browsers 0\n');
    process.exit(2);
  }
  const password = 'bench console password';
  const config = loadConfig({
    env: {},
    overrides: {
      log: { level: 'warn' },
      http: { host: '127.0.0.1', port: 0 },
      media: { maxStreams: Math.max(400, calls + 10) },
      nats: { stdoutWindowEvents: false },
      console: { operators: [{ name: 'bench', role: 'supervisor', passwordHash: await hashPassword(password) }], maxCalls: calls * 2 + 100 },
    },
  });
  const recorded: DevoxEvent[] = [];
  const server = await DevoxServer.start({
    config,
    log: createLogger('warn'),
    stdout: new (await import('node:stream')).Writable({ write: (_c, _e, cb) => cb() }),
  });
  const tap = server.console!;
  const board = tap.board;
  // 1. one real call, its events recorded as the tap sees them
  const original = tap.onEvent.bind(tap);
  tap.onEvent = (e: DevoxEvent) => {
    recorded.push(e);
    original(e);
  };
  const audio = await readAudioFile(SAMPLE);
  const s = await server.openStream({ callId: 'bench-recorded', codec: 'PCMU' });
  process.stdout.write(`recording one real call (${(audio.samples.length / audio.sampleRate).toFixed(1)} s of ${SAMPLE.split('/').pop()} over RTP)...\n`);
  await sendAudio(audio.samples, audio.sampleRate, { codec: s.codec, payloadType: s.payloadType, to: { address: s.address, port: s.port }, realtime: true });
  server.releaseStream(s.streamId);
  while (!recorded.some((e) => e.type === 'call.ended')) await new Promise((r) => setTimeout(r, 100));
  tap.onEvent = original;
  const windows = recorded.filter((e) => e.type === 'window.scored');
  const verdicts = recorded.filter((e) => e.type === 'verdict.changed');
  const started = recorded.find((e) => e.type === 'call.started')!;
  process.stdout.write(`recorded ${recorded.length} events (${windows.length} windows, ${verdicts.length} verdict changes)\n`);

  // 2. browsers
  const browser = browsers > 0 ? await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox'] }) : undefined;
  const pages = [];
  for (let i = 0; i < browsers; i++) {
    const page = await browser!.newPage({ viewport: { width: 1920, height: 1080 } });
    await page.goto(`${server.http.url}/console`);
    await page.fill('#login-name', 'bench');
    await page.fill('#login-password', password);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#app', { state: 'visible' });
    pages.push(page);
  }

  // 3. replay: `calls` live calls, a window every 250 ms each
  let applyMs = 0;
  let applied = 0;
  const feed = (e: DevoxEvent): void => {
    const t0 = performance.now();
    tap.onEvent(e);
    applyMs += performance.now() - t0;
    applied++;
  };
  const live = Array.from({ length: calls }, (_, i) => ({ callId: `bench-${String(i).padStart(4, '0')}`, streamId: `bench-stream-${i}`, seq: 0, w: 0 }));
  const rewrite = <E extends DevoxEvent>(e: E, c: (typeof live)[number]): E => ({ ...e, callId: c.callId, streamId: c.streamId, seq: c.seq++, wallTimeMs: Date.now(), identity: { from: `+4930${String(1000000 + Number(c.callId.slice(6)))}`, tenant: `tenant-${Number(c.callId.slice(6)) % 7}` } });
  for (const [i, c] of live.entries()) {
    setTimeout(() => feed(rewrite(started, c)), (i * HOP_MS) / calls);
  }
  await new Promise((r) => setTimeout(r, HOP_MS + 50));
  const timer = setInterval(() => {
    for (const c of live) {
      const w = windows[c.w % windows.length]!;
      c.w++;
      feed(rewrite(w, c));
      // the recorded verdict changes, once per lap, where they happened
      for (const vc of verdicts) if (vc.type === 'verdict.changed' && vc.windowSeq === w.windowSeq && c.w <= windows.length) feed(rewrite(vc, c));
    }
  }, HOP_MS);
  // warm up: every call on screen
  await new Promise((r) => setTimeout(r, 3000));
  for (const p of pages) {
    await p.waitForFunction((n) => document.querySelectorAll('#rows tr').length >= n, calls, { timeout: 60_000 });
    // A string, not a function: tsx's helpers (__name) do not exist in the page.
    await p.evaluate(`(() => {
      window.devoxConsole.frameMs.length = 0;
      window.__raf = [];
      let last = performance.now();
      const loop = (t) => { window.__raf.push(t - last); last = t; requestAnimationFrame(loop); };
      requestAnimationFrame(loop);
    })()`);
  }
  // measure
  const push0 = tap.push.stats;
  const apply0 = { ms: applyMs, n: applied };
  const cpu0 = process.cpuUsage();
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (Date.now() - t0) / 1000;
  h.disable();
  const cpu = process.cpuUsage(cpu0);
  const push1 = tap.push.stats;
  const frames = await Promise.all(
    pages.map((p) =>
      p.evaluate(() => ({
        render: (window as unknown as { devoxConsole: { frameMs: number[] } }).devoxConsole.frameMs.slice(),
        raf: (window as unknown as { __raf: number[] }).__raf.slice(1),
        rows: document.querySelectorAll('#rows tr').length,
      })),
    ),
  );
  if (v.screenshot && pages[0]) await pages[0].screenshot({ path: v.screenshot });
  clearInterval(timer);

  const pushCpuMsPerSec = (push1.pushMs - push0.pushMs) / elapsed;
  const out: string[] = [];
  out.push(`console bench: ${calls} live calls (a window every ${HOP_MS} ms each: ${Math.round((calls * 1000) / HOP_MS)} window events/s), ${browsers} browser(s), ${elapsed.toFixed(1)} s measured`);
  out.push(`  server push: ${((push1.pushes - push0.pushes) / elapsed).toFixed(2)} pushes/s (console.maxPushPerSec ${config.console.maxPushPerSec}), ${pushCpuMsPerSec.toFixed(1)} ms CPU/s (${(pushCpuMsPerSec / 10).toFixed(2)} % of a core), ${browsers > 0 ? ((push1.bytes - push0.bytes) / elapsed / browsers / 1024).toFixed(0) : 0} KiB/s per browser`);
  out.push(`  event folding: ${(((applyMs - apply0.ms) / Math.max(1, applied - apply0.n)) * 1000).toFixed(1)} µs per event, ${((applyMs - apply0.ms) / elapsed).toFixed(1)} ms CPU/s`);
  out.push(`  process: ${(((cpu.user + cpu.system) / 1000 / elapsed) / 10).toFixed(1)} % of a core in all (replay included), event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
  for (const [i, f] of frames.entries()) {
    const r = f.render.sort((a, b) => a - b);
    const raf = f.raf.sort((a, b) => a - b);
    out.push(`  browser ${i + 1}: ${f.rows} rows; render of a push p50 ${pct(r, 50).toFixed(1)} / p95 ${pct(r, 95).toFixed(1)} / p99 ${pct(r, 99).toFixed(1)} / max ${(r.at(-1) ?? 0).toFixed(1)} ms over ${r.length} renders; frame interval p50 ${pct(raf, 50).toFixed(1)} / p99 ${pct(raf, 99).toFixed(1)} ms, ${raf.filter((x) => x > 50).length} of ${raf.length} frames over 50 ms`);
  }
  out.push(`  board: ${board.size} calls held, ${board.liveCount} live`);
  process.stdout.write(out.join('\n') + '\n');
  await browser?.close();
  await server.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:console failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
