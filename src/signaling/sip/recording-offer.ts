/**
 * From an INVITE (or re-INVITE / UPDATE) to what the call records: reads the body (SDP
 * alone, or multipart/mixed with SDP + RFC 7865 metadata), decides per stream the codec
 * or why it is declined, and names each stream's leg, participant and call identity.
 */
import { chooseCodec } from './codec-choice.js';
import { MetadataError, SipError } from './errors.js';
import { parseMediaType, splitMultipart } from './multipart-body.js';
import { parseRecordingMetadata } from './rs-metadata.js';
import { parseSdpOffer } from './sdp-offer.js';
import type { MetadataStatus, RecordingMetadata, RecordingOffer, SipRequestView, StreamPlan } from './types.js';

export interface OfferLimits {
  maxBodyBytes: number;
  maxMetadataBytes: number;
}

/** RFC 7866 6.1.1: an SRC marks the INVITE with Require: siprec and/or the +sip.src Contact feature tag. */
export function isSiprecRequest(req: SipRequestView): boolean {
  const require = req.header('require') ?? '';
  if (/(^|[\s,])siprec($|[\s,;])/i.test(require)) return true;
  return /[;\s]\+sip\.src\b/i.test(req.header('contact') ?? '');
}

/** The request carries an offer (an SDP, alone or in a multipart body). */
export function hasSdpBody(req: SipRequestView): boolean {
  if (req.body.trim().length === 0) return false;
  const ct = parseMediaType(req.header('content-type'));
  if (ct?.type === 'application/sdp') return true;
  if (ct?.type !== 'multipart/mixed') return false;
  try {
    return splitMultipart(req.body, ct).some((p) => p.contentType.type === 'application/sdp');
  } catch {
    return true; // a broken multipart is still an attempted offer: readOffer reports why it is broken
  }
}

/**
 * Reads the offer of a request. Throws SipError for a body we cannot act on (400, 413,
 * 415, 488); metadata problems never throw, they set metadataStatus.
 */
export function readOffer(req: SipRequestView, limits: OfferLimits): RecordingOffer {
  const bytes = Buffer.byteLength(req.body, 'utf8');
  if (bytes > limits.maxBodyBytes) {
    throw new SipError(413, 'Request Entity Too Large', 'rejected_body_too_large', `body is ${bytes} bytes (limit ${limits.maxBodyBytes})`);
  }
  if (req.body.trim().length === 0) {
    // Delayed offer (RFC 3264 with the offer in our 200): a recorder has nothing to offer, so refuse clearly.
    throw new SipError(488, 'Not Acceptable Here', 'rejected_no_offer', 'INVITE without an SDP offer (delayed offer) is not supported');
  }
  const ct = parseMediaType(req.header('content-type'));
  let sdpText: string;
  let metadataText: string | undefined;
  let sawMultipart = false;
  if (ct === undefined || ct.type === 'application/sdp') {
    sdpText = req.body;
  } else if (ct.type === 'multipart/mixed') {
    sawMultipart = true;
    const parts = splitMultipart(req.body, ct);
    const sdpPart = parts.find((p) => p.contentType.type === 'application/sdp');
    if (sdpPart === undefined) {
      throw new SipError(400, 'Bad Request', 'rejected_bad_request', 'multipart body has no application/sdp part');
    }
    sdpText = sdpPart.content;
    // RFC 7866 drafts and some SRCs label the part application/rs-metadata (without +xml).
    metadataText = parts.find((p) => p.contentType.type === 'application/rs-metadata+xml' || p.contentType.type === 'application/rs-metadata')?.content;
  } else {
    throw new SipError(415, 'Unsupported Media Type', 'rejected_bad_request', `body type ${ct.type} is not supported`, {
      headers: { Accept: 'application/sdp, multipart/mixed, application/rs-metadata+xml' },
    });
  }
  const sdp = parseSdpOffer(sdpText);
  const siprec = isSiprecRequest(req) || metadataText !== undefined;
  let metadata: RecordingMetadata | undefined;
  let metadataStatus: MetadataStatus = siprec ? 'missing' : 'none';
  let metadataProblem: string | undefined = siprec ? 'no application/rs-metadata+xml part' : undefined;
  if (metadataText !== undefined) {
    try {
      metadata = parseRecordingMetadata(metadataText, limits.maxMetadataBytes);
      metadataStatus = 'ok';
      metadataProblem = undefined;
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err;
      metadataStatus = err.kind;
      metadataProblem = err.message;
    }
  }
  return {
    mode: siprec || sawMultipart ? 'siprec' : 'plain',
    streams: sdp.streams,
    originSessionId: sdp.originSessionId,
    originVersion: sdp.originVersion,
    ...(metadata !== undefined ? { metadata } : {}),
    metadataStatus,
    ...(metadataProblem !== undefined ? { metadataProblem } : {}),
  };
}

