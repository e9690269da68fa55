/**
 * Offer reading over stored SIPREC INVITEs (RFC 7866/7865 example and SBC-styled bodies:
 * Oracle/Acme Packet, Cisco CUBE, AudioCodes, Ribbon/Sonus, OpenSIPS) and a plain fork:
 * multipart split, SDP, metadata -> participant per label, codec choice, answer SDP.
 */
import t from 'tap';
import sdpTransform from 'sdp-transform';
import { parseMediaType, splitMultipart } from '../../../src/signaling/sip/multipart-body.js';
import { readOffer, planStreams, isSiprecRequest, parseNameAddr } from '../../../src/signaling/sip/recording-offer.js';
import { parseRecordingMetadata } from '../../../src/signaling/sip/rs-metadata.js';
import { chooseCodec } from '../../../src/signaling/sip/codec-choice.js';
import { buildAnswer } from '../../../src/signaling/sip/sdp-answer.js';
import { parseSdpOffer } from '../../../src/signaling/sip/sdp-offer.js';
import { MetadataError, SipError } from '../../../src/signaling/sip/errors.js';
import type { StreamPlan } from '../../../src/signaling/sip/types.js';
import { loadSipFixture, variant } from '../../helpers/sip-messages.js';

const limits = { maxBodyBytes: 256 * 1024, maxMetadataBytes: 64 * 1024 };
const pass = ['X-Original-Call-ID'];

function plan(name: string): { plans: StreamPlan[]; unmatchedLabels: string[]; offer: ReturnType<typeof readOffer> } {
  const req = loadSipFixture(name);
  const offer = readOffer(req, limits);
  return { ...planStreams({ sipCallId: req.callId, req, passThroughHeaders: pass }, offer), offer };
}

function who(p: StreamPlan): string {
  return `${p.leg}:${p.identity.participantAor}:${p.identity.participantName}:${p.chosen?.audio.encoding ?? 'declined'}`;
}

t.test('RFC 7866 INVITE with RFC 7865 metadata: labels map to the sending participant', async (t) => {
  const { plans, unmatchedLabels, offer } = plan('rfc7866-siprec-invite.sip');
  t.equal(offer.mode, 'siprec');
  t.equal(offer.metadataStatus, 'ok');
  t.equal(offer.metadata?.sessionId, 'hVpd7YQgRW2nD22h7q60JQ==');
  t.same(plans.map(who), [
    '96:sip:bob@biloxy.com:Bob:PCMU',
    '97:sip:alice@atlanta.com:Alice:PCMU',
    '98:sip:alice@atlanta.com:Alice:declined',
  ]);
  t.match(plans[2]!.declined, /video/);
  t.same(unmatchedLabels, []);
  const id = plans[0]!.identity;
  t.equal(id.sipCallId, 'd253c800-b0d1ea39-4a7dd-3f0e20a');
  t.equal(id.siprecSessionId, 'hVpd7YQgRW2nD22h7q60JQ==');
  t.equal(id.siprecStreamId, 'UAAMm5GRQKSCMVvLyl4rFw==');
  t.equal(id.receiverAors, 'sip:alice@atlanta.com');
  t.equal(id.participants, 'sip:alice@atlanta.com, sip:bob@biloxy.com');
  t.equal(id.recordedSipSessionId, 'ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2');
  // G723 (PT 4) is offered by static payload type only and resolved from the RFC 3551 table.
  t.same(plans[0]!.offered.formats.map((f) => `${f.payloadType}:${f.name}/${f.clockRate}`), ['0:PCMU/8000', '4:G723/8000', '8:PCMA/8000']);
});

