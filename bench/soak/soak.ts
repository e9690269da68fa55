/**
 * npm run soak — DevoX under a long mixed load, with faults, judged against its reliability
 * targets (issue 14; docs/reliability.md). See options.ts for the options.
 *
 *   nats-server (JetStream, real) ◀── events ── devox serve (a child process, real model)
 *                                                  ▲ RTP over UDP      ▲ Twilio WebSocket
 *                                  rtp-calls.ts (child) ──┘           └── ws-calls.ts (child)
 *
 * The soak keeps `--streams` calls live (call-driver.ts: long calls looping speech, ending and
 * starting again), samples every `--sample-s` (the server's /metrics, the JetStream stream's
 * message count, the frames each call sent), stops nats-server for `--nats-outage-s` mid-run and
 * (with WebRTC) SIGKILLs a mediasoup worker, then ends every call, waits until everything has
 * settled and judges (verdict.ts). Exit 0: every target held; 1: one did not; 2: bad options.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig, mergeConfig, projectRoot } from '../../src/config.js';
import { freePort, NatsServer } from '../../test/helpers/nats-server.js';
import { CallDriver } from './call-driver.js';
import { awaitRespawn, killWorker, natsOutage, workerKillUnavailable, type FaultRecord } from './faults.js';
import { JetStreamCounter } from './jetstream-count.js';
import { LoadProcess, type CallEvent } from './load-process.js';
import { OptionError, parseSoakOptions, USAGE, type SoakOptions } from './options.js';
import { sampleLine, verdictBlock } from './report.js';
import { scrapeServer, sum, type ServerSample } from './server-metrics.js';
import { ServerProcess } from './server-process.js';
import { judge, type Sample } from './verdict.js';
import { WindowLedger } from './window-ledger.js';

const TICK_MS = 250;
const WS_TOKEN = 'soak-token';
const DRAIN_TIMEOUT_MS = 120_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function speechFiles(): string[] {
  const dir = resolve(projectRoot, 'samples');
  const files = existsSync(dir) ? readdirSync(dir).filter((n) => /\.(flac|wav)$/i.test(n)).map((n) => join(dir, n)) : [];
  if (files.length === 0) throw new Error(`no speech files in ${dir}`);
  return files;
}

/** DevoX's config for the soak: the shipped defaults, NATS, room for every call, events buffered through the outage. */
function serverConfig(o: SoakOptions, natsUrl: string, httpPort: number, webrtc: boolean): Record<string, unknown> {
  const hopMs = 250;
  const eventsPerSec = o.streams * (1000 / hopMs) * 1.1;
  const outage = o.natsOutageAtS !== null && o.natsOutageS > 0;
  const maxBuffered = o.maxBufferedEvents ?? (outage ? Math.max(10_000, Math.ceil(eventsPerSec * (o.natsOutageS + 30) * 1.5)) : undefined);
  // A call ending and its slot's next call may overlap a little: room for both.
  const room = o.streams + Math.max(10, Math.ceil(o.streams * 0.1));
  const base = {
    log: { level: 'info' },
    http: { host: '127.0.0.1', port: httpPort },
    media: { maxStreams: room },
    nats: { servers: [natsUrl], ...(maxBuffered ? { maxBufferedEvents: maxBuffered } : {}) },
    websocket: { tokens: [WS_TOKEN], maxStreamsPerToken: room },
    webrtc: { enabled: webrtc },
  };
  return mergeConfig(base, o.overrides) as Record<string, unknown>;
}

