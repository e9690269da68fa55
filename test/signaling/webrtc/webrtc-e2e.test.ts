/**
 * WebRTC end to end: headless Chromium opens DevoX's /webrtc page with a fake microphone fed
 * from a WAV of real speech, publishes it over WebRTC to mediasoup, and DevoX scores it: the test
 * sees windows and a verdict for that stream, and the page shows the label.
 *
 * mediasoup's worker cannot be downloaded or built on this machine: this test runs when
 * MEDIASOUP_WORKER_BIN points at a worker (or an installed mediasoup built one) and otherwise
 * skips with that exact reason. Without a worker, DevoX must still start and say why.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { StreamDescriptor } from '../../../src/media/types.js';
import { findWorkerBin, loadMediasoup, mediasoupInstalled } from '../../../src/signaling/webrtc/mediasoup-loader.js';
import { WORKER_MISSING_MESSAGE, WebRtcUnavailableError } from '../../../src/signaling/webrtc/types.js';
import { signMediaPath } from '../../../src/signaling/auth.js';
import type { VerdictLabel } from '../../../src/verdicts/types.js';
import { startTestServer } from '../../helpers/devox-server.js';
import { CLIP_A, SECRET, TOKEN } from '../websocket/harness.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { NEEDS_SHARED_SPEECH } from '../../helpers/shared-data.js';
import { waitFor } from '../../helpers/wait.js';

const workerBin = findWorkerBin();
// MEDIASOUP_WORKER_BIN set to something that is not an executable is a broken set-up, not a missing worker.
t.test('MEDIASOUP_WORKER_BIN, when set, names an executable', { skip: process.env.MEDIASOUP_WORKER_BIN ? false : 'MEDIASOUP_WORKER_BIN not set' }, async (t) => {
  t.ok(workerBin, `MEDIASOUP_WORKER_BIN=${process.env.MEDIASOUP_WORKER_BIN} is executable`);
});
const skipE2e = !workerBin
  ? WORKER_MISSING_MESSAGE
  : !mediasoupInstalled()
    ? 'mediasoup not installed: npm install mediasoup (MEDIASOUP_WORKER_BIN is set)'
    : !CHROMIUM_BIN
      ? CHROMIUM_MISSING
      : NEEDS_SHARED_SPEECH;

t.test('browser microphone → /webrtc → mediasoup → windows and a verdict', { skip: skipE2e }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devox-webrtc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wav = join(dir, 'speech.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP_A, '-ac', '1', '-ar', '48000', '-c:a', 'pcm_s16le', wav]);

  const verdicts: Array<{ stream: StreamDescriptor; label: VerdictLabel }> = [];
  const ended: StreamDescriptor[] = [];
  const server = await startTestServer(
    { websocket: { tokens: [TOKEN], signingSecret: SECRET }, webrtc: { enabled: true, workers: 1 } },
    {
      listener: {
        onVerdict: (stream, label) => void verdicts.push({ stream, label }),
        onStreamEnded: (stream) => void ended.push(stream),
      },
    },
  );
  t.teardown(() => server.close());
  t.ok(server.webrtc, `WebRTC ingest started (mediasoup ${server.webrtc?.mediasoupVersion}, worker ${workerBin})`);

  const auth = signMediaPath(`${server.config.webrtc.path}/signal`, SECRET, Math.floor(Date.now() / 1000) + 300);
  const browser = await launchChromium(wav);
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${server.http.url}${server.config.webrtc.path}?auth=${auth}`);
  await page.click('#start');
  // A label, or the session's end: a worker that dies in the DTLS handshake (as one linked
  // against Debian bookworm's libssl3 3.0.19 does) shows as `closed: media worker died` at once.
  await page.waitForFunction(
    () => {
      const l = document.getElementById('label')!.dataset.label;
      const state = document.getElementById('state')!.textContent ?? '';
      return (l !== undefined && l !== '' && l !== 'listening') || /^(closed|error|failed)/.test(state);
    },
    undefined,
    { timeout: 30_000 },
  );
  const state = await page.$eval('#state', (e) => e.textContent);
  if (!t.equal(state, 'connected', 'the browser is connected to mediasoup (ICE + DTLS done)')) return;
  const shown = await page.$eval('#label', (e) => (e as HTMLElement).dataset.label);
  const streamId = await page.$eval('#stream', (e) => e.textContent);
  t.ok(shown && shown !== 'listening', `the page shows the live label: ${shown}`);
  await page.waitForFunction(() => document.getElementById('score')!.dataset.score !== '', undefined, { timeout: 10_000 });
  const score = Number(await page.$eval('#score', (e) => (e as HTMLElement).dataset.score));
  t.ok(score >= 0 && score <= 1, `the page shows the latest window score (${score})`);
  const v = verdicts.filter((x) => x.stream.streamId === streamId);
  t.ok(v.length >= 1, 'a verdict was reached for the browser stream');
  t.equal(v[0]!.stream.transport, 'webrtc');
  t.equal(v[0]!.stream.leg, 'microphone');
  t.equal(v.at(-1)!.label, shown, 'page label = latest verdict');
  // The first verdict can come as early as the third window (1 s of speech); the audio keeps flowing, so wait for more.
  await waitFor(() => server.detector.stats.windowsIn >= 5, 5_000, '5 windows from the browser audio');
  t.ok(server.detector.stats.windowsIn >= 5, `windows keep being cut from the browser audio (${server.detector.stats.windowsIn})`);

  await page.click('#stop');
  await waitFor(() => ended.some((s) => s.streamId === streamId), 10_000, 'the browser stream to end');
  t.equal(server.webrtc!.size, 0, 'session closed with the page');
});

const webrtcPossible = workerBin !== null && mediasoupInstalled();

t.test('a worker binary mediasoup would not spawn is refused, not logged as the running one', { skip: webrtcPossible ? false : (workerBin ? 'mediasoup not installed' : WORKER_MISSING_MESSAGE) }, async (t) => {
  // mediasoup takes its binary from process.env at import; an env naming another one cannot apply.
  const other = process.execPath; // an executable file that is not the worker
  const err = await loadMediasoup({ ...process.env, MEDIASOUP_WORKER_BIN: other }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof WebRtcUnavailableError, 'refused with WebRtcUnavailableError');
  t.equal((err as WebRtcUnavailableError).reason, 'worker_failed');
  t.match((err as Error).message, `not ${other}`, `says which binary would run: ${(err as Error).message}`);
  const ok = await loadMediasoup(process.env);
  t.equal(ok.workerBin, workerBin, 'the process environment\'s worker loads');
});
t.test('without mediasoup or its worker DevoX starts without WebRTC and says why', { skip: webrtcPossible ? `mediasoup and a worker are present (${workerBin})` : false }, async (t) => {
  const server = await startTestServer({ websocket: { tokens: [TOKEN] }, webrtc: { enabled: true } });
  t.teardown(() => server.close());
  t.equal(server.webrtc, undefined, 'no WebRTC ingest');
  t.ok(server.websocket, 'WebSocket media streams still served');
  const res = await fetch(`${server.http.url}${server.config.webrtc.path}`);
  t.equal(res.status, 503);
  const body = (await res.json()) as { error: string };
  t.match(body.error, workerBin ? /mediasoup not installed/ : WORKER_MISSING_MESSAGE, `GET /webrtc says why: ${body.error}`);
  const ready = await fetch(`${server.http.url}/readyz`);
  t.equal(ready.status, 200, 'the rest of DevoX is ready');
  const report = (await ready.json()) as { degraded?: Record<string, string>; capacity?: Record<string, Record<string, number>> };
  t.match(report.degraded?.webrtc, workerBin ? /mediasoup not installed/ : WORKER_MISSING_MESSAGE, `/readyz reports WebRTC degraded: ${report.degraded?.webrtc}`);
  t.match(report.capacity?.webrtc, { workers: 0, liveWorkers: 0, sessions: 0 }, '/readyz: no WebRTC capacity');
  const metrics = await (await fetch(`${server.http.url}/metrics`)).text();
  t.match(metrics, /^devox_webrtc_workers_live 0$/m, 'devox_webrtc_workers_live 0');
  t.match(metrics, /^devox_webrtc_workers 0$/m, 'devox_webrtc_workers 0');
});

t.test('media.maxStreams: a WebRTC session over the shared cap is closed with 1013', { skip: webrtcPossible ? false : (workerBin ? 'mediasoup not installed' : WORKER_MISSING_MESSAGE) }, async (t) => {
  const { WebSocket } = await import('ws');
  const server = await startTestServer({ media: { maxStreams: 1 }, websocket: { tokens: [TOKEN] }, webrtc: { enabled: true, workers: 1 } });
  t.teardown(() => server.close());
  const signal = `${server.http.url.replace(/^http/, 'ws')}${server.config.webrtc.path}/signal`;
  const connect = async () => {
    const ws = new WebSocket(signal, { headers: { authorization: `Bearer ${TOKEN}` } });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    return { ws, closed };
  };
  const rtp = await server.openStream({ callId: 'holds-the-slot' });
  const refused = await connect();
  const r = await refused.closed;
  t.equal(r.code, 1013, 'closed with 1013 (try again later)');
  t.match(r.reason, /limit of 1 live streams/, 'says why');
  t.equal(server.webrtc!.size, 0, 'no session was created');
  server.releaseStream(rtp.streamId);
  await waitFor(async () => {
    const m = await (await fetch(`${server.http.url}/metrics`)).text();
    return /^devox_stream_slots_in_use 0$/m.test(m);
  }, 5000, 'the RTP slot to be given back');
  const admitted = await connect();
  await waitFor(() => server.webrtc!.size === 1, 5000, 'a WebRTC session');
  t.equal(server.webrtc!.size, 1, 'admitted once a slot is free');
  admitted.ws.close(1000);
  await admitted.closed;
  await waitFor(() => server.webrtc!.size === 0, 5000, 'the session to close');
  const m = await (await fetch(`${server.http.url}/metrics`)).text();
  t.match(m, /^devox_stream_slots_in_use 0$/m, 'its slot is given back');
  t.match(m, /^devox_streams_refused_total\{transport="webrtc"\} 1$/m, 'the refusal is counted');
});
