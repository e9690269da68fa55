/**
 * Plain WebRTC on the page, mediasoup on the server: the browser sends a standard SDP offer
 * (one audio m-line, microphone, Opus) and gets an SDP answer; this module translates between
 * SDP and mediasoup's parameter objects, so the page needs no mediasoup-client bundle.
 *
 *   offer  → remote DTLS fingerprint (for transport.connect) + RtpParameters (for transport.produce)
 *   answer ← transport.iceParameters / iceCandidates / dtlsParameters + the negotiated codec
 *
 * mediasoup is ICE-lite and DTLS server here (answer `a=setup:passive`); the browser is ICE
 * controlling and DTLS client. SDP parsing/writing uses sdp-transform (the library mediasoup's
 * own client uses for this).
 */
import sdpTransform from 'sdp-transform';
import {
  type MsDtlsParameters,
  type MsIceCandidate,
  type MsIceParameters,
  type MsRtpHeaderExtensionParameters,
  type MsRtpParameters,
} from './types.js';
import { SdpOfferError } from '../sip/errors.js';

/** Header extensions DevoX negotiates for audio (all understood by mediasoup). */
const AUDIO_EXTENSIONS = new Set([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
]);

export interface BrowserOffer {
  mid: string;
  /** The browser's DTLS fingerprint(s); it will be DTLS client. */
  dtlsParameters: MsDtlsParameters;
  /** What the browser will send, for transport.produce({ kind: 'audio', rtpParameters }). */
  rtpParameters: MsRtpParameters;
  /** Negotiated header extensions, echoed in the answer. */
  extensions: MsRtpHeaderExtensionParameters[];
  /** Opus fmtp line as offered (echoed in the answer). */
  opusFmtp: string;
}

/**
 * A browser's SDP (`what`: its offer, or its answer to a listen-in offer) and its one active audio m-line.
 * @throws SdpOfferError when it does not parse or has not exactly one active audio m-line.
 */
export function parseAudioSdp(sdp: string, what: 'offer' | 'answer'): { session: sdpTransform.SessionDescription; m: sdpTransform.MediaDescription } {
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch (err) {
    throw new SdpOfferError(`${what} is not parseable SDP`, { cause: err });
  }
  const audio = session.media.filter((m) => m.type === 'audio' && m.port !== 0);
  if (audio.length !== 1) throw new SdpOfferError(`${what} must have exactly one active audio m-line (has ${audio.length})`);
  return { session, m: audio[0]! };
}

export function parseBrowserOffer(sdp: string): BrowserOffer {
  const { session, m } = parseAudioSdp(sdp, 'offer');
  if (m.direction === 'recvonly' || m.direction === 'inactive') throw new SdpOfferError(`audio m-line is ${m.direction}: nothing to receive`);
  if (!/UDP\/TLS\/RTP\/SAVPF|TCP\/TLS\/RTP\/SAVPF/.test(m.protocol)) throw new SdpOfferError(`unsupported transport ${m.protocol}`);
  // sdp-transform turns numeric-looking values into numbers (a=mid:1, a=rtpmap:111 123/48000,
  // a=fingerprint:256 ...): everything mediasoup or this module reads as text is made text again.
  const mid = String(m.mid ?? '0');
  const fp = m.fingerprint ?? session.fingerprint;
  if (!fp) throw new SdpOfferError('offer has no DTLS fingerprint');
  const opus = m.rtp.find((r) => String(r.codec).toLowerCase() === 'opus' && r.rate === 48000);
  if (!opus) throw new SdpOfferError('offer has no opus/48000 codec');
  const pt = opus.payload;
  const opusFmtp = String(m.fmtp.find((f) => f.payload === pt)?.config ?? '');
  const parameters: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sdpTransform.parseParams(opusFmtp))) if (v !== undefined) parameters[k] = v;
  const rtcpFeedback = (m.rtcpFb ?? [])
    .filter((f) => f.payload === pt || f.payload === '*')
    .map((f) => (f.subtype ? { type: f.type, parameter: f.subtype } : { type: f.type }));
  const extensions = (m.ext ?? []).filter((e) => AUDIO_EXTENSIONS.has(e.uri)).map((e) => ({ uri: e.uri, id: e.value }));
  const ssrcLine = (m.ssrcs ?? []).find((s) => s.attribute === 'cname') ?? m.ssrcs?.[0];
  const ssrc = ssrcLine ? Number(ssrcLine.id) : undefined;
  const rawCname = (m.ssrcs ?? []).find((s) => s.attribute === 'cname')?.value;
  const cname = rawCname === undefined ? undefined : String(rawCname);
  return {
    mid,
    dtlsParameters: { role: 'client', fingerprints: [{ algorithm: String(fp.type).toLowerCase(), value: String(fp.hash) }] },
    rtpParameters: {
      mid,
      codecs: [{ mimeType: 'audio/opus', payloadType: pt, clockRate: 48000, channels: 2, parameters, rtcpFeedback }],
      headerExtensions: extensions,
      // Without an a=ssrc line mediasoup matches the stream by MID.
      encodings: ssrc !== undefined && Number.isFinite(ssrc) ? [{ ssrc }] : [{}],
      rtcp: { ...(cname ? { cname } : {}), reducedSize: true },
    },
    extensions,
    opusFmtp,
  };
}

