/**
 * The call lifecycle over the REAL MediaSessions (UDP ports bound on 127.0.0.1): setup from
 * stored SBC INVITEs, RTP reaching the answered ports, re-INVITE / UPDATE (hold, resume,
 * codec change, added and removed streams), BYE, CANCEL, capacity, a flood against a tiny
 * port range, session-timer expiry, and every rejection with its status and counter.
 * After every scenario MediaSessions.size is back to 0: no port leaks on any path.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import sdpTransform from 'sdp-transform';
import { loadConfig } from '../../../src/config.js';
import { MediaSessions } from '../../../src/media/media-sessions.js';
import { StreamCapacity } from '../../../src/media/stream-capacity.js';
import { createLogger } from '../../../src/logger.js';
import { CallRegistry, type SipCallPolicy } from '../../../src/signaling/sip/call-registry.js';
import { readAudioFile } from '../../../src/media/audio-file.js';
import { sendAudio } from '../../../src/media/rtp-sender.js';
import type { CodecName, StreamDescriptor } from '../../../src/media/types.js';
import { loadSipFixture, variant, type StoredRequest } from '../../helpers/sip-messages.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../../helpers/shared-data.js';

const log = createLogger('silent');

const policy: SipCallPolicy = {
  maxConcurrentCalls: 50,
  maxStreamsPerCall: 4,
  maxBodyBytes: 256 * 1024,
  maxMetadataBytes: 64 * 1024,
  retryAfterSec: 7,
  passThroughHeaders: ['X-Original-Call-ID'],
  sessionExpiresSec: 1800,
  minSessionExpiresSec: 90,
};

function setup(portMin: number, portMax: number, over: Partial<SipCallPolicy> = {}, onSessionExpired?: () => void,
  streamTimeoutMs = 5000, stackRefreshes = false, onSilence?: (d: StreamDescriptor, silent: boolean) => void) {
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: portMin, rtpPortMax: portMax,
    streamTimeoutMs } } });
  const sink = new RecordingSink();
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink, log, ...(onSilence ? { onSilence } : {}) });
  const registry = new CallRegistry({ media, policy: { ...policy, ...over }, address: '127.0.0.1', log,
    ...(onSessionExpired ? { onSessionExpired } : {}), stackRefreshes });
  return { media, sink, registry };
}

function answerPorts(sdp: string | undefined): number[] {
  return sdpTransform.parse(sdp ?? '').media.map((m) => m.port);
}

async function sendPcmu(port: number, packets: number): Promise<void> {
  const sock = createSocket('udp4');
  const pkt = Buffer.alloc(12 + 160, 0xff);
  for (let i = 0; i < packets; i++) {
    pkt[0] = 0x80;
    pkt[1] = 0; // PT 0
    pkt.writeUInt16BE(i, 2);
    pkt.writeUInt32BE(i * 160, 4);
    pkt.writeUInt32BE(0x1234, 8);
    await new Promise<void>((resolve, reject) => sock.send(pkt, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  sock.close();
}

const vendorFixtures = [
  'rfc7866-siprec-invite.sip',
  'acme-packet-siprec-invite-lf.sip',
  'cisco-cube-siprec-invite.sip',
  'audiocodes-siprec-invite.sip',
  'ribbon-sbc-siprec-invite.sip',
  'opensips-siprec-invite.sip',
  'plain-fork-invite.sip',
  // What test/fixtures/sipp/siprec-uac.xml sends (captured from sipp), so the e2e body is covered without drachtio.
  'sipp-e2e-invite.sip',
];

t.test('every stored SBC INVITE is answered 200 on real ports; RTP arrives; BYE frees every port', async (t) => {
  const { media, sink, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  for (const name of vendorFixtures) {
    const req = loadSipFixture(name);
    const out = await registry.invite(req);
    t.equal(out.status, 200, name);
    const ports = answerPorts(out.sdp);
    const streams = out.call!.streams();
    const expected = name.startsWith('plain') ? 1 : 2;
    t.equal(streams.length, expected, `${name}: one media session per audio stream`);
    t.equal(media.size, expected, name);
    t.same(ports.filter((p) => p !== 0), streams.map((s) => s.session.port), `${name}: answer ports are the session ports`);
    t.same(sdpTransform.parse(out.sdp!).media.filter((m) => m.port !== 0).map((m) => m.direction), Array(expected).fill('recvonly'));
    if (name === 'acme-packet-siprec-invite-lf.sip') {
      t.match(out.headers, { 'Session-Expires': '1800;refresher=uac', Require: 'timer' });
    }
    if (name.startsWith('cisco')) {
      // Real UDP: RTP sent to the answered port reaches the stream's counters.
      const s = media.get(streams[0]!.session.descriptor.streamId)!;
      await sendPcmu(s.port, 5);
      await waitFor(() => s.counters.packetsReceived >= 5, 500, `${name}: 5 RTP packets received`);
      t.equal(s.counters.packetsReceived, 5, 'RTP packets received on the answered port');
    }
    t.ok(registry.bye(req.callId), name);
    t.equal(media.size, 0, `${name}: BYE released every port`);
  }
  t.equal(registry.counters.accepted, vendorFixtures.length);
  t.equal(registry.counters.byes, vendorFixtures.length);
  t.equal(registry.counters.streams_allocated, registry.counters.streams_released);
  // The descriptors handed to media carry the call identity for every event downstream.
  const opensips = sink.started.filter((d) => d.callId === 'B2B.314.8861211.1716976413');
  t.same(opensips.map((d) => [d.leg, d.identity?.participantAor, d.identity?.['X-Original-Call-ID']]), [
    ['0', 'sip:+33144556677@carrier.example.fr', '6d2c5c1e-2b1b-4e3a-8f7c-0b9a1c2d3e4f@sbc.example.org'],
    ['1', 'sip:support@callcenter.example.org', '6d2c5c1e-2b1b-4e3a-8f7c-0b9a1c2d3e4f@sbc.example.org'],
  ]);
  t.equal(opensips[0]!.identity?.siprecSessionId, 'l5Ox1ajNRSmpwW2Y7m4tNQ==');
  t.ok(sink.ended.filter((e) => e.stream.callId === 'B2B.314.8861211.1716976413').every((e) => e.reason === 'bye'));
});

t.test('the negotiated codec decodes: real speech RTP to each answered port becomes windows (Opus, PCMU, PCMA)', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { media, sink, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  const speech = await readAudioFile(sharedSpeech('audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac'));
  const twoSec = speech.samples.subarray(0, 2 * speech.sampleRate);
  for (const [name, codec] of [['opensips-siprec-invite.sip', 'opus'], ['cisco-cube-siprec-invite.sip', 'PCMU'],
    ['bad/labels-mismatch.sip', 'PCMU']] as const) {
    const req = loadSipFixture(name);
    const out = await registry.invite(req);
    t.equal(out.status, 200, name);
    for (const s of out.call!.streams()) {
      t.equal(s.audio.encoding, codec, `${name} leg ${s.leg}`);
      await sendAudio(twoSec, speech.sampleRate, { codec: s.audio.encoding as CodecName, payloadType: s.audio.payloadType,
        to: { address: '127.0.0.1', port: s.session.port }, realtime: false });
    }
    const ids = out.call!.streams().map((s) => s.session.descriptor.streamId);
    await waitFor(() => ids.every((id) => sink.windowsOf(id).length >= 4), 2_000, `${name}: 4 windows on every leg`);
    for (const id of ids) t.ok(sink.windowsOf(id).length >= 4, `${name}: windows cut from the ${codec} leg`);
    registry.bye(req.callId);
  }
  // PCMA: the AudioCodes offer restricted to PCMA.
  const ac = loadSipFixture('audiocodes-siprec-invite.sip');
  const pcma = await registry.invite(variant(ac, { body: ac.body.replaceAll('RTP/AVP 8 0 18 101', 'RTP/AVP 8 101') }));
  const leg = pcma.call!.streams()[0]!;
  t.equal(leg.audio.encoding, 'PCMA');
  await sendAudio(twoSec, speech.sampleRate, { codec: 'PCMA', payloadType: 8, to: { address: '127.0.0.1', port: leg.session.port }, realtime: false });
  await waitFor(() => sink.windowsOf(leg.session.descriptor.streamId).length >= 4, 2_000, '4 windows on the PCMA leg');
  t.ok(sink.windowsOf(leg.session.descriptor.streamId).length >= 4, 'windows cut from the PCMA leg');
  registry.bye(ac.callId);
  t.equal(media.size, 0);
});

t.test('bad inputs: SIP status, counter, one rejection each, nothing allocated', async (t) => {
  const { media, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  const cases: [string, StoredRequest, number, keyof typeof registry.counters][] = [
    ['garbage SDP', loadSipFixture('bad/garbage-sdp.sip'), 400, 'rejected_bad_request'],
    ['truncated SDP', loadSipFixture('bad/truncated-sdp.sip'), 400, 'rejected_bad_request'],
    ['missing SDP part', loadSipFixture('bad/missing-sdp-part.sip'), 400, 'rejected_bad_request'],
    ['wrong boundary', loadSipFixture('bad/wrong-boundary.sip'), 400, 'rejected_bad_request'],
    ['no common codec', loadSipFixture('bad/no-common-codec.sip'), 488, 'rejected_no_common_codec'],
  ];
  const base = loadSipFixture('rfc7866-siprec-invite.sip');
  const manyStreams = base.body.replace('m=video 12244 RTP/AVP 31\r\na=sendonly\r\na=label:98\r\n',
    Array.from({ length: 5 }, (_, i) => `m=audio ${13000 + 2 * i} RTP/AVP 0\r\na=sendonly\r\na=label:x${i}\r\n`).join(''));
  cases.push(['too many streams', variant(base, { callId: 'many', body: manyStreams }), 488, 'rejected_too_many_streams']);
  cases.push(['unknown Require', variant(base, { callId: 'req', headers: { require: 'siprec, 100rel' } }), 420, 'rejected_bad_extension']);
  cases.push(['Session-Expires too small', variant(base, { callId: 'se', headers: { 'session-expires': '30' } }), 422,
    'rejected_session_interval']);
  cases.push(['body too large', variant(base, { callId: 'big', body: base.body + ' '.repeat(300 * 1024) }), 413,
    'rejected_body_too_large']);
  cases.push(['delayed offer', variant(base, { callId: 'empty', body: '' }), 488, 'rejected_no_offer']);
  for (const [what, req, status, counter] of cases) {
    const before = registry.counters[counter];
    const out = await registry.invite(req);
    t.equal(out.status, status, what);
    t.equal(registry.counters[counter], before + 1, `${what}: ${counter} counted`);
    t.notOk(out.sdp, `${what}: no SDP`);
    t.equal(media.size, 0, `${what}: nothing allocated`);
    t.equal(registry.size, 0, `${what}: no call left`);
  }
  const se = await registry.invite(variant(base, { callId: 'se2', headers: { 'session-expires': '30' } }));
  t.equal(se.headers['Min-SE'], '90');
  const ext = await registry.invite(variant(base, { callId: 'req2', headers: { require: 'siprec, 100rel' } }));
  t.equal(ext.headers.Unsupported, '100rel');
  t.match(ext.headers.Warning, /^399 devox "unsupported option tags: 100rel"$/);

  // Broken / hostile / unmatched metadata: still recorded, participants unknown, counted.
  for (const [name, counter] of [
    ['bad/malformed-metadata.sip', 'metadata_broken'],
    ['bad/billion-laughs-metadata.sip', 'metadata_hostile'],
    ['bad/labels-mismatch.sip', 'metadata_unmatched'],
  ] as const) {
    const req = loadSipFixture(name);
    const out = await registry.invite(req);
    t.equal(out.status, 200, name);
    t.equal(registry.counters[counter], 1, `${name}: ${counter}`);
    t.same(out.call!.streams().map((s) => s.identity.participantAor), ['unknown', 'unknown'], name);
    registry.bye(req.callId);
  }
  t.equal(media.size, 0);
});

t.test('duplicate INVITE while in progress -> 482; re-offer for an unknown call -> 481', async (t) => {
  const { media, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('cisco-cube-siprec-invite.sip');
  const [a, b] = await Promise.all([registry.invite(req), registry.invite(req)]);
  t.same([a.status, b.status], [200, 482]);
  t.equal(registry.counters.rejected_duplicate, 1);
  const unknown = await registry.modify(variant(req, { callId: 'nope' }));
  t.equal(unknown.status, 481);
  registry.bye(req.callId);
  t.equal(media.size, 0);
});

t.test('re-INVITE / UPDATE: hold, resume, codec change, added and removed stream, failed re-offer', async (t) => {
  const { media, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('audiocodes-siprec-invite.sip');
  const first = await registry.invite(req);
  t.equal(first.status, 200);
  const call = first.call!;
  const ids = () => call.streams().map((s) => s.session.descriptor.streamId);
  const ports0 = answerPorts(first.sdp);
  const ids0 = ids();
  let version = 1535448829;
  const reoffer = (body: string, method = 'INVITE') =>
    registry.modify(variant(req, { method, body: body.replace(/(o=AudiocodesGW 1535449437 )\d+/, `$1${++version}`) }));

  // Hold: a=inactive on both streams keeps the sessions, answers inactive.
  const hold = await reoffer(req.body.replaceAll('a=sendonly', 'a=inactive'));
  t.equal(hold.status, 200);
  t.same(answerPorts(hold.sdp), ports0, 'hold keeps the ports');
  t.same(ids(), ids0, 'hold keeps the media sessions');
  t.same(sdpTransform.parse(hold.sdp!).media.map((m) => m.direction), ['inactive', 'inactive']);
  t.equal(sdpTransform.parse(hold.sdp!).origin.sessionVersion, 2, 'o= version grows with each new answer');

  // Resume.
  const resume = await reoffer(req.body, 'UPDATE');
  t.same(answerPorts(resume.sdp), ports0);
  t.same(sdpTransform.parse(resume.sdp!).media.map((m) => m.direction), ['recvonly', 'recvonly']);
  t.same(ids(), ids0);

  // Codec change on stream 2 (now PCMA only): that stream moves to a new session, stream 1 stays.
  const parts = req.body.split('m=audio 6040');
  const pcmaOnly = parts[0] + 'm=audio 6040' + parts[1]!.replace('RTP/AVP 8 0 18 101', 'RTP/AVP 8 101');
  const change = await reoffer(pcmaOnly);
  t.equal(change.status, 200);
  t.equal(ids()[0], ids0[0], 'unchanged stream keeps its session');
  t.not(ids()[1], ids0[1], 'codec change gets a new session');
  t.same(call.streams().map((s) => s.audio.encoding), ['PCMU', 'PCMA']);
  t.equal(media.size, 2, 'old session of the changed stream released');
  t.same(sdpTransform.parse(change.sdp!).media[1]!.rtp.map((r) => r.codec), ['PCMA', 'telephone-event']);

  // Added stream (label 3).
  const added = pcmaOnly.replace(/(--boundary_ac1fffff85b\r\nContent-Type: application\/rs-metadata)/,
    'm=audio 6050 RTP/AVP 0\r\na=label:3\r\na=sendonly\r\n\r\n$1');
  const add = await reoffer(added);
  t.equal(add.status, 200);
  t.equal(media.size, 3);
  t.equal(answerPorts(add.sdp).length, 3);
  t.equal(call.streams()[2]!.leg, '3');
  t.equal(call.streams()[2]!.identity.participantAor, 'unknown', 'stream absent from the metadata: unknown');

  // Removed stream: port 0 on label 1.
  const removed = added.replace('m=audio 6030 RTP/AVP', 'm=audio 0 RTP/AVP');
  const rem = await reoffer(removed);
  t.equal(rem.status, 200);
  t.equal(media.size, 2);
  t.same(answerPorts(rem.sdp)[0], 0, 'removed stream answered with port 0');
  t.same(call.streams().map((s) => s.leg), ['2', '3']);

  // A failed re-offer (no common codec) leaves the call as it was.
  const before = ids();
  const bad = await reoffer(removed.replaceAll(/RTP\/AVP [\d ]+/g, 'RTP/AVP 18'));
  t.equal(bad.status, 488);
  t.same(ids(), before);
  t.equal(registry.counters.reinvites_rejected, 1);
  const garbage = await reoffer('v=0\r\nnot sdp\r\n');
  t.equal(garbage.status, 400);
  t.same(ids(), before);

  // Body-less re-INVITE (session refresh): our current SDP, same version.
  const refresh = await registry.modify(variant(req, { body: '', headers: { 'content-type': undefined } }));
  t.equal(refresh.status, 200);
  t.equal(refresh.sdp, call.localSdp);
  const update = await registry.modify(variant(req, { method: 'UPDATE', body: '', headers: { 'content-type': undefined } }));
  t.equal(update.status, 200);
  t.notOk(update.sdp, 'UPDATE without an offer gets no SDP');

  registry.bye(req.callId);
  t.equal(media.size, 0, 'BYE after re-offers frees every port');
  t.equal(registry.counters.streams_allocated, registry.counters.streams_released);
});

t.test('a hold longer than media.streamTimeoutMs keeps the legs: silence is reported, the resume keeps the ports', async (t) => {
  const silences: Array<[string, boolean]> = [];
  const { media, sink, registry } = setup(47100, 47199, {}, undefined, 300, false, (d, silent) => silences.push([d.streamId, silent]));
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('cisco-cube-siprec-invite.sip');
  const first = await registry.invite(req);
  const ids0 = first.call!.streams().map((s) => s.session.descriptor.streamId);
  const ports0 = answerPorts(first.sdp);
  const hold = await registry.modify(variant(req, { body: req.body.replaceAll('a=sendonly', 'a=inactive').replace('1247 9367', '1247 9368') }));
  t.equal(hold.status, 200);
  await waitFor(() => media.silentCount === 2, 2_000, 'both held legs reported silent');
  await sleep(400); // well past the timeout
  t.equal(media.size, 2, 'a silent SIP leg is not ended');
  t.same(sink.ended.filter((e) => ids0.includes(e.stream.streamId)), [], 'no stream end on silence');
  t.same(silences.map(([, s]) => s), [true, true], 'each leg reported silent once');
  const resume = await registry.modify(variant(req, { body: req.body.replace('1247 9367', '1247 9369') }));
  t.equal(resume.status, 200);
  t.same(first.call!.streams().map((s) => s.session.descriptor.streamId), ids0, 'same media sessions');
  t.same(answerPorts(resume.sdp), ports0, 'the resume keeps the ports');
  registry.bye(req.callId);
  t.equal(media.size, 0);
  t.equal(media.silentCount, 0, 'ended legs are no longer counted silent');
  t.same(sink.ended.filter((e) => ids0.includes(e.stream.streamId)).map((e) => e.reason), ['bye', 'bye']);
});

t.test('CANCEL while ports are being allocated -> 487 and nothing stays allocated', async (t) => {
  const { media, registry } = setup(47100, 47199);
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('ribbon-sbc-siprec-invite.sip');
  const pending = registry.invite(req);
  t.ok(registry.cancel(req.callId), 'CANCEL found the pending INVITE');
  const out = await pending;
  t.equal(out.status, 487);
  t.equal(registry.counters.cancelled, 1);
  t.equal(media.size, 0);
  t.equal(registry.size, 0);
  t.notOk(registry.cancel(req.callId), 'CANCEL after the final response does nothing');
});

t.test('max concurrent calls: 503 with Retry-After, nothing half set up', async (t) => {
  const { media, registry } = setup(47100, 47199, { maxConcurrentCalls: 2 });
  t.teardown(() => media.closeAll());
  const base = loadSipFixture('cisco-cube-siprec-invite.sip');
  const outs = await Promise.all([1, 2, 3, 4].map((i) => registry.invite(variant(base, { callId: `cap-${i}` }))));
  t.same(outs.map((o) => o.status), [200, 200, 503, 503]);
  t.equal(outs[2]!.headers['Retry-After'], '7');
  t.equal(registry.counters.rejected_over_capacity, 2);
  t.equal(media.size, 4, 'only the two accepted calls hold ports');
  registry.bye('cap-1');
  const again = await registry.invite(variant(base, { callId: 'cap-5' }));
  t.equal(again.status, 200, 'a slot freed by BYE is usable');
  registry.close();
  t.equal(media.size, 0);
  const after = await registry.invite(variant(base, { callId: 'cap-6' }));
  t.equal(after.status, 503, 'closed registry refuses');
});

t.test('media.maxStreams shared with other ingresses: 503 rejected_over_capacity, slots given back', async (t) => {
  // Ports for many calls, but 3 stream slots: one 2-stream call fits; the next gets one slot and gives it back.
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: 47400, rtpPortMax: 47499 } } });
  const capacity = new StreamCapacity(3);
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink: new RecordingSink(), log, capacity });
  const registry = new CallRegistry({ media, policy, address: '127.0.0.1', log });
  t.teardown(() => media.closeAll());
  const base = loadSipFixture('opensips-siprec-invite.sip');
  const outs = await Promise.all(Array.from({ length: 6 }, (_, i) => registry.invite(variant(base, { callId: `slots-${i}` }))));
  const statuses = outs.map((o) => o.status);
  t.equal(statuses.filter((s) => s === 200).length, 1, 'one 2-stream call fits in 3 slots');
  t.equal(statuses.filter((s) => s === 503).length, 5);
  t.ok(outs.filter((o) => o.status === 503).every((o) => o.headers['Retry-After'] === '7'), 'Retry-After on each 503');
  t.equal(registry.counters.rejected_over_capacity, 5, 'counted as over capacity, not as missing ports');
  t.equal(registry.counters.rejected_media_unavailable, 0);
  t.equal(capacity.active, 2, 'only the admitted call holds slots');
  t.equal(media.size, 2);
  // Offers are set up concurrently: a refused call had one or both of its streams refused.
  t.ok(capacity.refused.rtp >= 5 && capacity.refused.rtp <= 10, `refused streams counted (${capacity.refused.rtp})`);
  const ok = outs.findIndex((o) => o.status === 200);
  registry.bye(`slots-${ok}`);
  await sleep(50);
  t.equal(capacity.active, 0, 'BYE gives the slots back');
  t.equal((await registry.invite(variant(base, { callId: 'slots-again' }))).status, 200, 'admitted again');
  registry.close();
  t.equal(capacity.active, 0);
});

t.test('INVITE flood against a tiny port range: 200 or 503, never a leak', async (t) => {
  // 3 RTP/RTCP pairs: one 2-stream call fits, a second gets one port and must give it back.
  const { media, registry } = setup(47300, 47305);
  t.teardown(() => media.closeAll());
  const base = loadSipFixture('opensips-siprec-invite.sip');
  const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => registry.invite(variant(base, { callId: `flood-${i}` }))));
  const statuses = outs.map((o) => o.status);
  t.equal(statuses.filter((s) => s === 200).length, 1, 'exactly one call fits');
  t.equal(statuses.filter((s) => s === 503).length, 19);
  t.ok(outs.filter((o) => o.status === 503).every((o) => o.headers['Retry-After'] === '7'));
  t.equal(registry.counters.rejected_media_unavailable, 19);
  t.equal(media.size, 2, 'the accepted call holds two sessions, the rest none');
  t.equal(registry.counters.streams_allocated - registry.counters.streams_released, 2);
  const winner = outs.find((o) => o.status === 200)!.call!;
  registry.bye(winner.callId);
  t.equal(media.size, 0);
  await sleep(50); // sockets close asynchronously
  const next = await Promise.all([registry.invite(variant(base, { callId: 'after-1' }))]);
  t.equal(next[0]!.status, 200, 'ports are usable again after the flood');
  registry.bye('after-1');
  t.equal(media.size, 0);
});

t.test('session timer with stackRefreshes: calls we refresh (uas) are left to the SIP stack, calls the UAC refreshes still expire', async (t) => {
  const expired: string[] = [];
  const { media, registry } = setup(47200, 47299, { minSessionExpiresSec: 1 }, () => expired.push('x'), 5000, true);
  t.teardown(() => media.closeAll());
  const base = loadSipFixture('ribbon-sbc-siprec-invite.sip');
  const ours = await registry.invite(variant(base, { callId: 'we-refresh', headers: { 'session-expires': '2;refresher=uas', 'min-se': undefined } }));
  const theirs = await registry.invite(variant(base, { callId: 'they-refresh', headers: { 'session-expires': '2;refresher=uac', 'min-se': undefined } }));
  t.same(ours.timer, { intervalSec: 2, refresher: 'uas' });
  t.equal(ours.headers['Session-Expires'], '2;refresher=uas', 'the 2xx still announces the timer (the stack refreshes from it)');
  t.same(theirs.timer, { intervalSec: 2, refresher: 'uac' });
  await waitFor(() => registry.get('they-refresh') === undefined, 3_000, 'the unrefreshed call to end');
  t.equal(registry.get('they-refresh'), undefined, 'unrefreshed UAC-refreshed call ended');
  t.equal(expired.length, 1, 'BYE asked for once');
  await sleep(1200); // past the 2 s interval of the uas call
  t.equal(registry.get('we-refresh')?.state, 'active', 'uas call not ended by the registry');
  t.equal(media.size, 2, 'its two ports still up');
  registry.bye('we-refresh');
  t.equal(media.size, 0);
});

t.test('session timer: a session not refreshed in time is ended and its ports freed', async (t) => {
  let expired = '';
  const { media, registry } = setup(47100, 47199, { minSessionExpiresSec: 1 }, () => (expired = 'yes'));
  t.teardown(() => media.closeAll());
  const req = variant(loadSipFixture('ribbon-sbc-siprec-invite.sip'), { headers: { 'session-expires': '2;refresher=uac', 'min-se': undefined } });
  const out = await registry.invite(req);
  t.equal(out.status, 200);
  t.equal(out.headers['Session-Expires'], '2;refresher=uac');
  t.same(out.timer, { intervalSec: 2, refresher: 'uac' });
  // A refresh (UPDATE without body) restarts the timer.
  await sleep(800);
  const refresh = await registry.modify(variant(req, { method: 'UPDATE', body: '', headers: { 'content-type': undefined } }));
  t.equal(refresh.status, 200);
  await sleep(800);
  t.equal(media.size, 2, 'refreshed session still running');
  await waitFor(() => media.size === 0, 2_000, 'the expired session to free its ports');
  t.equal(expired, 'yes');
  t.equal(registry.counters.session_timer_expired, 1);
  t.equal(media.size, 0);
  t.equal(registry.size, 0);
});
