/**
 * Re-offers that keep a stream's session but change what arrives on it, over the REAL
 * MediaSessions and real UDP on 127.0.0.1:
 *  - the sender moves to a new address/port (SBC failover, re-anchoring): the kept session
 *    learns the new source, RTP keeps counting, and the old source is then refused;
 *  - telephone-event is renumbered: the kept session recognises the new payload type;
 *  - a re-offer whose new c=/m= the sender does not actually move to (NAT), a c=0.0.0.0 hold and
 *    resume, and a relearn that finds no new source in time: a stray datagram later is refused.
 */
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { loadConfig } from '../../../src/config.js';
import { MediaSessions } from '../../../src/media/media-sessions.js';
import { createLogger } from '../../../src/logger.js';
import { CallRegistry } from '../../../src/signaling/sip/call-registry.js';
import { makeRequest } from '../../helpers/sip-messages.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { sleep, waitFor } from '../../helpers/wait.js';

const log = createLogger('silent');

function setup(portMin: number, portMax: number, streamTimeoutMs = 5000) {
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: portMin, rtpPortMax: portMax, streamTimeoutMs } } });
  const sink = new RecordingSink();
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink, log });
  const registry = new CallRegistry({ media, policy: { maxConcurrentCalls: 5, maxStreamsPerCall: 4, maxBodyBytes: 65536,
    maxMetadataBytes: 65536, retryAfterSec: 5, passThroughHeaders: [], sessionExpiresSec: 1800, minSessionExpiresSec: 90 },
  address: '127.0.0.1', log });
  return { media, sink, registry };
}

const sdp = (version: number, port: number, te = 101, address = '127.0.0.1'): string =>
  `v=0\r\no=- 1 ${version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\n` +
  `m=audio ${port} RTP/AVP 0 ${te}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:${te} telephone-event/8000\r\na=sendonly\r\n`;

function invite(callId: string, body: string) {
  return makeRequest('INVITE', new Map([['call-id', callId], ['content-type', 'application/sdp']]), body);
}

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

