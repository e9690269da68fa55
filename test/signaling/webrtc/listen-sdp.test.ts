/**
 * Listen-in's SDP against a real browser, without a mediasoup worker: headless Chromium takes
 * the sendonly offer DevoX builds from (made-up) transport and consumer parameters, receives a
 * track and answers recvonly; DevoX reads the DTLS role and fingerprint from that answer and
 * refuses answers that are not one.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import sdpTransform from 'sdp-transform';
import { buildListenOffer, parseListenAnswer } from '../../../src/signaling/webrtc/listen-sdp.js';
import { SdpOfferError } from '../../../src/signaling/sip/errors.js';
import type { MsRtpParameters } from '../../../src/signaling/webrtc/types.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';

const transport = {
  iceParameters: { usernameFragment: randomBytes(8).toString('hex'), password: randomBytes(16).toString('hex'), iceLite: true },
  iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', protocol: 'udp' as const, port: 50123, type: 'host' as const }],
  dtlsParameters: {
    role: 'auto' as const,
    fingerprints: [{ algorithm: 'sha-256', value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':') }],
  },
};
/** What a mediasoup consumer of DevoX's Opus producer looks like (router payload type 100). */
const consumer: MsRtpParameters = {
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, parameters: { 'sprop-stereo': 0 }, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 123456789 }],
  rtcp: { cname: 'devox-abc', reducedSize: true },
};

t.test('the offer: sendonly Opus with the consumer’s payload type and SSRC, ICE-lite, actpass', async (t) => {
  const sdp = sdpTransform.parse(buildListenOffer(transport, consumer, { streamId: 'devox-listen-1', trackId: 'leg-1' }));
  t.equal(sdp.icelite, 'ice-lite');
  const m = sdp.media[0]!;
  t.match(m, { type: 'audio', port: 50123, protocol: 'UDP/TLS/RTP/SAVPF', direction: 'sendonly', setup: 'actpass', mid: '0' });
  t.match(m.rtp, [{ payload: 100, codec: 'opus', rate: 48000, encoding: 2 }]);
  t.match(m.ssrcs, [{ id: 123456789, attribute: 'cname', value: 'devox-abc' }, { id: 123456789, attribute: 'msid' }]);
  t.equal(m.fingerprint?.hash, transport.dtlsParameters.fingerprints[0]!.value);
});

t.test('a real Chromium takes the offer, gets a track, answers recvonly; DevoX reads the answer', { skip: CHROMIUM_BIN ? false : CHROMIUM_MISSING }, async (t) => {
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const offer = buildListenOffer(transport, consumer, { streamId: 'devox-listen-1', trackId: 'leg-1' });
  const got = await page.evaluate(async (sdp) => {
    const pc = new RTCPeerConnection();
    let track = '';
    pc.ontrack = (e) => (track = `${e.track.kind} ${e.streams[0]?.id ?? ''}`);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    const out = { answer: pc.localDescription!.sdp, track, signaling: pc.signalingState, direction: pc.getTransceivers()[0]!.currentDirection };
    pc.close();
    return out;
  }, offer);
  t.equal(got.signaling, 'stable', 'Chromium accepted the offer');
  t.equal(got.direction, 'recvonly');
  t.equal(got.track, 'audio devox-listen-1', 'a track of the offered stream');
  const { dtlsParameters } = parseListenAnswer(got.answer);
  t.equal(dtlsParameters.role, 'client', 'the browser is DTLS client (a=setup:active)');
  t.match(dtlsParameters.fingerprints[0], { algorithm: 'sha-256', value: /^[0-9A-F:]{95}$/ });
});

t.test('answers that are not one are refused', async (t) => {
  const answer = (direction: string, extra = 'a=fingerprint:sha-256 AA:BB\r\na=setup:active\r\n') =>
    `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 100\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=${direction}\r\n${extra}a=rtpmap:100 opus/48000/2\r\n`;
  t.equal(parseListenAnswer(answer('recvonly')).dtlsParameters.role, 'client');
  t.equal(parseListenAnswer(answer('recvonly', 'a=fingerprint:sha-256 AA:BB\r\na=setup:passive\r\n')).dtlsParameters.role, 'server');
  t.throws(() => parseListenAnswer(answer('sendonly')), new SdpOfferError("answer's audio m-line is sendonly: it must receive"));
  t.throws(() => parseListenAnswer(answer('recvonly', 'a=setup:active\r\n')), new SdpOfferError('answer has no DTLS fingerprint'));
  t.throws(() => parseListenAnswer('v=0\r\n'), SdpOfferError);
});
