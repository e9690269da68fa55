/**
 * Payload decoders/encoders: one payload in, mono int16 out, into caller-owned
 * buffers (nothing allocated per packet).
 *   PCMU / PCMA (G.711, 8 kHz): lookup tables built once from `alawmulaw` (g711.ts).
 *   L16 (RFC 3551): big-endian int16 at a SUPPORTED_SAMPLE_RATES rate, multi-channel downmixed to mono.
 *   Opus (RFC 7587, RTP clock 48 kHz): libopus via `opusscript` wasm (opus.ts), decoded to mono.
 */
import { ALAW_DECODE, MULAW_DECODE, alawEncodeTable, mulawEncodeTable } from './g711.js';
import { OPUS_MAX_FRAME, OpusDecoder, OpusEncoder } from './opus.js';
import { UnsupportedCodecError, UnsupportedSampleRateError } from './errors.js';
import { assertSupportedSampleRate } from './sample-rates.js';
import type { AudioDecoder, CodecName, PayloadFormat } from './types.js';

export type { AudioDecoder } from './types.js';

export interface AudioEncoder {
  readonly encoding: CodecName;
  readonly sampleRate: number;
  /** Encodes `count` mono int16 samples (one packet) into out; returns bytes written. */
  encode(pcm: Int16Array, offset: number, count: number, out: Uint8Array): number;
  close(): void;
}

/** Largest number of samples one payload can decode to (120 ms Opus at 48 kHz). */
export const MAX_DECODED_SAMPLES = OPUS_MAX_FRAME;

/** Static payload types (RFC 3551) and the dynamic ones DevoX uses by default when sending. */
export const DEFAULT_PAYLOAD_TYPES: Readonly<Record<CodecName, number>> = { PCMU: 0, PCMA: 8, L16: 96, opus: 111 };

/** The payload format `devox send` announces for a codec (clock rate as RTP sees it). */
export function defaultPayloadFormat(encoding: CodecName, opts: { payloadType?: number; sampleRate?: number } = {}): PayloadFormat {
  const clockRate = encoding === 'opus' ? 48000 : encoding === 'L16' ? (opts.sampleRate ?? 16000) : 8000;
  return {
    payloadType: opts.payloadType ?? DEFAULT_PAYLOAD_TYPES[encoding],
    encoding,
    clockRate,
    channels: encoding === 'opus' ? 2 : 1, // WebRTC signals opus/48000/2; the decoder outputs mono
  };
}

/** Parses a CLI/SDP codec name (case-insensitive) into a CodecName. */
export function parseCodecName(name: string): CodecName {
  switch (name.toLowerCase()) {
    case 'pcmu': return 'PCMU';
    case 'pcma': return 'PCMA';
    case 'l16': return 'L16';
    case 'opus': return 'opus';
    default: throw new UnsupportedCodecError(name);
  }
}

class G711Decoder implements AudioDecoder {
  readonly sampleRate = 8000;
  constructor(private readonly table: Readonly<Int16Array>) {}
  decode(payload: Uint8Array, out: Int16Array): number {
    return this.decodeRange(payload, 0, payload.length, out);
  }
  decodeRange(buf: Uint8Array, offset: number, length: number, out: Int16Array): number {
    const n = Math.min(length, out.length);
    const t = this.table;
    for (let i = 0; i < n; i++) out[i] = t[buf[offset + i]!]!;
    return n;
  }
  close(): void {}
}

class L16Decoder implements AudioDecoder {
  constructor(readonly sampleRate: number, private readonly channels: number) {}
  decode(payload: Uint8Array, out: Int16Array): number {
    return this.decodeRange(payload, 0, payload.length, out);
  }
  decodeRange(payload: Uint8Array, offset: number, length: number, out: Int16Array): number {
    const ch = this.channels;
    const frames = Math.min(Math.floor(length / (2 * ch)), out.length);
    if (ch === 1) {
      for (let i = 0; i < frames; i++) out[i] = ((payload[offset + 2 * i]! << 24) | (payload[offset + 2 * i + 1]! << 16)) >> 16;
      return frames;
    }
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < ch; c++) {
        const b = offset + 2 * (i * ch + c);
        sum += ((payload[b]! << 24) | (payload[b + 1]! << 16)) >> 16;
      }
      out[i] = Math.round(sum / ch);
    }
    return frames;
  }
  close(): void {}
}

/** Rates libopus decodes to natively (it band-limits internally). */
export const OPUS_DECODE_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];

/** The lowest Opus decode rate that still covers `outputRate` (no resampling when they match). */
export function opusDecodeRate(outputRate: number): number {
  return OPUS_DECODE_RATES.find((r) => r >= outputRate) ?? 48000;
}

class OpusPayloadDecoder implements AudioDecoder {
  readonly #dec: OpusDecoder;
  constructor(readonly sampleRate: number) {
    this.#dec = new OpusDecoder(sampleRate);
  }
  decode(payload: Uint8Array, out: Int16Array): number {
    return this.#dec.decode(payload, 0, payload.length, out);
  }
  decodeRange(buf: Uint8Array, offset: number, length: number, out: Int16Array): number {
    return this.#dec.decode(buf, offset, length, out);
  }
  close(): void {
    this.#dec.close();
  }
}

