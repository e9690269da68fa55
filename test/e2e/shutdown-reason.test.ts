/**
 * Server shutdown with streams still open: an RTP leg (real UDP) and a Twilio Media Streams
 * call (real `ws` client) are live when DevoxServer.close() runs; every leg's call.ended, read
 * back from a real nats-server's JetStream, says reason "shutdown" (docs/events.md, schema),
 * never "released" (that is an operator's DELETE /streams or a SIP re-offer dropping a leg).
 */
import t from 'tap';
import { callIdToToken } from '../../src/verdicts/events.js';
import type { CallEndedEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { sendFile, startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
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
