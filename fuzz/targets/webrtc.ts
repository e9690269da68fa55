/**
 * The WebRTC signaling message a page sends: parseClientMessage (JSON, the {type: 'offer', sdp,
 * metadata} schema) → parseBrowserOffer (one active audio m-line, DTLS fingerprint, Opus/48000,
 * fmtp, rtcp-fb, header extensions, SSRC) → buildAnswer against a fixed mediasoup-like transport;
 * the answer must read back as SDP with exactly one audio m-line carrying the offered mid.
 * Expected: SdpOfferError (the session closes the socket with 1007).
 */
import sdpTransform from 'sdp-transform';
import { SdpOfferError } from '../../src/signaling/sip/errors.js';
import { buildAnswer, parseBrowserOffer, type LocalTransport } from '../../src/signaling/webrtc/sdp-bridge.js';
import { parseClientMessage } from '../../src/signaling/webrtc/webrtc-session.js';
import { check } from '../engine/target.js';

export const expected = [SdpOfferError];
export const maxLen = 8192;

const LOCAL: LocalTransport = {
  iceParameters: { usernameFragment: 'fuzzufrag', password: 'fuzzpasswordfuzzpassword', iceLite: true },
  iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, address: '192.0.2.10', protocol: 'udp', port: 40001, type: 'host' }],
  dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99' }] },
};

export function fuzz(data: Buffer): void {
  const message = parseClientMessage(data.toString('utf8'));
  const offer = parseBrowserOffer(message.sdp);
  const answer = sdpTransform.parse(buildAnswer(offer, LOCAL, 1));
  const audio = answer.media.filter((m) => m.type === 'audio');
  check(audio.length === 1, `answer has ${audio.length} audio m-lines`);
  check(String(audio[0]!.mid) === String(offer.mid), `answer mid ${audio[0]!.mid} for offered ${offer.mid}`);
}
