/**
 * WebSocket media end to end: a real DevoxServer (real ONNX model, verdict pipeline) with the
 * media stream server mounted on its HTTP server, a Twilio call (two tracks) and a jambonz call
 * streamed by `ws` clients, and the events read back from a real nats-server's JetStream: identity
 * fields from the stream metadata (callSid, streamSid, custom parameters, from/to) are in them.
 */
import t from 'tap';
import { callIdToToken } from '../../../src/verdicts/events.js';
import type { CallEndedEvent, DevoxEvent, WindowScoredEvent } from '../../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../../helpers/nats-server.js';
import { NEEDS_SHARED_SPEECH } from '../../helpers/shared-data.js';
import { eventValidator, readStoredEvents } from '../../helpers/events.js';
import { metricValue, scrape, startTestServer } from '../../helpers/devox-server.js';
import { CLIP_A, CLIP_B, TOKEN, closed, ffmpegRaw, int16FromS16le, openClient, streamPcmFork, streamTwilio, upgradeStatus } from './harness.js';
import { waitFor } from '../../helpers/wait.js';

/** The event tests need a real nats-server and the shared speech clips. */
const skip = NEEDS_NATS || NEEDS_SHARED_SPEECH;
const validate = eventValidator();

t.test('Twilio and jambonz streams → events on JetStream carry the stream identity', { skip }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const server = await startTestServer({ nats: { servers: [nats.url] }, websocket: { tokens: [TOKEN] } });
  t.teardown(() => server.close());
  t.ok(server.websocket, 'media stream server mounted');
  const base = `ws://127.0.0.1:${server.http.port}${server.config.websocket.pathPrefix}`;

  const twilioSid = 'CAe2e00000000000000000000000000001';
  const jambonzSid = 'jambonz-e2e-call-0001';
  const tw = await openClient(`${base}/twilio`);
  const jb = await openClient(`${base}/jambonz`, { protocol: 'audio.jambonz.org' });
  const twClosed = closed(tw);
  const seconds = 3.1;
  await Promise.all([
    streamTwilio(
      tw,
      [
        { track: 'inbound', bytes: ffmpegRaw(CLIP_A, 8000, 'mulaw', seconds) },
        { track: 'outbound', bytes: ffmpegRaw(CLIP_B, 8000, 'mulaw', seconds) },
      ],
      { callSid: twilioSid, customParameters: { tenant: 'acme' } },
    ),
    streamPcmFork(
      jb,
      { callSid: jambonzSid, from: '+15551110000', to: '+15552220000', direction: 'inbound', sampleRate: 16000, mixType: 'mono' },
      [int16FromS16le(ffmpegRaw(CLIP_B, 16000, 's16le', seconds))],
      16000,
    ),
  ]);
  t.equal((await twClosed).code, 1000, 'Twilio stream stopped normally');
  jb.close(1000, 'hangup');
  await closed(jb);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'all three legs finished');
  t.equal(await server.publisher.flush(10_000), true, 'every event acknowledged by JetStream');

  const twEvents = (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(twilioSid)}.>`)).map((s) => s.event);
  const jbEvents = (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(jambonzSid)}.>`)).map((s) => s.event);
  for (const e of [...twEvents, ...jbEvents]) {
    const err = validate(e);
    if (err) t.fail(`schema: ${err}`, { event: e });
  }
  const byLeg = (evs: DevoxEvent[], leg: string) => evs.filter((e) => e.leg === leg);
  for (const leg of ['inbound', 'outbound']) {
    const evs = byLeg(twEvents, leg);
    t.equal(evs[0]?.type, 'call.started', `twilio ${leg}: call.started first`);
    t.equal(evs.at(-1)?.type, 'call.ended', `twilio ${leg}: call.ended last`);
    t.ok(evs.every((e) => e.transport === 'websocket' && e.callId === twilioSid), `twilio ${leg}: transport websocket, callId = callSid`);
    t.match(evs[0]!.identity, {
      protocol: 'twilio',
      callSid: twilioSid,
      streamSid: 'MZ0123456789abcdef0123456789abcdef',
      'param.tenant': 'acme',
    }, `twilio ${leg}: identity from start`);
    const windows = evs.filter((e): e is WindowScoredEvent => e.type === 'window.scored');
    t.equal(windows.length, Math.floor((seconds - 1) / 0.25) + 1, `twilio ${leg}: one window.scored per window`);
    t.equal((evs.at(-1) as CallEndedEvent).reason, 'bye', `twilio ${leg}: ended by stop`);
  }
  const jevs = byLeg(jbEvents, 'caller');
  t.equal(jevs[0]?.type, 'call.started');
  t.match(jevs[0]!.identity, { protocol: 'jambonz', callSid: jambonzSid, from: '+15551110000', to: '+15552220000', direction: 'inbound' });
  t.equal((jevs.at(-1) as CallEndedEvent).reason, 'transport_closed', 'jambonz: ended by the client closing');
  t.ok(jevs.some((e) => e.type === 'verdict.changed'), 'jambonz leg reached a verdict');

  // The same facts on /metrics (an unauthenticated attempt included).
  t.equal((await upgradeStatus(`${base}/twilio`)).status, 401);
  const m = await scrape(server);
  t.equal(metricValue(m, 'devox_ws_connections_total', 'protocol="twilio"'), 1, 'metrics: one Twilio connection');
  t.equal(metricValue(m, 'devox_ws_connections_total', 'protocol="jambonz"'), 1, 'metrics: one jambonz connection');
  t.equal(metricValue(m, 'devox_ws_closed_total', 'reason="stop"'), 1, 'metrics: Twilio ended by stop');
  t.equal(metricValue(m, 'devox_ws_closed_total', 'reason="client_closed"'), 1, 'metrics: jambonz closed by the client');
  t.equal(metricValue(m, 'devox_ws_refused_total', 'cause="unauthorized"'), 1, 'metrics: the 401 counted');
  t.ok(metricValue(m, 'devox_ws_frames_total') >= 3 * 150, 'metrics: audio frames counted');
  t.equal(metricValue(m, 'devox_ws_active_connections'), 0);
});