export interface LocalTransport {
  iceParameters: MsIceParameters;
  iceCandidates: MsIceCandidate[];
  dtlsParameters: MsDtlsParameters;
}

/** The SDP answer for `offer` from a mediasoup WebRtcTransport. */
/** The address a mediasoup ICE candidate announces (mediasoup 3 names it `address`, older builds `ip`). */
export function candidateAddress(c: MsIceCandidate): string {
  return c.address ?? c.ip ?? '0.0.0.0';
}

/** mediasoup's ICE candidates as SDP `a=candidate` lines (sdp-transform's shape), for an answer or an offer. */
export function sdpCandidates(candidates: readonly MsIceCandidate[]): NonNullable<sdpTransform.MediaDescription['candidates']> {
  return candidates.map((c) => ({
    foundation: c.foundation,
    component: 1,
    transport: c.protocol,
    priority: c.priority,
    ip: candidateAddress(c),
    port: c.port,
    type: c.type,
    ...(c.tcpType ? { tcptype: c.tcpType } : {}),
  }));
}

export function buildAnswer(offer: BrowserOffer, local: LocalTransport, sessionId: number = Date.now()): string {
  const fp = local.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? local.dtlsParameters.fingerprints[0];
  if (!fp) throw new SdpOfferError('transport has no DTLS fingerprint');
  const first = local.iceCandidates[0];
  const pt = offer.rtpParameters.codecs[0]!.payloadType;
  const feedback = offer.rtpParameters.codecs[0]!.rtcpFeedback ?? [];
  const media: sdpTransform.MediaDescription = {
    type: 'audio',
    port: first?.port ?? 7,
    protocol: 'UDP/TLS/RTP/SAVPF',
    payloads: String(pt),
    connection: { version: 4, ip: first ? candidateAddress(first) : '127.0.0.1' },
    rtp: [{ payload: pt, codec: 'opus', rate: 48000, encoding: 2 }],
    fmtp: offer.opusFmtp ? [{ payload: pt, config: offer.opusFmtp }] : [],
    rtcpFb: feedback.map((f) => ({ payload: pt, type: f.type, ...(f.parameter ? { subtype: f.parameter } : {}) })),
    ext: offer.extensions.map((e) => ({ value: e.id, uri: e.uri })),
    mid: offer.mid,
    direction: 'recvonly',
    rtcpMux: 'rtcp-mux',
    iceUfrag: local.iceParameters.usernameFragment,
    icePwd: local.iceParameters.password,
    setup: 'passive',
    fingerprint: { type: fp.algorithm, hash: fp.value },
    candidates: sdpCandidates(local.iceCandidates),
    endOfCandidates: 'end-of-candidates',
  };
  const answer: sdpTransform.SessionDescription = {
    version: 0,
    origin: { username: 'devox', sessionId, sessionVersion: 1, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    groups: [{ type: 'BUNDLE', mids: offer.mid }],
    msidSemantic: { semantic: 'WMS', token: '*' },
    media: [media],
  };
  return sdpTransform.write(answer);
}