t.test('Oracle/Acme Packet style (pre-RFC namespace, id attributes, send inside participant, LF line ends)', async (t) => {
  const { plans, offer, unmatchedLabels } = plan('acme-packet-siprec-invite-lf.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.equal(offer.metadata?.sessionId, 'PTNaxz5fTMpgRKmh2nhZ3A==');
  t.same(plans.map(who), ['16777227:sip:9000@192.168.50.102:Front Desk 9000:PCMU', '16777228:sip:+15125550142@192.168.50.10:+15125550142:PCMU']);
  t.same(unmatchedLabels, []);
  t.equal(plans[0]!.identity['X-Original-Call-ID'], '8f2d1a44-77b1-4c2f-9a1e-3d5cbf0f11aa@pbx.example.net');
  t.same(plans[0]!.chosen!.formats.map((f) => f.encoding), ['PCMU', 'telephone-event']);
  t.equal(plans[0]!.chosen!.fmtp.get(101), '0-15');
});

t.test('Cisco CUBE style (third body part application/gtd, no closing delimiter, media-level c=)', async (t) => {
  const req = loadSipFixture('cisco-cube-siprec-invite.sip');
  const parts = splitMultipart(req.body, parseMediaType(req.header('content-type'))!);
  t.same(parts.map((p) => p.contentType.type), ['application/sdp', 'application/rs-metadata+xml', 'application/gtd']);
  t.equal(parts[0]!.headers['content-disposition'], 'session;handling=required');
  const { plans, offer } = plan('cisco-cube-siprec-invite.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.same(plans.map(who), ['1:sip:+14085550111@10.1.1.20::PCMU', '2:sip:7300@10.1.1.30:Agent 7300:PCMU']);
  t.equal(plans[0]!.chosen!.ptime, 20);
});

t.test('AudioCodes style (vendor extension namespace, PCMA listed first, G729 offered)', async (t) => {
  const { plans, offer } = plan('audiocodes-siprec-invite.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.equal(offer.metadata?.sipSessionId, '8a3b1f4c2d5e6f708192a3b4c5d6e7f8;remote=1f2e3d4c5b6a79880f1e2d3c4b5a6978');
  // Both G.711 laws offered: PCMU wins the tie by our order even though the SBC lists PCMA first.
  t.same(plans.map(who), ['1:sip:+4930555123@pstn.example.de:Anrufer:PCMU', '2:sip:4711@pbx.example.de:Hotline 4711:PCMU']);
});

t.test('Ribbon/Sonus style (tns: prefixed elements, aor without scheme, escaped entities in extension data)', async (t) => {
  const { plans, offer } = plan('ribbon-sbc-siprec-invite.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.same(plans.map(who), ['1:2249888012@172.16.195.72::PCMU', '2:2249888500@172.16.198.55:Extension 8500:PCMU']);
});

t.test('OpenSIPS siprec module: Opus preferred, telephone-event only at the codec clock rate', async (t) => {
  const { plans, offer } = plan('opensips-siprec-invite.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.same(plans.map(who), ['0:sip:+33144556677@carrier.example.fr:"Client":opus', '1:sip:support@callcenter.example.org:Support & Sales:opus']);
  t.same(plans[0]!.chosen!.formats.map((f) => `${f.payloadType}:${f.encoding}/${f.clockRate}`), ['111:opus/48000', '101:telephone-event/48000']);
  t.same(plans[1]!.chosen!.formats.map((f) => f.encoding), ['opus'], 'telephone-event/8000 does not ride with opus/48000');
  t.equal(plans[0]!.chosen!.fmtp.get(111), 'minptime=10;useinbandfec=1');
  t.equal(plans[0]!.identity['X-Original-Call-ID'], '6d2c5c1e-2b1b-4e3a-8f7c-0b9a1c2d3e4f@sbc.example.org');
});

t.test('plain INVITE: one stream, identity from P-Asserted-Identity (else From)', async (t) => {
  const { plans, offer } = plan('plain-fork-invite.sip');
  t.equal(offer.mode, 'plain');
  t.equal(offer.metadataStatus, 'none');
  t.same(plans.map(who), ['fork:sip:+13125550199@pbx.example.com;user=phone:Maria Lopez:PCMU']);
  const req = loadSipFixture('plain-fork-invite.sip');
  const noPai = variant(req, { headers: { 'p-asserted-identity': undefined } });
  const p2 = planStreams({ sipCallId: noPai.callId, req: noPai, passThroughHeaders: pass }, readOffer(noPai, limits));
  t.equal(p2.plans[0]!.identity.participantAor, 'sip:201@pbx.example.com');
  t.equal(p2.plans[0]!.identity.participantName, 'Front Desk');
  // Two audio m-lines in a plain fork: the second is declined.
  const two = variant(req, { body: req.body + 'm=audio 18272 RTP/AVP 0\r\na=sendonly\r\n' });
  const p3 = planStreams({ sipCallId: two.callId, req: two, passThroughHeaders: pass }, readOffer(two, limits));
  t.same(p3.plans.map((p) => p.chosen !== null), [true, false]);
  t.match(p3.plans[1]!.declined, /single stream/);
});

t.test('SIPREC detection', async (t) => {
  const req = loadSipFixture('rfc7866-siprec-invite.sip');
  t.ok(isSiprecRequest(req));
  t.ok(isSiprecRequest(variant(req, { headers: { require: undefined } })), '+sip.src alone');
  t.notOk(isSiprecRequest(variant(req, { headers: { require: 'timer', contact: '<sip:a@b>' } })));
  t.same(parseNameAddr('"Doe, John" <sip:j@x>;tag=1, <sip:other@y>'), { aor: 'sip:j@x', name: 'Doe, John' });
  t.same(parseNameAddr('sip:bare@host;tag=9'), { aor: 'sip:bare@host', name: '' });
});

t.test('codec order: Opus > L16 (wideband) > PCMU > PCMA, L16/8000 below wideband', async (t) => {
  const sdp = (payloads: string, maps: string) =>
    `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP ${payloads}\r\n${maps}a=sendonly\r\n`;
  const pick = (payloads: string, maps: string) => {
    const d = chooseCodec(parseSdpOffer(sdp(payloads, maps)).streams[0]!);
    return d.ok ? `${d.chosen.audio.encoding}/${d.chosen.audio.clockRate}` : `none: ${d.reason}`;
  };
  t.equal(pick('8 0 96 97', 'a=rtpmap:96 L16/16000\r\na=rtpmap:97 opus/48000/2\r\n'), 'opus/48000');
  t.equal(pick('8 0 96', 'a=rtpmap:96 L16/16000\r\n'), 'L16/16000');
  t.equal(pick('8 96 97', 'a=rtpmap:96 L16/16000\r\na=rtpmap:97 L16/32000\r\n'), 'L16/32000');
  t.equal(pick('8 0', ''), 'PCMU/8000');
  t.equal(pick('8', ''), 'PCMA/8000');
  t.equal(pick('8 96', 'a=rtpmap:96 L16/8000\r\n'), 'L16/8000');
  t.equal(pick('96 8', 'a=rtpmap:96 L16/16000/2\r\n'), 'L16/16000', 'stereo L16 is taken (media downmixes it)');
  t.equal(pick('96 8', 'a=rtpmap:96 L16/96000\r\n'), 'PCMA/8000', 'L16 above 48 kHz is not');
  t.match(pick('18 9', ''), /none: no supported audio codec \(offered: G729\/8000 G722\/8000\)/);
  const savp = parseSdpOffer(sdp('0', '').replace('RTP/AVP', 'RTP/SAVP')).streams[0]!;
  t.match(chooseCodec(savp), { ok: false, reason: /RTP\/SAVP not supported/ });
});

t.test('answer SDP: same m-line order, recvonly on allocated ports, port 0 for declined, inactive on hold', async (t) => {
  const { plans } = plan('rfc7866-siprec-invite.sip');
  const ports = [41000, 41002];
  const text = buildAnswer({
    address: '127.0.0.1',
    sessionId: '123',
    version: 1,
    streams: plans.map((p, i) => ({ offered: p.offered, accepted: p.chosen ? { port: ports[i]!, chosen: p.chosen } : null })),
  });
  const a = sdpTransform.parse(text);
  t.equal(a.media.length, 3);
  t.same(a.media.map((m) => [m.type, m.port, m.direction ?? null, String(m.label)]), [
    ['audio', 41000, 'recvonly', '96'],
    ['audio', 41002, 'recvonly', '97'],
    ['video', 0, null, '98'],
  ]);
  t.same(a.media[0]!.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}`), ['0 PCMU/8000']);
  t.equal(a.connection?.ip, '127.0.0.1');
  t.equal(a.origin.sessionVersion, 1);

  const hold = variant(loadSipFixture('rfc7866-siprec-invite.sip'), {});
  const held = readOffer(variant(hold, { body: hold.body.replaceAll('a=sendonly', 'a=inactive') }), limits);
  const plansHeld = planStreams({ sipCallId: 'x', req: hold, passThroughHeaders: [] }, held).plans;
  const heldAnswer = sdpTransform.parse(buildAnswer({ address: '127.0.0.1', sessionId: '1', version: 2,
    streams: plansHeld.map((p, i) => ({ offered: p.offered, accepted: p.chosen ? { port: ports[i]!, chosen: p.chosen } : null })) }));
  t.same(heldAnswer.media.slice(0, 2).map((m) => m.direction), ['inactive', 'inactive']);
});

t.test('bad bodies: garbage / truncated SDP, missing part, wrong boundary -> 400', async (t) => {
  for (const [name, why] of [
    ['bad/garbage-sdp.sip', /does not start with v=0/],
    ['bad/truncated-sdp.sip', /invalid port|well-formed/],
    ['bad/missing-sdp-part.sip', /no application\/sdp part/],
    ['bad/wrong-boundary.sip', /boundary "not-the-one" from Content-Type never appears/],
  ] as const) {
    const err = t.throws(() => readOffer(loadSipFixture(name), limits)) as SipError;
    t.ok(err instanceof SipError, name);
    t.equal(err.status, 400, name);
    t.equal(err.counter, 'rejected_bad_request', name);
    t.match(err.message, why, name);
  }
  const req = loadSipFixture('plain-fork-invite.sip');
  const cases: [string, Partial<{ body: string; ct: string }>, number][] = [
    ['no body (delayed offer)', { body: '' }, 488],
    ['json body', { ct: 'application/json', body: '{}' }, 415],
    ['multipart without boundary', { ct: 'multipart/mixed' }, 400],
    ['SDP without m= line', { body: 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n' }, 400],
    ['SDP without c= line', { body: 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n' }, 400],
    ['duplicate labels', { body: req.body + 'm=audio 18272 RTP/AVP 0\r\na=label:x\r\nm=audio 18274 RTP/AVP 0\r\na=label:x\r\n' }, 400],
    ['binary junk', { body: '\u0000\u0001\u0002v=0' }, 400],
    ['body over the cap', { body: 'v=0\r\n' + 'a=x\r\n'.repeat(60_000) }, 413],
  ];
  for (const [what, change, status] of cases) {
    const r = variant(req, { ...(change.body !== undefined ? { body: change.body } : {}),
      ...(change.ct !== undefined ? { headers: { 'content-type': change.ct } } : {}) });
    const err = t.throws(() => readOffer(r, limits), what) as SipError;
    t.equal(err.status, status, what);
  }
});

t.test('bad metadata never rejects: status says why, participants are unknown', async (t) => {
  for (const [name, status] of [
    ['bad/malformed-metadata.sip', 'broken'],
    ['bad/billion-laughs-metadata.sip', 'hostile'],
  ] as const) {
    const { offer, plans } = plan(name);
    t.equal(offer.metadataStatus, status, name);
    t.ok(offer.metadataProblem, name);
    t.same(plans.map(who), ['1:unknown:unknown:PCMU', '2:unknown:unknown:PCMU'], name);
    t.equal(plans[0]!.identity.metadata, status);
  }
  const { plans, unmatchedLabels, offer } = plan('bad/labels-mismatch.sip');
  t.equal(offer.metadataStatus, 'ok');
  t.same(unmatchedLabels, ['1', '2']);
  t.same(plans.map((p) => p.identity.participantAor), ['unknown', 'unknown']);

  // SIPREC with SDP only: recorded, metadata 'missing'.
  const req = loadSipFixture('bad/labels-mismatch.sip');
  const sdpOnly = req.body.split('--xyz')[1]!.replace(/^\r\nContent-Type: application\/sdp\r\n\r\n/, '');
  const r = variant(req, { body: sdpOnly, headers: { 'content-type': 'application/sdp' } });
  const o = readOffer(r, limits);
  t.equal(o.mode, 'siprec');
  t.equal(o.metadataStatus, 'missing');
});

function metadataErrorKind(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof MetadataError ? err.kind : `not a MetadataError: ${String(err)}`;
  }
  return 'did not throw';
}

t.test('hostile and huge XML is refused before parsing', async (t) => {
  const huge = `<recording xmlns="urn:ietf:params:xml:ns:recording:1">${'<participant participant_id="x"/>'.repeat(5000)}</recording>`;
  t.equal(metadataErrorKind(() => parseRecordingMetadata(huge, 64 * 1024)), 'too_large');
  const xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><recording>&x;</recording>';
  t.equal(metadataErrorKind(() => parseRecordingMetadata(xxe, 64 * 1024)), 'hostile');
  const lowerCase = '<!doctype recording><recording/>';
  t.equal(metadataErrorKind(() => parseRecordingMetadata(lowerCase, 64 * 1024)), 'hostile');
  const deep = `<recording>${'<a>'.repeat(2000)}${'</a>'.repeat(2000)}</recording>`;
  t.equal(metadataErrorKind(() => parseRecordingMetadata(deep, 64 * 1024)), 'broken');
  const notRecording = '<?xml version="1.0"?><foo/>';
  t.equal(metadataErrorKind(() => parseRecordingMetadata(notRecording, 64 * 1024)), 'broken');
  const md = parseRecordingMetadata('<recording xmlns="urn:ietf:params:xml:ns:recording:1"/>', 1024);
  t.same(md.participants, []);
});

t.test('64-bit o= values and long numeric labels keep every digit; declined streams echo the offered format', async (t) => {
  const text = (version: string) =>
    `v=0\r\no=- 9223372036854775001 ${version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n` +
    'm=audio 4000 RTP/AVP 0\r\na=label:123456789012345678901\r\na=sendonly\r\n' +
    'm=application 9 UDP/BFCP *\r\na=label:floor\r\n';
  const a = parseSdpOffer(text('9223372036854775806'));
  const b = parseSdpOffer(text('9223372036854775807'));
  t.equal(a.originSessionId, '9223372036854775001');
  t.not(a.originVersion, b.originVersion, 'a version bump by one is seen');
  t.equal(a.streams[0]!.label, '123456789012345678901');
  const answer = sdpTransform.parse(buildAnswer({ address: '127.0.0.1', sessionId: '1', version: 1, streams: [
    { offered: a.streams[0]!, accepted: null },
    { offered: a.streams[1]!, accepted: null },
  ] }));
  t.same(answer.media.map((m) => `${m.type} ${m.port} ${m.protocol} ${m.payloads}`), ['audio 0 RTP/AVP 0', 'application 0 UDP/BFCP *']);
});
