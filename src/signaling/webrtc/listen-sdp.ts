/**
 * SDP for listen-in, the other direction of sdp-bridge.ts: DevoX sends, the browser receives.
 * DevoX offers (one sendonly audio m-line: the mediasoup consumer's codec, payload type, SSRC
 * and CNAME, the WebRtcTransport's ICE-lite candidates and DTLS fingerprint, `setup:actpass`);
 * the browser answers recvonly, and its answer gives the DTLS parameters for transport.connect().
 * DevoX offering is what lets the router's payload type stand (in an answer, the browser's would).
 */
import sdpTransform from 'sdp-transform';
import { SdpOfferError } from '../sip/errors.js';
import { candidateAddress, parseAudioSdp, sdpCandidates, type LocalTransport } from './sdp-bridge.js';
import type { MsDtlsParameters, MsRtpParameters } from './types.js';

/** The offer's media stream and track ids (a=msid), so the page can name what it plays. */
export interface ListenTrackIds {
  streamId: string;
  trackId: string;
}

const MID = '0';

export function buildListenOffer(local: LocalTransport, consumer: MsRtpParameters, ids: ListenTrackIds, sessionId: number = Date.now()): string {
  const fp = local.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? local.dtlsParameters.fingerprints[0];
  if (!fp) throw new Error('transport has no DTLS fingerprint');
  const codec = consumer.codecs[0];
  if (!codec) throw new Error('consumer has no codec');
  const ssrc = consumer.encodings?.[0]?.ssrc;
  if (ssrc === undefined) throw new Error('consumer has no SSRC');
  const cname = consumer.rtcp?.cname ?? 'devox-listen';
  const first = local.iceCandidates[0];
  const pt = codec.payloadType;
  const fmtp = Object.entries(codec.parameters ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
  const media: sdpTransform.MediaDescription = {
    type: 'audio',
    port: first?.port ?? 7,
    protocol: 'UDP/TLS/RTP/SAVPF',
    payloads: String(pt),
    connection: { version: 4, ip: first ? candidateAddress(first) : '127.0.0.1' },
    rtp: [{ payload: pt, codec: codec.mimeType.replace(/^audio\//i, ''), rate: codec.clockRate, ...(codec.channels && codec.channels > 1 ? { encoding: codec.channels } : {}) }],
    fmtp: fmtp ? [{ payload: pt, config: fmtp }] : [],
    rtcpFb: (codec.rtcpFeedback ?? []).map((f) => ({ payload: pt, type: f.type, ...(f.parameter ? { subtype: f.parameter } : {}) })),
    ext: (consumer.headerExtensions ?? []).map((e) => ({ value: e.id, uri: e.uri })),
    mid: MID,
    direction: 'sendonly',
    rtcpMux: 'rtcp-mux',
    rtcpRsize: 'rtcp-rsize',
    iceUfrag: local.iceParameters.usernameFragment,
    icePwd: local.iceParameters.password,
    setup: 'actpass',
    fingerprint: { type: fp.algorithm, hash: fp.value },
    msid: [{ id: ids.streamId, appdata: ids.trackId }],
    ssrcs: [
      { id: ssrc, attribute: 'cname', value: cname },
      { id: ssrc, attribute: 'msid', value: `${ids.streamId} ${ids.trackId}` },
    ],
    candidates: sdpCandidates(local.iceCandidates),
    endOfCandidates: 'end-of-candidates',
  };
  return sdpTransform.write({
    version: 0,
    origin: { username: 'devox', sessionId, sessionVersion: 1, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    groups: [{ type: 'BUNDLE', mids: MID }],
    msidSemantic: { semantic: 'WMS', token: '*' },
    media: [media],
  });
}

/**
 * The browser's answer: its DTLS fingerprint and role, for transport.connect().
 * @throws SdpOfferError when it is not an answer to the listen offer (no audio, nothing received, no fingerprint).
 */
export function parseListenAnswer(sdp: string): { dtlsParameters: MsDtlsParameters } {
  const { session, m } = parseAudioSdp(sdp, 'answer');
  if (m.direction !== undefined && m.direction !== 'recvonly' && m.direction !== 'sendrecv') {
    throw new SdpOfferError(`answer's audio m-line is ${m.direction}: it must receive`);
  }
  const fp = m.fingerprint ?? session.fingerprint;
  if (!fp) throw new SdpOfferError('answer has no DTLS fingerprint');
  const setup = m.setup ?? session.setup ?? 'active';
  if (setup !== 'active' && setup !== 'passive') throw new SdpOfferError(`answer has a=setup:${setup}: must be active or passive`);
  return {
    dtlsParameters: {
      // mediasoup takes the remote's role: a browser that is active is the DTLS client.
      role: setup === 'active' ? 'client' : 'server',
      fingerprints: [{ algorithm: String(fp.type).toLowerCase(), value: String(fp.hash) }],
    },
  };
}
