/**
 * WebRTC session liveness against a real DevoX server and a real mediasoup worker: a page that
 * never sends an offer, an offer whose ICE/DTLS never completes (no browser behind it), a
 * signaling socket that stops answering pings, and, with headless Chromium, a connected browser
 * whose microphone stops sending or whose peer connection closes. Each must end the session with
 * its reason and give back its media.maxStreams slot. Also: a page that leaves while setup waits
 * on createDirectTransport leaves no transport in the real router.
 *
 * Needs a mediasoup worker (MEDIASOUP_WORKER_BIN); skips with that reason otherwise, like
 * webrtc-e2e.test.ts. The same rules without a worker are in webrtc-session.test.ts.
 */
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { MediaIngress } from '../../../src/media/ingress.js';
import { loadConfig } from '../../../src/config.js';
import type { StreamDescriptor } from '../../../src/media/types.js';
import { findWorkerBin, loadMediasoup, mediasoupInstalled } from '../../../src/signaling/webrtc/mediasoup-loader.js';
import { WORKER_MISSING_MESSAGE, type MsRouter } from '../../../src/signaling/webrtc/types.js';
import { WebRtcSession } from '../../../src/signaling/webrtc/webrtc-session.js';
import { signMediaPath } from '../../../src/signaling/auth.js';
import { startTestServer } from '../../helpers/devox-server.js';
import { OUTPUT_RATE, SECRET, TOKEN } from '../websocket/harness.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { CHROME_OFFER, wsPair } from './session-harness.js';
import { captureLog } from '../../helpers/capture.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { waitFor } from '../../helpers/wait.js';

const workerBin = findWorkerBin();
const skip = !workerBin ? WORKER_MISSING_MESSAGE : !mediasoupInstalled() ? 'mediasoup not installed: npm install mediasoup (MEDIASOUP_WORKER_BIN is set)' : false;
const skipBrowser = skip || (!CHROMIUM_BIN ? CHROMIUM_MISSING : false);
const DEADLINE = 20_000;

async function server(t: Test, webrtc: Record<string, number>, media: Record<string, number> = {}) {
  const ended: Array<{ stream: StreamDescriptor }> = [];
  const s = await startTestServer(
    { media, websocket: { tokens: [TOKEN], signingSecret: SECRET }, webrtc: { enabled: true, workers: 1, ...webrtc } },
    { listener: { onStreamEnded: (stream) => void ended.push({ stream }) } },
  );
  t.teardown(() => s.close());
  const slotsFree = async () => /^devox_stream_slots_in_use 0$/m.test(await (await fetch(`${s.http.url}/metrics`)).text());
  const connect = async (opts: { autoPong?: boolean } = {}) => {
    const ws = new WebSocket(`${s.http.url.replace(/^http/, 'ws')}${s.config.webrtc.path}/signal`, { headers: { authorization: `Bearer ${TOKEN}` }, ...opts });
    ws.on('error', () => {});
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    t.teardown(() => ws.terminate());
    return { ws, closed };
  };
  return { s, ended, slotsFree, connect };
}

t.test('no offer: the session ends after webrtc.offerTimeoutMs and its slot is free', { skip }, async (t) => {
  const h = await server(t, { offerTimeoutMs: 300 });
  const c = await h.connect();
  await waitFor(() => h.s.webrtc!.size === 1, DEADLINE, 'the session');
  const r = await c.closed;
  t.equal(r.code, 1008);
  t.match(r.reason, /no offer within 300 ms/);
  await waitFor(() => h.s.webrtc!.size === 0, DEADLINE, 'the session to go');
  await waitFor(h.slotsFree, DEADLINE, 'the slot to be given back');
  t.equal(h.s.webrtc!.size, 0, 'no session left');
  t.ok(await h.slotsFree(), 'slot given back');
});

t.test('an offer whose ICE/DTLS never completes: stream ends (timeout), transport released, slot free', { skip }, async (t) => {
  const h = await server(t, { connectTimeoutMs: 500 });
  const c = await h.connect();
  const answer = new Promise<{ streamId: string }>((r) => c.ws.on('message', (d) => r(JSON.parse(d.toString()) as { streamId: string })));
  c.ws.send(JSON.stringify({ type: 'offer', sdp: CHROME_OFFER }));
  const { streamId } = await answer;
  t.ok(streamId, 'answered by the real worker');
  const r = await c.closed;
  t.equal(r.code, 1008);
  t.match(r.reason, /ICE\/DTLS not connected within 500 ms/);
  await waitFor(() => h.ended.some((e) => e.stream.streamId === streamId), DEADLINE, 'the stream to end');
  await waitFor(() => h.s.webrtc!.size === 0, DEADLINE, 'the session to go');
  await waitFor(h.slotsFree, DEADLINE, 'the slot to be given back');
  t.equal(h.s.webrtc!.size, 0, 'no session left');
  t.ok(await h.slotsFree(), 'slot given back');
});

t.test('a signaling socket that stops answering pings: session ended, slot free', { skip }, async (t) => {
  // No offer timeout within the test's reach: only the missed pong can end this session.
  const h = await server(t, { pingIntervalMs: 200, offerTimeoutMs: 600_000 });
  await h.connect({ autoPong: false });
  await waitFor(() => h.s.webrtc!.size === 1, DEADLINE, 'the session');
  await waitFor(() => h.s.webrtc!.size === 0, DEADLINE, 'the session to end on a missed pong');
  await waitFor(h.slotsFree, DEADLINE, 'the slot to be given back');
  t.equal(h.s.webrtc!.size, 0, 'session ended');
  t.ok(await h.slotsFree(), 'slot given back');
});