export interface PlanContext {
  sipCallId: string;
  req: SipRequestView;
  passThroughHeaders: readonly string[];
}

const MAX_IDENTITY_VALUE = 256;

function clip(v: string): string {
  return v.length > MAX_IDENTITY_VALUE ? v.slice(0, MAX_IDENTITY_VALUE) : v;
}

/** "Alice" <sip:alice@atlanta.com>;tag=x  ->  { aor: 'sip:alice@atlanta.com', name: 'Alice' } */
export function parseNameAddr(value: string | undefined): { aor: string; name: string } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const first = value.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)[0]!.trim(); // first of a comma list, outside quotes
  const angle = /^(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]+)>/.exec(first);
  if (angle) return { aor: angle[3]!.trim(), name: (angle[1] ?? angle[2] ?? '').trim() };
  return { aor: first.split(';')[0]!.trim(), name: '' };
}

/** Identity shared by every stream of the call. */
export function callIdentity(ctx: PlanContext, offer: RecordingOffer): Record<string, string> {
  const id: Record<string, string> = { sipCallId: clip(ctx.sipCallId), mode: offer.mode, metadata: offer.metadataStatus };
  if (offer.metadata?.sessionId) id.siprecSessionId = clip(offer.metadata.sessionId);
  if (offer.metadata?.sipSessionId) id.recordedSipSessionId = clip(offer.metadata.sipSessionId);
  if (offer.metadata && offer.metadata.participants.length > 0) {
    id.participants = clip(offer.metadata.participants.map((p) => p.aor).join(', '));
  }
  for (const h of ctx.passThroughHeaders) {
    const v = ctx.req.header(h);
    if (v !== undefined) id[h] = clip(v);
  }
  return id;
}

/**
 * Decides every offered stream. SIPREC: each labelled audio stream is one leg, its speaker
 * found through label -> metadata stream -> participantstreamassoc send. Plain INVITE: the
 * first usable audio stream only (a single-leg fork), the speaker from P-Asserted-Identity
 * or From. Unmatched or unusable metadata records the stream with participant 'unknown'.
 */
export function planStreams(ctx: PlanContext, offer: RecordingOffer): { plans: StreamPlan[]; unmatchedLabels: string[] } {
  const base = callIdentity(ctx, offer);
  const unmatchedLabels: string[] = [];
  const md = offer.metadata;
  const byId = new Map(md?.participants.map((p) => [p.id, p]) ?? []);
  let plainTaken = false;
  const plans = offer.streams.map((s): StreamPlan => {
    const decision = chooseCodec(s);
    const leg = s.label ?? (offer.mode === 'plain' ? 'fork' : `stream${s.index}`);
    const identity: Record<string, string> = { ...base, leg: clip(leg) };
    if (s.label !== undefined) identity.label = clip(s.label);
    if (offer.mode === 'plain') {
      const who = parseNameAddr(ctx.req.header('p-asserted-identity')) ?? parseNameAddr(ctx.req.header('from'));
      identity.participantAor = clip(who?.aor || 'unknown');
      identity.participantName = clip(who?.name ?? '');
      if (decision.ok && plainTaken) {
        return { offered: s, chosen: null, declined: 'plain INVITE forks a single stream', leg, identity };
      }
      if (decision.ok) plainTaken = true;
    } else {
      const mdStream = md && s.label !== undefined ? md.streams.find((x) => x.label === s.label) : undefined;
      const sender = mdStream ? (md!.senders.get(mdStream.streamId) ?? []).map((id) => byId.get(id)).find((p) => p) : undefined;
      if (md && s.mediaType === 'audio' && s.port !== 0 && (mdStream === undefined || sender === undefined)) {
        unmatchedLabels.push(s.label ?? `#${s.index}`);
      }
      if (mdStream) identity.siprecStreamId = clip(mdStream.streamId);
      identity.participantId = clip(sender?.id ?? 'unknown');
      identity.participantAor = clip(sender?.aor ?? 'unknown');
      identity.participantName = clip(sender?.name || (sender ? '' : 'unknown'));
      if (mdStream) {
        const recv = (md!.receivers.get(mdStream.streamId) ?? []).map((id) => byId.get(id)?.aor).filter((a): a is string => !!a);
        if (recv.length > 0) identity.receiverAors = clip(recv.join(', '));
      }
    }
    return decision.ok
      ? { offered: s, chosen: decision.chosen, leg, identity }
      : { offered: s, chosen: null, declined: decision.reason, leg, identity };
  });
  return { plans, unmatchedLabels };
}
