/**
 * Reads an SDP offer with sdp-transform and normalises each m= line into an OfferedStream.
 * sdp-transform is lenient (it skips lines it does not understand), so the structural
 * checks RFC 4566 requires of an offer we act on are made here: v=0 first, o= and t=
 * present, every m= line with a port, a protocol and an address to reach it.
 */
import sdpTransform from 'sdp-transform';
import { SdpOfferError } from './errors.js';
import type { OfferedFormat, OfferedStream, StreamDirection } from './types.js';

/** RFC 3551 static audio payload types (those an offer may use without a=rtpmap). */
const STATIC_AUDIO: ReadonlyMap<number, { name: string; clockRate: number; channels: number }> = new Map([
  [0, { name: 'PCMU', clockRate: 8000, channels: 1 }],
  [3, { name: 'GSM', clockRate: 8000, channels: 1 }],
  [4, { name: 'G723', clockRate: 8000, channels: 1 }],
  [5, { name: 'DVI4', clockRate: 8000, channels: 1 }],
  [6, { name: 'DVI4', clockRate: 16000, channels: 1 }],
  [7, { name: 'LPC', clockRate: 8000, channels: 1 }],
  [8, { name: 'PCMA', clockRate: 8000, channels: 1 }],
  [9, { name: 'G722', clockRate: 8000, channels: 1 }],
  [10, { name: 'L16', clockRate: 44100, channels: 2 }],
  [11, { name: 'L16', clockRate: 44100, channels: 1 }],
  [12, { name: 'QCELP', clockRate: 8000, channels: 1 }],
  [13, { name: 'CN', clockRate: 8000, channels: 1 }],
  [14, { name: 'MPA', clockRate: 90000, channels: 1 }],
  [15, { name: 'G728', clockRate: 8000, channels: 1 }],
  [18, { name: 'G729', clockRate: 8000, channels: 1 }],
]);

export interface ParsedSdpOffer {
  streams: OfferedStream[];
  originSessionId: string;
  originVersion: string;
}

const MAX_M_LINES = 64;