t.test('the page leaves while setup awaits createDirectTransport: the real router keeps no transport', { skip }, async (t) => {
  const { mediasoup } = await loadMediasoup(process.env);
  const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 51000, rtcMaxPort: 51099 });
  t.teardown(() => worker.close());
  const router = (await worker.createRouter({ mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }] })) as MsRouter & {
    dump(): Promise<{ transportIds: string[] }>;
  };
  let release!: () => void;
  let reached!: () => void;
  let direct: Promise<{ closed: boolean }> | undefined;
  const atStep = new Promise<void>((r) => (reached = r));
  const gate = new Promise<void>((r) => (release = r));
  // The real router, with createDirectTransport held until the socket has closed.
  const held = new Proxy(router, {
    get(target, prop, recv) {
      if (prop === 'createDirectTransport') {
        return () => {
          reached();
          direct = gate.then(() => target.createDirectTransport());
          return direct;
        };
      }
      const v = Reflect.get(target, prop, recv) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const pair = await wsPair();
  t.teardown(() => pair.close());
  const cfg = loadConfig({ env: {} });
  const { log } = captureLog();
  let closed = 0;
  new WebRtcSession({
    ws: pair.server,
    router: held,
    webrtc: cfg.webrtc,
    media: cfg.media,
    window: cfg.window,
    ingress: new MediaIngress({ media: cfg.media, window: cfg.window, outputRate: OUTPUT_RATE, sink: new RecordingSink(), log }),
    log,
    status: () => ({ label: undefined }),
    onStream: () => {},
    onClosed: () => void closed++,
  });
  pair.client.send(JSON.stringify({ type: 'offer', sdp: CHROME_OFFER }));
  await atStep;
  t.equal((await router.dump()).transportIds.length, 1, 'the WebRTC transport exists while setup waits');
  pair.client.close(1000, 'gone');
  await waitFor(() => closed === 1, DEADLINE, 'the session to close');
  release();
  const d = await direct!;
  // The session's continuation runs right after; its close() request goes to the worker before this dump's.
  await new Promise((r) => setImmediate(r));
  t.ok(d.closed, 'the DirectTransport that arrived after close was closed');
  t.same((await router.dump()).transportIds, [], 'the real router holds no transport');
});

async function connectedPage(t: Test, h: Awaited<ReturnType<typeof server>>) {
  const auth = signMediaPath(`${h.s.config.webrtc.path}/signal`, SECRET, Math.floor(Date.now() / 1000) + 300);
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  // The page's ws and pc are module-private: keep a handle on each as the page makes them, and
  // record how the signaling socket closes (#state is overwritten by the peer connection's state).
  await page.addInitScript(() => {
    const w = window as unknown as { pc?: RTCPeerConnection; closedWith?: string };
    const Ws = window.WebSocket;
    window.WebSocket = class extends Ws {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('close', (e) => (w.closedWith = `${e.code} ${e.reason}`));
      }
    };
    const Pc = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Pc {
      constructor(config?: RTCConfiguration) {
        super(config);
        w.pc = this;
      }
    };
  });
  await page.goto(`${h.s.http.url}${h.s.config.webrtc.path}?auth=${auth}`);
  await page.click('#start');
  await page.waitForFunction(() => /^(connected|closed|error|failed)/.test(document.getElementById('state')!.textContent ?? ''), undefined, { timeout: DEADLINE });
  const state = await page.$eval('#state', (e) => e.textContent);
  const streamId = (await page.$eval('#stream', (e) => e.textContent)) ?? '';
  return { page, state, streamId };
}

t.test('Chromium connected, then its microphone stops sending: "no audio" after media.streamTimeoutMs', { skip: skipBrowser }, async (t) => {
  const h = await server(t, {}, { streamTimeoutMs: 1500 });
  const { page, state, streamId } = await connectedPage(t, h);
  if (!t.equal(state, 'connected', 'ICE + DTLS done with the real worker')) return;
  await waitFor(() => h.s.detector.stats.windowsIn >= 1, DEADLINE, 'windows from the browser');
  await page.evaluate(() => (window as unknown as { pc: RTCPeerConnection }).pc.getSenders()[0]!.replaceTrack(null));
  await page.waitForFunction(() => (window as unknown as { closedWith?: string }).closedWith !== undefined, undefined, { timeout: DEADLINE });
  t.match(await page.evaluate(() => (window as unknown as { closedWith: string }).closedWith), /^1008 no audio for 1500 ms/);
  await waitFor(() => h.ended.some((e) => e.stream.streamId === streamId), DEADLINE, 'the stream to end');
  await waitFor(h.slotsFree, DEADLINE, 'the slot to be given back');
  t.equal(h.s.webrtc!.size, 0);
});

t.test('Chromium closes its peer connection (socket left open): DTLS closed ends the session', { skip: skipBrowser }, async (t) => {
  const h = await server(t, {}, { streamTimeoutMs: 60_000 });
  const { page, state, streamId } = await connectedPage(t, h);
  if (!t.equal(state, 'connected', 'ICE + DTLS done with the real worker')) return;
  await page.evaluate(() => (window as unknown as { pc: RTCPeerConnection }).pc.close());
  await page.waitForFunction(() => (window as unknown as { closedWith?: string }).closedWith !== undefined, undefined, { timeout: DEADLINE });
  t.match(await page.evaluate(() => (window as unknown as { closedWith: string }).closedWith), /^1001 DTLS closed by the browser/);
  await waitFor(() => h.ended.some((e) => e.stream.streamId === streamId), DEADLINE, 'the stream to end');
  await waitFor(h.slotsFree, DEADLINE, 'the slot to be given back');
  t.equal(h.s.webrtc!.size, 0);
});
