/**
 * Server shutdown with streams still open: an RTP leg (real UDP) and a Twilio Media Streams
 * call (real `ws` client) are live when DevoxServer.close() runs; every leg's call.ended, read
 * back from a real nats-server's JetStream, says reason "shutdown" (docs/events.md, schema),
 * never "released" (that is an operator's DELETE /streams or a SIP re-offer dropping a leg).
 */
import { createSocket } from 'node:dgram';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { CallRegistry } from '../../src/signaling/sip/call-registry.js';
import { callIdToToken } from '../../src/verdicts/events.js';
import type { CallEndedEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { sendFile, startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { loadSipFixture } from '../helpers/sip-messages.js';
import { waitFor } from '../helpers/wait.js';
import { TOKEN, closed, ffmpegRaw, openClient, streamTwilio } from '../signaling/websocket/harness.js';

const validate = eventValidator();

t.test('streams open at shutdown end with reason "shutdown" in their call.ended', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const server = await startTestServer({ nats: { servers: [nats.url] }, websocket: { tokens: [TOKEN] } });
  let serverClosed = false;
  t.teardown(() => (serverClosed ? undefined : server.close()));

  const rtpCallId = 'shutdown-rtp.1@devox.test';
  const twilioSid = 'CAshutdown0000000000000000000000001';
  const rtp = await server.openStream({ callId: rtpCallId, leg: 'caller', codec: 'PCMU' });
  await sendFile(rtp, GENUINE_FILE, { maxSec: 1.5 });

  const ws = await openClient(`ws://127.0.0.1:${server.http.port}${server.config.websocket.pathPrefix}/twilio`);
  const wsClosed = closed(ws);
  await streamTwilio(ws, [{ track: 'inbound', bytes: ffmpegRaw(GENUINE_FILE, 8000, 'mulaw', 1.5) }], { callSid: twilioSid, stop: false });
  await waitFor(() => server.pipeline.stats.streams === 2, 10_000, 'both streams live in the pipeline');
  t.ok(server.media.get(rtp.streamId)!.counters.packetsReceived > 0, 'RTP leg received packets over UDP');

  serverClosed = true;
  await server.close();
  const c = await wsClosed;
  t.equal(c.code, 1001, 'WebSocket client told 1001 (going away)');
  t.equal(c.reason, 'server shutting down', 'with the reason');

  const rtpEvents = (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(rtpCallId)}.>`)).map((s) => s.event);
  const wsEvents = (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(twilioSid)}.>`)).map((s) => s.event);
  for (const e of [...rtpEvents, ...wsEvents]) {
    const err = validate(e);
    if (err) t.fail(`schema: ${err}`, { event: e });
  }
  for (const [name, evs] of [['RTP', rtpEvents], ['Twilio', wsEvents]] as const) {
    const ended = evs.filter((e): e is CallEndedEvent => e.type === 'call.ended');
    t.equal(ended.length, 1, `${name}: one call.ended`);
    t.equal(ended[0]?.reason, 'shutdown', `${name}: call.ended reason is "shutdown"`);
    t.equal(evs.at(-1)?.type, 'call.ended', `${name}: call.ended is the last event`);
  }
});

t.test('SIP: closing the call registry (server shutdown) ends every recorded leg with reason "shutdown"', async (t) => {
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: 46800, rtpPortMax: 46849 } } });
  const sink = new RecordingSink();
  const log = createLogger('silent');
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => media.closeAll());
  const registry = new CallRegistry({ media, policy: { maxConcurrentCalls: 5, maxStreamsPerCall: 4, maxBodyBytes: 65536,
    maxMetadataBytes: 65536, retryAfterSec: 5, passThroughHeaders: [], sessionExpiresSec: 1800, minSessionExpiresSec: 90 },
  address: '127.0.0.1', log });
  const out = await registry.invite(loadSipFixture('opensips-siprec-invite.sip'));
  t.equal(out.status, 200, 'SIPREC call with two streams accepted');
  const streams = out.call!.streams();
  const ids = streams.map((s) => s.session.descriptor.streamId);
  t.equal(ids.length, 2);
  // Real RTP to each leg's port first, so the legs are live media streams.
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  for (const s of streams) {
    const pkt = Buffer.alloc(172, 0xff);
    pkt[0] = 0x80;
    pkt[1] = s.audio.payloadType; // the answered codec
    await new Promise<void>((r, j) => sock.send(pkt, media.get(s.session.descriptor.streamId)!.port, '127.0.0.1', (e) => (e ? j(e) : r())));
  }
  await waitFor(() => ids.every((id) => media.get(id)!.counters.packetsReceived === 1), 2000, 'each leg received RTP');
  registry.close();
  await sink.waitFor(() => ids.every((id) => sink.endReason(id) !== undefined));
  t.same(ids.map((id) => sink.endReason(id)), ['shutdown', 'shutdown'], 'both legs end "shutdown"');
});
