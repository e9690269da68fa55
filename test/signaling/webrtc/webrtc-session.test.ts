/**
 * WebRtcSession without a mediasoup worker: a real signaling WebSocket over 127.0.0.1 and a
 * stand-in router (session-harness.ts) that can hold setup at any await. Checks that a page
 * leaving mid-setup leaks nothing in the router, and every liveness rule: no offer, no ICE/DTLS
 * connect, no RTP, DTLS failed/closed, ICE closed or disconnected past its grace, and a signaling
 * socket that stops answering pings. The same rules against a real worker and Chromium are in
 * webrtc-liveness.test.ts.
 */
import t, { type Test } from 'tap';
import { MediaIngress } from '../../../src/media/ingress.js';
import { loadConfig } from '../../../src/config.js';
import { writeRtpHeader } from '../../../src/media/rtp-packet.js';
import type { MsRouter } from '../../../src/signaling/webrtc/types.js';
import { WebRtcSession } from '../../../src/signaling/webrtc/webrtc-session.js';
import { OUTPUT_RATE } from '../websocket/harness.js';
import { CHROME_OFFER, FakeRouter, wsPair, type SetupStep } from './session-harness.js';
import { captureLog } from '../../helpers/capture.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { waitFor } from '../../helpers/wait.js';

const DEADLINE = 10_000;

async function harness(t: Test, over: { webrtc?: Record<string, number>; media?: Record<string, number> } = {}, clientOpts: { autoPong?: boolean } = {}) {
  const cfg = loadConfig({
    env: {},
    overrides: {
      webrtc: { offerTimeoutMs: 60_000, connectTimeoutMs: 60_000, iceDisconnectedGraceMs: 60_000, pingIntervalMs: 60_000, ...over.webrtc },
      media: { streamTimeoutMs: 60_000, ...over.media },
    },
  });
  const pair = await wsPair(clientOpts);
  t.teardown(() => pair.close());
  const router = new FakeRouter();
  const sink = new RecordingSink();
  const { log, lines: records } = captureLog();
  let closedCalls = 0;
  const session = new WebRtcSession({
    ws: pair.server,
    router: router as unknown as MsRouter,
    webrtc: cfg.webrtc,
    media: cfg.media,
    window: cfg.window,
    ingress: new MediaIngress({ media: cfg.media, window: cfg.window, outputRate: OUTPUT_RATE, sink, log }),
    log,
    status: () => ({ label: undefined }),
    onStream: () => {},
    onClosed: () => void closedCalls++,
  });
  t.teardown(() => session.close('released'));
  const answered = new Promise<{ streamId: string }>((r) =>
    pair.client.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; streamId: string };
      if (m.type === 'answer') r(m);
    }),
  );
  const offer = (): void => pair.client.send(JSON.stringify({ type: 'offer', sdp: CHROME_OFFER }));
  const closedLog = () => records.find((r) => r.msg === 'WebRTC session closed');
  return { cfg, pair, router, sink, records, session, offer, answered, closedLog, closedCalls: () => closedCalls };
}

const STEPS: SetupStep[] = ['createWebRtcTransport', 'connect', 'produce', 'createDirectTransport', 'consume'];
const CREATED_BY: Record<SetupStep, number> = { createWebRtcTransport: 1, connect: 1, produce: 1, createDirectTransport: 3, consume: 3 };

for (const step of STEPS) {
  t.test(`the page leaves while setup awaits ${step}: everything created is released`, async (t) => {
    const h = await harness(t);
    const reached = h.router.hold(step);
    h.offer();
    await reached;
    h.pair.client.close(1000, 'bye');
    await waitFor(() => h.closedCalls() === 1, DEADLINE, 'the session to close');
    h.router.release();
    // Whatever the held step made, and anything after it, must end closed.
    await new Promise((r) => setTimeout(r, 50));
    // Up to produce only the WebRTC transport exists (produce on a closed transport rejects, as in mediasoup);
    // from createDirectTransport on, the transport, the producer and the direct transport.
    t.equal(h.router.created.length, CREATED_BY[step], `created: ${h.router.created.map((o) => o.kindOf).join(', ')}`);
    t.same(h.router.created.filter((o) => !o.closed).map((o) => o.kindOf), [], 'no mediasoup object left open in the router');
    t.equal(h.closedCalls(), 1, 'onClosed once (the slot is given back once)');
    t.equal(h.sink.streams.size, 0, 'no stream was started');
  });
}

t.test('no offer within webrtc.offerTimeoutMs: closed 1008, logged with its cause', async (t) => {
  const h = await harness(t, { webrtc: { offerTimeoutMs: 200 } });
  const c = await h.pair.clientClosed;
  t.equal(c.code, 1008);
  t.match(c.reason, /no offer within 200 ms/);
  t.equal(h.closedCalls(), 1, 'slot released');
  t.match(h.closedLog(), { level: 40, cause: 'offer_timeout', reason: 'timeout' }, 'logged as a warning with cause offer_timeout');
});

t.test('an offer in time cancels the offer timeout', async (t) => {
  const h = await harness(t, { webrtc: { offerTimeoutMs: 200 } });
  h.offer();
  await h.answered;
  await new Promise((r) => setTimeout(r, 500));
  t.equal(h.closedCalls(), 0, 'still open after the offer timeout would have fired');
});