async function send(sock: Socket, to: number, first: number, count: number, pt = 0): Promise<void> {
  for (let i = first; i < first + count; i++) {
    const pkt = Buffer.alloc(12 + 160, 0xff);
    pkt[0] = 0x80;
    pkt[1] = pt;
    pkt.writeUInt16BE(i & 0xffff, 2);
    pkt.writeUInt32BE(i * 160, 4);
    pkt.writeUInt32BE(0x1234, 8);
    await new Promise<void>((resolve, reject) => sock.send(pkt, to, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
}

t.test('a re-INVITE that moves the sender to a new address/port keeps the stream recording', async (t) => {
  const { media, sink, registry } = setup(46600, 46649);
  t.teardown(() => media.closeAll());
  const a = await bound();
  const b = await bound();
  t.teardown(() => { a.close(); b.close(); });
  const first = await registry.invite(invite('move-1', sdp(1, a.address().port)));
  t.equal(first.status, 200);
  const stream = first.call!.streams()[0]!;
  const session = media.get(stream.session.descriptor.streamId)!;
  await send(a, session.port, 0, 10);
  await waitFor(() => session.counters.packetsReceived === 10, 2_000, 'packetsReceived === 10');
  t.equal(session.counters.packetsReceived, 10, 'the first source is received');
  t.same(session.remote, { address: '127.0.0.1', port: a.address().port }, 'first source learned');

  const re = await registry.modify(invite('move-1', sdp(2, b.address().port)));
  t.equal(re.status, 200);
  t.equal(first.call!.streams()[0]!.session, stream.session, 'same codec: the session is kept');
  await send(b, session.port, 10, 60);
  await waitFor(() => session.counters.packetsReceived === 70, 2_000, 'packetsReceived === 70');
  t.equal(session.counters.packetsReceived, 70, 'RTP from the new source is received');
  t.equal(session.counters.packetsWrongSource, 0);
  t.same(session.remote, { address: '127.0.0.1', port: b.address().port }, 'new source learned');
  await waitFor(() => sink.windowsOf(session.descriptor.streamId).length >= 1, 2_000, 'a window of the stream');
  t.ok(sink.windowsOf(session.descriptor.streamId).length >= 1, 'windows cut across the move');

  // The old source is no longer the stream's.
  await send(a, session.port, 70, 3);
  await waitFor(() => session.counters.packetsWrongSource === 3, 2_000, 'packetsWrongSource === 3');
  t.equal(session.counters.packetsWrongSource, 3, 'stragglers from the old source refused');
  t.equal(session.ended, false);

  // A re-INVITE that changes nothing about the sender does not reopen learning.
  const same = await registry.modify(invite('move-1', sdp(3, b.address().port)));
  t.equal(same.status, 200);
  await send(a, session.port, 73, 2);
  await waitFor(() => session.counters.packetsWrongSource === 5, 2_000, 'packetsWrongSource === 5');
  t.equal(session.counters.packetsWrongSource, 5);
  t.same(session.remote, { address: '127.0.0.1', port: b.address().port });
  registry.bye('move-1');
  t.equal(media.size, 0);
});

t.test('a re-offer that renumbers telephone-event keeps the session and recognises the new payload type', async (t) => {
  const { media, registry } = setup(46600, 46649);
  t.teardown(() => media.closeAll());
  const a = await bound();
  t.teardown(() => a.close());
  const first = await registry.invite(invite('te-1', sdp(1, a.address().port, 101)));
  const stream = first.call!.streams()[0]!;
  const session = media.get(stream.session.descriptor.streamId)!;
  const re = await registry.modify(invite('te-1', sdp(2, a.address().port, 96)));
  t.equal(re.status, 200);
  t.match(re.sdp, /a=rtpmap:96 telephone-event\/8000/, 'answer accepts the new telephone-event PT');
  t.equal(first.call!.streams()[0]!.session, stream.session, 'the session is kept');
  await send(a, session.port, 0, 5);
  await send(a, session.port, 5, 2, 96);
  await send(a, session.port, 7, 2, 101);
  await waitFor(() => session.counters.packetsReceived + session.counters.packetsUnknownPayload === 9, 2_000, 'packetsReceived + packetsUnknownPayload === 9');
  t.equal(session.counters.packetsReceived + session.counters.packetsUnknownPayload, 9, 'every packet counted');
  t.equal(session.rtp.telephoneEvents, 2, 'PT 96 is telephone-event now');
  t.equal(session.counters.packetsUnknownPayload, 2, 'the old PT 101 is no longer negotiated');
  registry.bye('te-1');
  t.equal(media.size, 0);
});

/** A call recording one stream from `a`, which has sent `count` packets (seq 0..count-1). */
async function recording(registry: CallRegistry, media: MediaSessions, callId: string, a: Socket, count: number) {
  const first = await registry.invite(invite(callId, sdp(1, a.address().port)));
  const session = media.get(first.call!.streams()[0]!.session.descriptor.streamId)!;
  await send(a, session.port, 0, count);
  await waitFor(() => session.counters.packetsReceived === count, 2_000, `packetsReceived === ${count}`);
  return session;
}

t.test('a re-offer the sender does not follow (NAT): once packets keep coming from the known remote, a stray datagram is refused', async (t) => {
  const { media, registry } = setup(46600, 46649);
  t.teardown(() => media.closeAll());
  const a = await bound();
  const unused = await bound(); // the re-offer's new c=/m= port: nothing is ever sent from it
  const stray = await bound();
  t.teardown(() => { a.close(); unused.close(); stray.close(); });
  const session = await recording(registry, media, 'nat-1', a, 10);
  t.same(session.remote, { address: '127.0.0.1', port: a.address().port });

  const re = await registry.modify(invite('nat-1', sdp(2, unused.address().port)));
  t.equal(re.status, 200, 'the re-offer moves the offered port: the session relearns');
  await send(a, session.port, 10, 60); // the sender keeps its source: > 50 packets end the relearn
  await waitFor(() => session.counters.packetsReceived === 70, 2_000, 'packetsReceived === 70');
  t.equal(session.counters.packetsReceived, 70);
  await send(stray, session.port, 70, 1);
  await waitFor(() => session.counters.packetsWrongSource === 1, 2_000, 'packetsWrongSource === 1');
  t.equal(session.counters.packetsWrongSource, 1, 'the stray datagram is refused');
  t.same(session.remote, { address: '127.0.0.1', port: a.address().port }, 'the stream keeps its remote');
  await send(a, session.port, 71, 5);
  await waitFor(() => session.counters.packetsReceived === 75, 2_000, 'packetsReceived === 75');
  t.equal(session.counters.packetsReceived, 75, 'the real sender is still received');
  registry.bye('nat-1');
});

t.test('hold with c=0.0.0.0, then resume to the same address: nothing to relearn, a stray datagram is refused', async (t) => {
  const { media, registry } = setup(46600, 46649);
  t.teardown(() => media.closeAll());
  const a = await bound();
  const stray = await bound();
  t.teardown(() => { a.close(); stray.close(); });
  const session = await recording(registry, media, 'hold-1', a, 10);
  const hold = await registry.modify(invite('hold-1', sdp(2, a.address().port, 101, '0.0.0.0')));
  t.equal(hold.status, 200);
  const resume = await registry.modify(invite('hold-1', sdp(3, a.address().port)));
  t.equal(resume.status, 200);
  await send(stray, session.port, 10, 1); // before the sender's first packet after the resume
  await waitFor(() => session.counters.packetsWrongSource === 1, 2_000, 'packetsWrongSource === 1');
  t.equal(session.counters.packetsWrongSource, 1, 'the stray datagram is refused');
  t.same(session.remote, { address: '127.0.0.1', port: a.address().port }, 'the stream keeps its remote');
  await send(a, session.port, 11, 5);
  await waitFor(() => session.counters.packetsReceived === 15, 2_000, 'packetsReceived === 15');
  t.equal(session.counters.packetsReceived, 15, 'the sender is received after the resume');
  registry.bye('hold-1');
});

t.test('a relearn that finds no new source within media.streamTimeoutMs ends: a stray datagram after it is refused', async (t) => {
  const TIMEOUT_MS = 300;
  const { media, registry } = setup(46600, 46649, TIMEOUT_MS);
  t.teardown(() => media.closeAll());
  const a = await bound();
  const unused = await bound();
  const stray = await bound();
  t.teardown(() => { a.close(); unused.close(); stray.close(); });
  const session = await recording(registry, media, 'deadline-1', a, 5);
  const re = await registry.modify(invite('deadline-1', sdp(2, unused.address().port)));
  t.equal(re.status, 200);
  // Fewer packets than end a relearn early, spread past the deadline (each gap far below the stream timeout).
  let seq = 5;
  for (let i = 0; i < 10; i++) {
    await send(a, session.port, seq++, 1);
    await sleep(TIMEOUT_MS / 6);
  }
  await waitFor(() => session.counters.packetsReceived === seq, 2_000, `packetsReceived === ${seq}`);
  t.equal(session.counters.packetsReceived, 15);
  t.equal(session.ended, false, 'the stream is alive');
  await send(stray, session.port, seq, 1);
  await waitFor(() => session.counters.packetsWrongSource === 1, 2_000, 'packetsWrongSource === 1');
  t.equal(session.counters.packetsWrongSource, 1, 'the stray datagram is refused');
  t.same(session.remote, { address: '127.0.0.1', port: a.address().port }, 'the stream keeps its remote');
  registry.bye('deadline-1');
});