async function main(): Promise<number> {
  let o: SoakOptions;
  try {
    o = parseSoakOptions();
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  const runS = o.minutes * 60;
  const files = speechFiles();
  const logDir = o.logDir ?? mkdtempSync(join(tmpdir(), 'devox-soak-'));
  mkdirSync(logDir, { recursive: true }); // a --log-dir that does not exist yet is made
  const workerBin = process.env.MEDIASOUP_WORKER_BIN ?? '';
  const skipped: string[] = [];
  const killWhy = o.killWorkerAtS === null ? undefined : workerKillUnavailable(process.env, o.webrtc);
  if (killWhy) skipped.push(`killed mediasoup worker: ${killWhy}`);
  const webrtc = o.webrtc && workerBin !== '';
  if (o.natsOutageAtS === null || o.natsOutageS === 0) skipped.push('NATS outage: off (--nats-outage-at off or --nats-outage-s 0)');

  const nats = await NatsServer.start();
  const cleanup: Array<() => Promise<unknown>> = [() => nats.close()];
  let configFile: string;
  let httpPort: number;
  let config: ReturnType<typeof loadConfig>;
  let rawConfig: ReturnType<typeof serverConfig>;
  try {
    httpPort = await freePort();
    rawConfig = serverConfig(o, nats.url, httpPort, webrtc);
    configFile = join(logDir, 'devox-config.json');
    writeFileSync(configFile, JSON.stringify(rawConfig, null, 2));
    // Checked here first: a bad --set fails before DevoX starts, naming the key.
    config = loadConfig({ file: configFile, env: {} });
  } catch (err) {
    await nats.close(); // never leave the nats-server behind
    throw err;
  }
  const runCleanup = async (): Promise<void> => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    cleanup.length = 0;
  };
  let stopRequested = false;
  process.once('SIGINT', () => {
    stopRequested = true;
    process.stderr.write('soak: SIGINT: ending the calls and judging what ran (again to abort)\n');
    process.once('SIGINT', () => void runCleanup().finally(() => process.exit(130)));
  });

  try {
    const server = await ServerProcess.start({ dir: logDir, configFile, httpPort });
    cleanup.push(() => server.stop());
    const js = await JetStreamCounter.open(nats.url, config.nats.stream);
    cleanup.push(() => js.close());
    const ledger = new WindowLedger({ lengthMs: config.window.lengthSec * 1000, hopMs: config.window.hopMs });
    let driver: CallDriver | undefined;
    const onCall = (e: CallEvent): void => driver?.onCallEvent(e);
    const rtp = await LoadProcess.start('rtp', 'rtp-calls.ts', files, onCall);
    cleanup.push(() => rtp.close());
    const ws = await LoadProcess.start('ws', 'ws-calls.ts', files, onCall);
    cleanup.push(() => ws.close());
    const wsUrl = `ws://127.0.0.1:${httpPort}${config.websocket.pathPrefix}/twilio`;
    const t0 = performance.now();
    driver = new CallDriver(
      { ...o, files: files.length, httpUrl: server.httpUrl, wsUrl, wsToken: WS_TOKEN },
      ledger,
      { rtp, ws },
      t0,
    );
    const calls = driver;

    // Ended calls stay on the console for endedRetentionSec: until then its memory grows by design.
    const warmupMin =
      o.warmupMin ?? (config.console.enabled ? Math.max(5, (config.console.endedRetentionSec + o.callMaxS) / 60) : 5);
    const rtpCalls = Math.round(o.streams * (1 - o.wsShare));
    console.log(
      `devox soak: ${o.streams} calls (${rtpCalls} RTP PCMU over UDP, ${o.streams - rtpCalls} Twilio WebSocket), ` +
        `${o.minutes} min, calls ${o.callMinS}-${o.callMaxS} s looping ${files.length} speech files, sample every ${o.sampleS} s, ` +
        `RSS drift from minute ${warmupMin.toFixed(1)}${o.warmupMin === null && warmupMin > 5 ? ' (console.endedRetentionSec + the longest call)' : ''} or the NATS outage's end; ` +
        `NATS outage ${o.natsOutageAtS === null || o.natsOutageS === 0 ? 'off' : `${o.natsOutageS} s at ${(o.natsOutageAtS / 60).toFixed(1)} min (SIG${o.natsSignal.slice(3)})`}, ` +
        `worker kill ${killWhy ? 'skipped' : `at ${((o.killWorkerAtS ?? 0) / 60).toFixed(1)} min`}; ` +
        `nats.maxBufferedEvents ${config.nats.maxBufferedEvents}, media.maxStreams ${config.media.maxStreams}, hop ${config.window.hopMs} ms, ` +
        `models ${[config.detect.modelDir, config.detect.narrowbandModelDir].filter(Boolean).map((d) => d.replace(projectRoot + '/', '')).join(' + ')}; ` +
        `${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(1)).join('/')}, node ${process.version}; server pid ${server.pid}, log ${server.logFile}`,
    );
    for (const why of skipped) console.log(`skipped: ${why}`);

    const samples: Sample[] = [];
    const faults: FaultRecord[] = [];
    let natsUp = true;
    let note = '';
    const elapsedS = (): number => (performance.now() - t0) / 1000;
    const takeSample = async (): Promise<Sample> => {
      const tSec = elapsedS();
      const reports = await Promise.all([rtp.report(), ws.report()]);
      for (const r of reports) for (const [id, frames] of r?.live ?? []) ledger.progress(id, frames);
      const [srv, count] = await Promise.all([scrapeServer(server.httpUrl), js.count()]);
      const [r0, r1] = reports;
      return {
        tSec,
        server: srv,
        jetstream: count,
        expected: ledger.expected,
        liveCalls: calls.liveCalls,
        sendLateP99Ms: { rtp: r0?.lateP99Ms ?? null, ws: r1?.lateP99Ms ?? null },
      };
    };
    const printSample = (x: Sample): void => {
      console.log(sampleLine(x, calls.counts, natsUp, note));
      note = '';
    };

    let nextSampleS = o.sampleS;
    let sampling: Promise<void> | undefined;
    let outage: Promise<void> | undefined;
    let killDone = o.killWorkerAtS === null || killWhy !== undefined;
    let respawn: Promise<void> | undefined;
    let diedDuringRun = false;
    while (elapsedS() < runS && !stopRequested) {
      calls.tick(performance.now());
      const t = elapsedS();
      if (!server.running) {
        diedDuringRun = true;
        console.log(`[${(t / 60).toFixed(1).padStart(5)} min] the server process exited: stopping the soak`);
        break;
      }
      if (!outage && o.natsOutageAtS !== null && o.natsOutageS > 0 && t >= o.natsOutageAtS) {
        const at = t;
        outage = natsOutage(nats, o.natsOutageS, o.natsSignal, () => {
          natsUp = false;
          console.log(`[${(at / 60).toFixed(1).padStart(5)} min] NATS down (nats-server ${o.natsSignal}) for ${o.natsOutageS} s`);
        }).then((r) => {
          natsUp = r.error === undefined;
          const detail = r.error ? `nats-server did not come back: ${r.error}` : `down ${(r.downMs / 1000).toFixed(1)} s, restarted on the same port and store`;
          faults.push({ fault: 'nats-outage', atSec: at, endSec: elapsedS(), detail, ok: r.error === undefined });
          console.log(`[${(elapsedS() / 60).toFixed(1).padStart(5)} min] NATS ${r.error ? 'NOT back' : 'back'}: ${detail}`);
        });
      }
      if (!killDone && t >= o.killWorkerAtS!) {
        killDone = true;
        const k = killWorker(server, workerBin);
        console.log(`[${(t / 60).toFixed(1).padStart(5)} min] ${k.detail}`);
        if (!k.ok) faults.push({ fault: 'kill-worker', atSec: t, ...k });
        else {
          respawn = awaitRespawn(() => scrapeServer(server.httpUrl), 60_000).then((r) => {
            faults.push({ fault: 'kill-worker', atSec: t, endSec: elapsedS(), ok: r.ok, detail: `${k.detail}; ${r.detail}` });
            console.log(`[${(elapsedS() / 60).toFixed(1).padStart(5)} min] mediasoup worker ${r.detail}`);
          });
        }
      }
      if (!sampling && t >= nextSampleS) {
        nextSampleS += o.sampleS;
        sampling = takeSample().then((x) => {
          samples.push(x);
          printSample(x);
          sampling = undefined;
        });
      }
      await sleep(TICK_MS);
    }
    await sampling;
    // The run's last sample, at its end (the RSS drift's "end"), before the calls stop.
    if (!diedDuringRun && (samples.at(-1)?.tSec ?? 0) < elapsedS() - 1) {
      const x = await takeSample();
      samples.push(x);
      printSample(x);
    }
    await outage;
    await respawn;

    // Every call ends; then wait until the server has settled every window and event.
    const ended = await calls.stopAll(60_000);
    let final: ServerSample | undefined;
    let count: number | undefined;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    let drained = false;
    while (Date.now() < deadline && server.running) {
      [final, count] = await Promise.all([scrapeServer(server.httpUrl), js.count()]);
      const f = final;
      drained =
        ended &&
        f !== undefined &&
        sum(f.activeStreams) === 0 &&
        f.windowsQueued === 0 &&
        f.eventsBuffered === 0 &&
        f.windowsReceived === f.windowsScored + sum(f.shed) &&
        count === f.eventsPublished;
      if (drained) break;
      await sleep(1000);
    }
    const last: Sample = { tSec: elapsedS(), server: final, jetstream: count, expected: ledger.expected, liveCalls: calls.liveCalls, sendLateP99Ms: { rtp: null, ws: null } };
    note = ' | after every call ended (settled)';
    printSample(last);

    await rtp.close();
    await ws.close();
    const stopped = await server.stop();
    const verdict = judge(
      samples,
      {
        drained,
        expected: ledger.expected,
        server: final,
        jetstream: count,
        calls: calls.counts,
        faults,
        skipped,
        serverExit: { exitCode: stopped.exitCode, killed: stopped.killed, diedDuringRun },
      },
      { ...o, driftFromSec: Math.max(warmupMin * 60, ...faults.map((f) => f.endSec ?? 0)) },
    );
    console.log(`server: shutdown ${stopped.shutdownMs.toFixed(0)} ms, exit ${stopped.exitCode}; log lines: ${server.logCounts.warn} warn, ${server.logCounts.error} error, ${server.logCounts.fatal} fatal` +
      (server.logCounts.firstErrors.length ? ` (first errors: ${server.logCounts.firstErrors.map((m) => JSON.stringify(m)).join('; ')})` : ''));
    const stored = await js.state();
    console.log(
      `media sent: ${ledger.mediaSec.toFixed(0)} s of audio in ${calls.counts.started.rtp + calls.counts.started.ws} calls; ` +
        `JetStream stream ${config.nats.stream}: ${stored ? `${stored.messages} messages, ${(stored.bytes / 2 ** 20).toFixed(1)} MiB` : 'unavailable'}`,
    );
    console.log(verdictBlock(verdict.checks, verdict.pass));
    if (o.json) {
      writeFileSync(
        o.json,
        JSON.stringify({ soak: 'devox', options: { ...o, warmupMin }, config: rawConfig, logDir, samples, final: last, calls: calls.counts, faults, skipped, server: { ...stopped, logCounts: server.logCounts }, verdict }, null, 2) + '\n',
      );
    }
    return verdict.pass ? 0 : 1;
  } finally {
    await runCleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A bad option or --set is the user's to fix: its message names the key; anything else keeps its stack.
    console.error(`soak: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}`);
    process.exit(1);
  },
);