export function parseSdpOffer(text: string): ParsedSdpOffer {
  const trimmed = text.replace(/^\s+/, '');
  if (!/^v=0\r?\n/.test(trimmed)) throw new SdpOfferError('SDP does not start with v=0');
  // Truncated bodies are a classic: the last line must be complete and no line may be garbage.
  const lines = trimmed.split(/\r?\n/).filter((l) => l.length > 0);
  for (const l of lines) {
    if (!/^[a-z]=/.test(l)) throw new SdpOfferError(`SDP line is not <type>=<value>: ${JSON.stringify(l.slice(0, 40))}`);
  }
  // Exactly one o= (RFC 4566 5): the origin is read from the text below and validated by sdp-transform,
  // which keeps the last o= line; with two they could disagree (a re-offer is keyed on the origin).
  const oCount = lines.filter((l) => l.startsWith('o=')).length;
  if (oCount !== 1) throw new SdpOfferError(`SDP has ${oCount} o= lines (exactly one required)`);
  const mCount = lines.filter((l) => l.startsWith('m=')).length;
  if (mCount === 0) throw new SdpOfferError('SDP offer has no m= line');
  if (mCount > MAX_M_LINES) throw new SdpOfferError(`SDP offer has ${mCount} m= lines (limit ${MAX_M_LINES})`);

  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(trimmed);
  } catch (err) {
    throw new SdpOfferError('SDP could not be parsed', { cause: err });
  }
  if (!session.origin || session.origin.sessionId === undefined) throw new SdpOfferError('SDP has no valid o= line');
  if (!session.timing) throw new SdpOfferError('SDP has no t= line');
  if (session.media.length !== mCount) {
    throw new SdpOfferError(`SDP has ${mCount} m= lines but only ${session.media.length} are well-formed`);
  }
  // Read from the text, not from sdp-transform: it turns numeric-looking values into JS numbers,
  // and 64-bit o= ids/versions or long numeric labels would lose digits (a re-offer whose
  // version grew by one could then look unchanged).
  const origin = /^o=\S+ (\S+) (\S+) /m.exec(trimmed);
  if (!origin) throw new SdpOfferError('SDP has no valid o= line');
  const sections = trimmed.split(/\r?\n(?=m=)/).slice(1);
  const rawLabels = sections.map((sec) => /^a=label:(.+?)\s*$/m.exec(sec)?.[1]);
  const rawFormats = sections.map((sec) => /^m=\S+ \S+ \S+ ?(.*?)\s*$/m.exec(sec)?.[1] ?? '');
  const sessionDirection = session.direction as StreamDirection | undefined;
  const sessionAddress = session.connection?.ip;

  const streams = session.media.map((m, index): OfferedStream => {
    if (!Number.isInteger(m.port) || m.port < 0 || m.port > 65535) {
      throw new SdpOfferError(`m= line ${index} has an invalid port`);
    }
    if (typeof m.protocol !== 'string' || m.protocol.length === 0) {
      throw new SdpOfferError(`m= line ${index} has no protocol`);
    }
    const address = m.connection?.ip ?? sessionAddress;
    if (m.port !== 0 && (address === undefined || address.length === 0)) {
      throw new SdpOfferError(`m= line ${index} has no c= line (neither media nor session level)`);
    }
    const fmt = rawFormats[index] ?? '';
    const payloadTypes = fmt
      .split(/\s+/)
      .filter((p) => p.length > 0);
    const formats: OfferedFormat[] = [];
    for (const p of payloadTypes) {
      if (!/^\d{1,3}$/.test(p)) {
        if (m.type === 'audio' && m.protocol.startsWith('RTP/')) {
          throw new SdpOfferError(`m= line ${index} lists a non-numeric payload type`);
        }
        continue;
      }
      const pt = Number(p);
      if (pt > 127) throw new SdpOfferError(`m= line ${index} lists payload type ${pt} (> 127)`);
      const map = m.rtp.find((r) => r.payload === pt);
      // sdp-transform turns numeric-looking values into numbers (a=rtpmap:96 729/8000, a=fmtp:18 0): back to text.
      const rawFmtp = m.fmtp.find((f) => f.payload === pt)?.config;
      const fmtp = rawFmtp === undefined ? undefined : String(rawFmtp);
      if (map) {
        formats.push({
          payloadType: pt,
          name: String(map.codec),
          clockRate: map.rate ?? 8000,
          channels: map.encoding ?? 1,
          ...(fmtp !== undefined ? { fmtp } : {}),
        });
      } else {
        const st = STATIC_AUDIO.get(pt);
        if (st) formats.push({ payloadType: pt, ...st, ...(fmtp !== undefined ? { fmtp } : {}) });
      }
    }
    const label = rawLabels[index];
    return {
      index,
      mediaType: m.type,
      port: m.port,
      protocol: m.protocol,
      address: address ?? '',
      fmt,
      ...(label !== undefined ? { label } : {}),
      direction: (m.direction as StreamDirection | undefined) ?? sessionDirection ?? 'sendrecv',
      formats,
      ...(m.ptime !== undefined ? { ptime: m.ptime } : {}),
    };
  });
  const seen = new Set<string>();
  for (const s of streams) {
    if (s.label === undefined) continue;
    // RFC 4574: a label is unique within the session; SIPREC keys legs and metadata on it.
    if (seen.has(s.label)) throw new SdpOfferError(`a=label:${s.label} appears on more than one m= line`);
    seen.add(s.label);
  }
  return {
    streams,
    originSessionId: origin[1]!,
    originVersion: origin[2]!,
  };
}

/** Hold per RFC 3264 8.4 (a=inactive / a=recvonly from the sender) or the RFC 2543 c=0.0.0.0 style. */
export function isOnHold(s: OfferedStream): boolean {
  return s.direction === 'inactive' || s.direction === 'recvonly' || s.address === '0.0.0.0';
}
