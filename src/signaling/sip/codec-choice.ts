/**
 * Picks, for one offered stream, the best audio codec both sides support.
 *
 * Preference: Opus, L16, PCMU, PCMA.
 *  - The model listens at 16 kHz (card input.sampleRate). Wideband codecs carry the
 *    4-8 kHz band where vocoder artefacts of synthetic speech sit; G.711 cuts it off.
 *    So wideband first.
 *  - Opus before L16: Opus at its usual 24-64 kbit/s is perceptually transparent for
 *    speech and costs 4-10x less than L16 (256 kbit/s at 16 kHz mono) on a recorder
 *    that takes two streams per call for hundreds of calls; an SBC that offers Opus
 *    usually carries Opus on the call, so no transcoding on its side.
 *  - L16 only at clock rates of 16 kHz and up counts as wideband; L16/8000 is ranked with
 *    G.711 (same band, more bytes), just ahead of it since it is lossless.
 *  - PCMU before PCMA: equal quality; PCMU (PT 0) is the RFC 3551 default most SBCs list
 *    first, so the tie goes to what the SRC most likely forks without transcoding.
 * telephone-event (RFC 4733) and CN (RFC 3389) are accepted alongside at the chosen
 * codec's clock rate: DTMF and comfort noise are recognised by media and never decoded.
 */
import { checkAudioFormat, parseCodecName, UnsupportedCodecError, type CodecName, type PayloadFormat } from '../../media/types.js';
import type { ChosenCodec, OfferedFormat, OfferedStream } from './types.js';

/** RTP/AVP profiles we can receive: plain RTP. SRTP (SAVP) needs keys we do not negotiate. */
const RTP_PROFILES = new Set(['RTP/AVP', 'RTP/AVPF']);

/**
 * The codec media decodes for an offered format, by media's own rule (checkAudioFormat: rate,
 * channels); `refused` says why a codec media knows cannot be taken at this rate/channel count.
 * Names media does not know (G729, telephone-event, ...) give neither.
 */
function codecOf(f: OfferedFormat): { codec: CodecName } | { refused: string } | undefined {
  let codec: CodecName;
  try {
    codec = parseCodecName(f.name);
  } catch (err) {
    if (err instanceof UnsupportedCodecError) return undefined;
    throw err;
  }
  try {
    checkAudioFormat({ encoding: codec, clockRate: f.clockRate, channels: f.channels });
  } catch (err) {
    if (err instanceof UnsupportedCodecError) return { refused: err.message };
    throw err;
  }
  return { codec };
}

/** Lower is better. */
function rank(codec: CodecName, clockRate: number): number {
  switch (codec) {
    case 'opus':
      return 0;
    case 'L16':
      return clockRate >= 16000 ? 1 : 2;
    case 'PCMU':
      return 3;
    case 'PCMA':
      return 4;
  }
}

export type CodecDecision = { ok: true; chosen: ChosenCodec } | { ok: false; reason: string };

export function chooseCodec(stream: OfferedStream): CodecDecision {
  if (stream.mediaType !== 'audio') return { ok: false, reason: `media type ${stream.mediaType} is not recorded` };
  if (stream.port === 0) return { ok: false, reason: 'stream disabled by the offerer (port 0)' };
  if (!RTP_PROFILES.has(stream.protocol.toUpperCase())) {
    return { ok: false, reason: `transport ${stream.protocol} not supported (plain RTP/AVP only)` };
  }
  let best: { f: OfferedFormat; codec: CodecName; r: number } | undefined;
  let refused: string | undefined;
  for (const f of stream.formats) {
    const c = codecOf(f);
    if (c === undefined) continue;
    if ('refused' in c) {
      refused ??= c.refused;
      continue;
    }
    const codec = c.codec;
    const r = rank(codec, f.clockRate);
    // Equal rank: higher clock rate first (L16/48000 over L16/16000), then the offerer's order.
    if (best === undefined || r < best.r || (r === best.r && f.clockRate > best.f.clockRate)) best = { f, codec, r };
  }
  if (best === undefined) {
    const offered = stream.formats.map((f) => `${f.name}/${f.clockRate}`).join(' ') || 'none';
    return { ok: false, reason: `no supported audio codec (offered: ${offered})${refused !== undefined ? `: ${refused}` : ''}` };
  }
  const audio: PayloadFormat = {
    payloadType: best.f.payloadType,
    encoding: best.codec,
    clockRate: best.f.clockRate,
    // Opus is always signalled opus/48000/2 (RFC 7587) and decoded to mono; L16 keeps its channel count.
    channels: best.codec === 'opus' ? 2 : best.codec === 'L16' ? best.f.channels : 1,
  };
  const formats: PayloadFormat[] = [audio];
  const fmtp = new Map<number, string>();
  if (best.f.fmtp !== undefined) fmtp.set(audio.payloadType, best.f.fmtp);
  for (const f of stream.formats) {
    const n = f.name.toLowerCase();
    const extra = n === 'telephone-event' ? 'telephone-event' : n === 'cn' ? 'CN' : undefined;
    if (extra === undefined || f.clockRate !== audio.clockRate) continue;
    if (formats.some((x) => x.encoding === extra)) continue;
    formats.push({ payloadType: f.payloadType, encoding: extra, clockRate: f.clockRate, channels: 1 });
    if (f.fmtp !== undefined) fmtp.set(f.payloadType, f.fmtp);
  }
  return { ok: true, chosen: { formats, audio, fmtp, ...(stream.ptime !== undefined ? { ptime: stream.ptime } : {}) } };
}

/**
 * True when a running session that decodes `current` can keep going after a re-offer chose
 * `next`: same payload type, codec and clock rate. (A changed telephone-event / CN PT alone
 * does not justify moving the stream: the kept session takes the new ones, see sameFormats.)
 */
export function sameAudio(current: PayloadFormat, next: PayloadFormat): boolean {
  return current.payloadType === next.payloadType && current.encoding === next.encoding && current.clockRate === next.clockRate;
}

/** True when two accepted format lists are the same payload types with the same meaning, in order. */
export function sameFormats(a: readonly PayloadFormat[], b: readonly PayloadFormat[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.payloadType !== y.payloadType || x.encoding !== y.encoding || x.clockRate !== y.clockRate || x.channels !== y.channels) return false;
  }
  return true;
}
