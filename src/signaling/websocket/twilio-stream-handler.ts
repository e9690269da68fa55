/**
 * Twilio Media Streams / Telnyx media streaming: JSON text frames, audio as base64 in `media`
 * events, `inbound` / `outbound` tracks → two legs of one call. Frames are placed by their
 * timestamp (and chunk), so frames that arrive out of order land where they belong.
 *
 * Per frame: one JSON.parse + schema check (unavoidable for a JSON protocol), then the base64
 * payload is decoded into a Buffer reused for the connection's life, G.711/L16 decoded into a
 * reused Int16Array, and written into the leg's AudioStream.
 */
import { codecLabel, MAX_DECODED_SAMPLES, type AudioDecoder, type FrameStream } from '../../media/types.js';
import { StreamPolicyError } from './errors.js';
import type { ConnectionContext, ProtocolHandler } from './media-connection.js';
import {
  describeStart,
  legOfTrack,
  parseStreamMessage,
  type MediaFrame,
  type StreamStart,
} from './twilio-messages.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

interface Started {
  start: StreamStart;
  decoder: AudioDecoder;
  inputRate: number;
  bytesPerSample: number;
  /** Most samples one frame may hold (websocket.maxFrameMs at the input rate). */
  maxSamples: number;
  /** Longest accepted payload, in base64 characters. */
  maxBase64: number;
  bytes: Buffer;
  pcm: Int16Array;
  inbound: FrameStream | null;
  outbound: FrameStream | null;
}

export class TwilioStreamHandler implements ProtocolHandler {
  readonly #ctx: ConnectionContext;
  #s: Started | null = null;

  constructor(ctx: ConnectionContext) {
    this.#ctx = ctx;
  }

  get started(): boolean {
    return this.#s !== null;
  }

  onText(text: string, arrivalMs: number): 'continue' | 'stop' {
    const msg = parseStreamMessage(text);
    if (msg === null) {
      this.#ctx.counters.ignored++;
      return 'continue';
    }
    switch (msg.event) {
      case 'media':
        if (this.#s === null) throw new StreamPolicyError('schema', 'media before start');
        this.#media(this.#s, msg.media, arrivalMs);
        return 'continue';
      case 'start':
        if (this.#s !== null) throw new StreamPolicyError('schema', 'second start on one stream');
        this.#s = this.#begin(describeStart(msg));
        return 'continue';
      case 'stop':
        return 'stop';
      case 'error':
        this.#ctx.log.warn({ event: 'error' }, 'client reported a stream error');
        this.#ctx.counters.ignored++;
        return 'continue';
      case 'dtmf':
      case 'mark':
      case 'connected':
        this.#ctx.log.debug({ event: msg.event }, 'control message');
        this.#ctx.counters.ignored++;
        return 'continue';
    }
  }

  onBinary(): void {
    throw new StreamPolicyError('unexpected_binary', 'binary frames are not part of this protocol (JSON text only)');
  }

  close(): void {
    this.#s?.decoder.close();
  }

  #begin(start: StreamStart): Started {
    let decoder: AudioDecoder;
    try {
      decoder = this.#ctx.createDecoder(start.format);
    } catch (err) {
      throw new StreamPolicyError('unsupported_format', `cannot decode ${start.format.encoding}/${start.format.clockRate}`, {
        cause: err,
      });
    }
    const inputRate = decoder.sampleRate;
    const compressed = start.format.encoding === 'opus';
    const bytesPerSample = start.format.encoding === 'L16' ? 2 : 1;
    const maxSamples = Math.ceil((this.#ctx.maxFrameMs * inputRate) / 1000);
    // An Opus packet is at most 1275 bytes per frame, up to 6 frames (RFC 6716 §3.2.5).
    const maxBytes = compressed ? 1275 * 6 : maxSamples * bytesPerSample;
    this.#ctx.log.info({ callId: start.callId, variant: start.variant, encoding: start.format.encoding, inputRate }, 'media stream started');
    return {
      start,
      decoder,
      inputRate,
      bytesPerSample,
      maxSamples,
      maxBase64: Math.ceil(maxBytes / 3) * 4,
      bytes: Buffer.allocUnsafe(maxBytes + 3),
      // Opus may decode up to 120 ms; longer-than-allowed frames are refused after decoding.
      pcm: new Int16Array(compressed ? Math.max(MAX_DECODED_SAMPLES, maxSamples) : maxSamples + 2),
      inbound: null,
      outbound: null,
    };
  }

  #leg(s: Started, track: MediaFrame['track']): FrameStream {
    const name = legOfTrack(track);
    const have = name === 'inbound' ? s.inbound : s.outbound;
    if (have !== null) return have;
    if (s.start.tracks !== null && !s.start.tracks.includes(name)) {
      throw new StreamPolicyError('schema', `media on track ${name}, not announced in start.tracks`);
    }
    const leg = this.#ctx.openLeg(name, s.start.callId, s.inputRate, s.start.identity, codecLabel(s.start.format));
    if (name === 'inbound') s.inbound = leg;
    else s.outbound = leg;
    return leg;
  }

  #media(s: Started, frame: MediaFrame, arrivalMs: number): void {
    const p = frame.payload;
    const len = p.length;
    if (len > s.maxBase64) {
      throw new StreamPolicyError('frame_too_large', `media payload over ${this.#ctx.maxFrameMs} ms of audio`);
    }
    if (len % 4 === 1 || !BASE64.test(p)) throw new StreamPolicyError('bad_base64', 'media.payload is not base64');
    const pads = len > 0 && p.charCodeAt(len - 1) === 61 ? (p.charCodeAt(len - 2) === 61 ? 2 : 1) : 0;
    const expected = Math.floor((len * 3) / 4) - pads;
    // Buffer#write decodes base64 into the reused buffer; it stops silently at bad input,
    // hence the length check.
    const n = s.bytes.write(p, 0, 'base64');
    if (n !== expected) throw new StreamPolicyError('bad_base64', 'media.payload does not decode as base64');
    if (n % s.bytesPerSample !== 0) throw new StreamPolicyError('partial_sample', 'media.payload is not whole 16-bit samples');
    const leg = this.#leg(s, frame.track);
    if (n === 0) return;
    let count: number;
    try {
      count = s.decoder.decode(s.bytes.subarray(0, n), s.pcm);
    } catch (err) {
      throw new StreamPolicyError('undecodable_audio', `media.payload is not a valid ${s.start.format.encoding} packet`, { cause: err });
    }
    if (count > s.maxSamples) throw new StreamPolicyError('frame_too_large', `media payload over ${this.#ctx.maxFrameMs} ms of audio`);
    if (!leg.writeTimed(s.pcm, count, frame.timestamp, frame.chunk ?? -1, arrivalMs)) this.#ctx.counters.dropped++;
    else this.#ctx.counters.frames++;
  }
}
