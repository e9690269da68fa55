/**
 * The SDP bridge against a real browser: headless Chromium makes a microphone offer, DevoX
 * parses it into mediasoup parameters, and Chromium accepts the answer DevoX builds (signaling
 * state stable, audio sendonly, Opus negotiated). The transport parameters in the answer are
 * made up here (no mediasoup worker on this machine): what is under test is the SDP.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildAnswer, parseBrowserOffer } from '../../../src/signaling/webrtc/sdp-bridge.js';
import { SdpOfferError } from '../../../src/signaling/sip/errors.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { CHROME_OFFER } from './session-harness.js';

const fakeTransport = () => ({
  iceParameters: { usernameFragment: randomBytes(8).toString('hex'), password: randomBytes(16).toString('hex'), iceLite: true },
  iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', protocol: 'udp' as const, port: 50123, type: 'host' as const }],
  dtlsParameters: {
    role: 'auto' as const,
    fingerprints: [{ algorithm: 'sha-256', value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':') }],
  },
});

t.test('a real Chromium offer → mediasoup parameters → an answer Chromium accepts', { skip: CHROMIUM_BIN ? false : CHROMIUM_MISSING }, async (t) => {
  // getUserMedia needs a secure context: http://127.0.0.1 is one.
  const http = createServer((_req, res) => res.end('<!doctype html><title>devox</title>'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  const offerSdp = await page.evaluate(async () => {
    const w = window as unknown as { pc: RTCPeerConnection };
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    w.pc = new RTCPeerConnection();
    w.pc.addTransceiver(mic.getAudioTracks()[0]!, { direction: 'sendonly' });
    await w.pc.setLocalDescription(await w.pc.createOffer());
    return w.pc.localDescription!.sdp;
  });
  const offer = parseBrowserOffer(offerSdp);
  const codec = offer.rtpParameters.codecs[0]!;
  t.equal(codec.mimeType, 'audio/opus');
  t.equal(codec.clockRate, 48000);
  t.equal(codec.channels, 2);
  t.ok(codec.payloadType >= 96 && codec.payloadType <= 127, `dynamic payload type ${codec.payloadType}`);
  t.match(offerSdp, new RegExp(`a=rtpmap:${codec.payloadType} opus/48000/2`), 'payload type as in the offer');
  t.equal(offer.rtpParameters.mid, offer.mid);
  t.ok(offer.rtpParameters.encodings![0]!.ssrc! > 0, 'SSRC from a=ssrc');
  t.ok(offer.rtpParameters.rtcp!.cname, 'CNAME from a=ssrc ... cname');
  t.equal(offer.dtlsParameters.role, 'client');
  t.equal(offer.dtlsParameters.fingerprints[0]!.algorithm, 'sha-256');
  t.ok(offer.extensions.some((e) => e.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid'), 'MID header extension kept');
  t.ok(offer.extensions.every((e) => e.id >= 1 && e.id <= 255));

  const answer = buildAnswer(offer, fakeTransport());
  const result = await page.evaluate(async (sdp) => {
    const pc = (window as unknown as { pc: RTCPeerConnection }).pc;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    const tr = pc.getTransceivers()[0]!;
    return {
      state: pc.signalingState,
      direction: tr.currentDirection,
      codecs: tr.sender.getParameters().codecs.map((c) => c.mimeType.toLowerCase()),
    };
  }, answer);
  t.equal(result.state, 'stable', 'Chromium accepted the answer');
  t.equal(result.direction, 'sendonly', 'the microphone is sent, nothing received');
  t.same(result.codecs, ['audio/opus'], 'Opus negotiated');
  t.match(answer, /a=ice-lite/);
  t.match(answer, /a=setup:passive/);
  t.match(answer, /a=candidate:udpcandidate 1 udp 1076302079 127\.0\.0\.1 50123 typ host/);
});


t.test('offers DevoX refuses, with the reason', async (t) => {
  t.doesNotThrow(() => parseBrowserOffer(CHROME_OFFER), 'the fixture itself is fine');
  const o = parseBrowserOffer(CHROME_OFFER);
  t.same(o.extensions, [{ uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }], 'extensions DevoX does not use are dropped');
  t.same(o.rtpParameters.codecs[0]!.parameters, { minptime: 10, useinbandfec: 1 });
  const cases: Array<[string, string, RegExp]> = [
    ['no audio', CHROME_OFFER.replace('m=audio', 'm=video'), /exactly one active audio/],
    ['recvonly', CHROME_OFFER.replace('a=sendonly', 'a=recvonly'), /recvonly/],
    ['no opus', CHROME_OFFER.replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:111 G722/8000'), /opus/],
    ['no fingerprint', CHROME_OFFER.replace(/a=fingerprint:[^\r]*\r\n/, ''), /fingerprint/],
    ['plain RTP', CHROME_OFFER.replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP'), /unsupported transport/],
  ];
  for (const [name, sdp, why] of cases) t.throws(() => parseBrowserOffer(sdp), { name: 'SdpOfferError', message: why }, name);
  t.ok(new SdpOfferError('x') instanceof Error);
});