const G711_RATES: readonly number[] = Object.freeze([8000]);
/** Opus is always signalled at 48000 in RTP (RFC 7587), whatever rate it decodes to. */
const OPUS_RTP_RATES: readonly number[] = Object.freeze([48000]);

/**
 * Throws UnsupportedCodecError (UnsupportedSampleRateError for a rate) unless media can
 * decode `format`: PCMU/PCMA mono at 8000, Opus at 48000, L16 at a standard rate, 1-2 channels.
 * Every ingress checks this before it binds a port or opens a stream (SDP codec choice too).
 */
export function checkAudioFormat(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>): void {
  const { encoding, clockRate, channels } = format;
  if (encoding === 'PCMU' || encoding === 'PCMA') {
    if (clockRate !== 8000) throw new UnsupportedSampleRateError(encoding, clockRate, G711_RATES);
    if (channels !== 1) throw new UnsupportedCodecError(encoding, `${encoding} with ${channels} channels is not supported (1)`);
  } else if (encoding === 'opus') {
    if (clockRate !== 48000) throw new UnsupportedSampleRateError(encoding, clockRate, OPUS_RTP_RATES);
  } else if (encoding === 'L16') {
    assertSupportedSampleRate(clockRate, 'L16');
    if (!(channels === 1 || channels === 2)) throw new UnsupportedCodecError('L16', `L16 with ${channels} channels is not supported (1 or 2)`);
  } else {
    throw new UnsupportedCodecError(encoding, `${encoding} carries no audio to decode`);
  }
}

/**
 * opts.sampleRate: Opus only — decode straight to 8/12/16/24 kHz instead of 48 kHz (libopus
 * does the band-limiting; the RTP clock stays 48 kHz). Other codecs decode at their clock rate.
 */
export function createDecoder(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>, opts: { sampleRate?: number } = {}): AudioDecoder {
  switch (format.encoding) {
    case 'PCMU':
      return new G711Decoder(MULAW_DECODE);
    case 'PCMA':
      return new G711Decoder(ALAW_DECODE);
    case 'L16':
      assertSupportedSampleRate(format.clockRate, 'L16');
      return new L16Decoder(format.clockRate, Math.max(1, format.channels));
    case 'opus': {
      const rate = opts.sampleRate ?? 48000;
      if (!OPUS_DECODE_RATES.includes(rate)) throw new UnsupportedCodecError('opus', `opus cannot decode to ${rate} Hz (${OPUS_DECODE_RATES.join('/')})`);
      return new OpusPayloadDecoder(rate);
    }
    default:
      throw new UnsupportedCodecError(format.encoding, `${format.encoding} carries no audio to decode`);
  }
}

class G711Encoder implements AudioEncoder {
  readonly sampleRate = 8000;
  constructor(readonly encoding: CodecName, private readonly table: Readonly<Uint8Array>) {}
  encode(pcm: Int16Array, offset: number, count: number, out: Uint8Array): number {
    const t = this.table;
    for (let i = 0; i < count; i++) out[i] = t[pcm[offset + i]! & 0xffff]!;
    return count;
  }
  close(): void {}
}

class L16Encoder implements AudioEncoder {
  readonly encoding = 'L16' as const;
  constructor(readonly sampleRate: number) {}
  encode(pcm: Int16Array, offset: number, count: number, out: Uint8Array): number {
    for (let i = 0; i < count; i++) {
      const s = pcm[offset + i]!;
      out[2 * i] = (s >> 8) & 0xff;
      out[2 * i + 1] = s & 0xff;
    }
    return count * 2;
  }
  close(): void {}
}

class OpusPayloadEncoder implements AudioEncoder {
  readonly encoding = 'opus' as const;
  readonly sampleRate = 48000;
  readonly #enc: OpusEncoder;
  constructor(bitrate: number) {
    this.#enc = new OpusEncoder(48000, bitrate);
  }
  encode(pcm: Int16Array, offset: number, count: number, out: Uint8Array): number {
    return this.#enc.encode(pcm, offset, count, out);
  }
  close(): void {
    this.#enc.close();
  }
}

/**
 * Encoder for `devox send` and `devox eval --channel`. Input must be mono int16 at
 * `encoder.sampleRate` (8 kHz G.711, 48 kHz Opus, opts.sampleRate for L16).
 */
export function createEncoder(encoding: CodecName, opts: { sampleRate?: number; bitrate?: number } = {}): AudioEncoder {
  switch (encoding) {
    case 'PCMU':
      return new G711Encoder('PCMU', mulawEncodeTable());
    case 'PCMA':
      return new G711Encoder('PCMA', alawEncodeTable());
    case 'L16':
      assertSupportedSampleRate(opts.sampleRate ?? 16000, 'L16');
      return new L16Encoder(opts.sampleRate ?? 16000);
    case 'opus':
      return new OpusPayloadEncoder(opts.bitrate ?? 32000);
    default:
      throw new UnsupportedCodecError(String(encoding));
  }
}

/** "PCMU/8000": how a payload format is named to people (console, logs); never parsed back. */
export function codecLabel(f: Pick<PayloadFormat, 'encoding' | 'clockRate'>): string {
  return `${f.encoding}/${f.clockRate}`;
}