t.test('ICE/DTLS not connected within webrtc.connectTimeoutMs: the stream ends (timeout) and the session closes 1008', async (t) => {
  const h = await harness(t, { webrtc: { connectTimeoutMs: 200 } });
  h.offer();
  const { streamId } = await h.answered;
  const c = await h.pair.clientClosed;
  t.equal(c.code, 1008);
  t.match(c.reason, /ICE\/DTLS not connected within 200 ms/);
  t.equal(h.sink.streams.get(streamId)?.endReason, 'timeout', 'the started stream ended with reason timeout');
  t.same(h.router.created.filter((o) => !o.closed).map((o) => o.kindOf), [], 'mediasoup objects released');
  t.equal(h.closedCalls(), 1);
  t.match(h.closedLog(), { cause: 'connect_timeout', streamId });
});

const rtp = (seq: number): Buffer => {
  // An Opus TOC byte for a 20 ms CELT frame plus filler: enough for the receive path to count it.
  const p = Buffer.alloc(12 + 3);
  writeRtpHeader(p, { marker: false, payloadType: 100, sequence: seq, timestamp: seq * 960, ssrc: 0x55 });
  p.set([0xfc, 0xff, 0xfe], 12);
  return p;
};

t.test('connected, then no RTP for media.streamTimeoutMs: closed 1008 "no audio"', async (t) => {
  const h = await harness(t, { webrtc: { connectTimeoutMs: 300 }, media: { streamTimeoutMs: 300 } });
  h.offer();
  const { streamId } = await h.answered;
  h.router.transport!.emit('icestatechange', 'connected');
  h.router.transport!.emit('dtlsstatechange', 'connected');
  // RTP for a while (longer than both timeouts), then nothing.
  for (let seq = 0; seq < 40; seq++) {
    h.router.consumer!.emit('rtp', rtp(seq));
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(h.closedCalls(), 0, 'alive while RTP flows (the connect timeout was cancelled by DTLS connected)');
  const c = await h.pair.clientClosed;
  t.equal(c.code, 1008);
  t.match(c.reason, /no audio for 300 ms/);
  t.equal(h.sink.streams.get(streamId)?.endReason, 'timeout');
  t.match(h.closedLog(), { cause: 'media_timeout' });
});

const stateCases: Array<[string, 'icestatechange' | 'dtlsstatechange', string, number, string, string]> = [
  ['DTLS failed', 'dtlsstatechange', 'failed', 1011, 'error', 'dtls_failed'],
  ['DTLS closed', 'dtlsstatechange', 'closed', 1001, 'transport_closed', 'dtls_closed'],
  ['ICE closed', 'icestatechange', 'closed', 1001, 'transport_closed', 'ice_closed'],
];
for (const [name, event, state, code, reason, cause] of stateCases) {
  t.test(`${name}: the session ends at once (${code}, stream ${reason})`, async (t) => {
    const h = await harness(t);
    h.offer();
    const { streamId } = await h.answered;
    h.router.transport!.emit('icestatechange', 'connected');
    h.router.transport!.emit('dtlsstatechange', 'connected');
    h.router.transport!.emit(event, state);
    const c = await h.pair.clientClosed;
    t.equal(c.code, code);
    t.equal(h.sink.streams.get(streamId)?.endReason, reason);
    t.equal(h.closedCalls(), 1);
    t.match(h.closedLog(), { cause });
    t.same(h.router.created.filter((o) => !o.closed).map((o) => o.kindOf), [], 'mediasoup objects released');
  });
}

t.test('ICE disconnected past webrtc.iceDisconnectedGraceMs ends the session; back to connected within it does not', async (t) => {
  const h = await harness(t, { webrtc: { iceDisconnectedGraceMs: 200 } });
  h.offer();
  const { streamId } = await h.answered;
  const tr = h.router.transport!;
  tr.emit('icestatechange', 'connected');
  tr.emit('dtlsstatechange', 'connected');
  tr.emit('icestatechange', 'disconnected');
  await new Promise((r) => setTimeout(r, 50));
  tr.emit('icestatechange', 'completed');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(h.closedCalls(), 0, 'a short disconnection is forgiven');
  tr.emit('icestatechange', 'disconnected');
  const c = await h.pair.clientClosed;
  t.equal(c.code, 1001);
  t.match(c.reason, /ICE disconnected for 200 ms/);
  t.equal(h.sink.streams.get(streamId)?.endReason, 'timeout');
  t.match(h.closedLog(), { cause: 'ice_disconnected' });
});

t.test('a signaling socket that stops answering pings is terminated and the session ends', async (t) => {
  const h = await harness(t, { webrtc: { pingIntervalMs: 100 } }, { autoPong: false });
  h.offer();
  const { streamId } = await h.answered;
  await waitFor(() => h.closedCalls() === 1, DEADLINE, 'the session to end');
  t.equal(h.sink.streams.get(streamId)?.endReason, 'transport_closed');
  t.match(h.closedLog(), { cause: 'signaling_dead' });
  await waitFor(() => h.pair.server.readyState === h.pair.server.CLOSED, DEADLINE, 'the server side of the socket to be terminated');
  t.equal(h.pair.server.readyState, h.pair.server.CLOSED, 'socket terminated');
});

t.test('a socket that answers pings stays up', async (t) => {
  const h = await harness(t, { webrtc: { pingIntervalMs: 100 } });
  h.offer();
  await h.answered;
  await new Promise((r) => setTimeout(r, 600));
  t.equal(h.closedCalls(), 0, 'alive after several ping intervals');
});
