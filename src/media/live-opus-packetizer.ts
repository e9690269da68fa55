/**
 * Live audio to Opus RTP (RFC 7587): blocks of float samples as a tap hands them over
 * (audio-tap.ts) are cut into 20 ms frames, encoded with libopus (opus.ts) at the tap's rate and
 * written as RTP packets (48 kHz clock) into one reused buffer; `onPacket` gets a view of each
 * packet, valid only during the call. Nothing is allocated per frame except that view.
 *
 * Timestamps follow media time. Audio that stops flowing (a leg on hold, a discontinuity) and
 * resumes is placed after the wall-clock time that passed, with the marker bit set, so the
 * receiver's jitter buffer sees a pause rather than audio squeezed together.
 */
import { OpusEncoder } from './opus.js';
import { RTP_HEADER_BYTES, writeRtpHeader } from './rtp-packet.js';
import { OPUS_DECODE_RATES } from './codecs.js';
import { UnsupportedSampleRateError } from './errors.js';

/** Opus's RTP clock rate, whatever the encoder's input rate (RFC 7587). */
const OPUS_CLOCK = 48000;
const FRAME_MS = 20;
const MAX_PAYLOAD = 1500;
/** Audio that arrives later than this after its frame was due is a pause: timestamps jump. */
const PAUSE_MS = 200;

export interface LiveOpusPacketizerOptions {
  /** Rate of the samples written (an Opus input rate: 8, 12, 16, 24 or 48 kHz). */
  sampleRate: number;
  payloadType: number;
  ssrc: number;
  bitrate?: number;
  /** One packet, valid only during the call (copy or send it synchronously). */
  onPacket(packet: Buffer): void;
  /** Wall clock, ms (tests); default performance.now(). */
  now?: () => number;
}

export class LiveOpusPacketizer {
  readonly #o: LiveOpusPacketizerOptions;
  readonly #encoder: OpusEncoder;
  readonly #frame: Int16Array;
  readonly #packet = Buffer.allocUnsafe(RTP_HEADER_BYTES + MAX_PAYLOAD);
  readonly #payload: Uint8Array;
  /** Mutated per packet: writeRtpHeader's argument without an object per packet. */
  readonly #header = { marker: true, payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0 };
  readonly #tsPerFrame: number;
  readonly #now: () => number;
  #filled = 0;
  /** Wall time the next frame is due (media time mapped to the wall clock); NaN before the first. */
  #dueMs = Number.NaN;
  #packets = 0;
  #closed = false;

  constructor(o: LiveOpusPacketizerOptions) {
    if (!OPUS_DECODE_RATES.includes(o.sampleRate)) throw new UnsupportedSampleRateError('Opus encoder input', o.sampleRate, OPUS_DECODE_RATES);
    this.#o = o;
    this.#encoder = new OpusEncoder(o.sampleRate, o.bitrate ?? 32000, 5);
    this.#frame = new Int16Array((o.sampleRate * FRAME_MS) / 1000);
    this.#payload = this.#packet.subarray(RTP_HEADER_BYTES);
    this.#tsPerFrame = (OPUS_CLOCK * FRAME_MS) / 1000;
    this.#now = o.now ?? (() => performance.now());
    const h = this.#header;
    h.payloadType = o.payloadType;
    h.ssrc = o.ssrc >>> 0;
    h.sequence = (Math.random() * 0x10000) & 0xffff;
    h.timestamp = (Math.random() * 0x100000000) >>> 0;
  }

  /** Packets sent so far. */
  get packets(): number {
    return this.#packets;
  }

  /** `count` float samples at samples[offset]; each complete 20 ms frame becomes one packet. */
  write(samples: Float32Array, offset: number, count: number): void {
    if (this.#closed) return;
    const frame = this.#frame;
    const len = frame.length;
    for (let i = 0; i < count; i++) {
      const v = samples[offset + i]!;
      frame[this.#filled++] = v >= 1 ? 32767 : v <= -1 ? -32768 : Math.round(v * 32767);
      if (this.#filled === len) {
        this.#filled = 0;
        this.#send();
      }
    }
  }

  #send(): void {
    const h = this.#header;
    const now = this.#now();
    if (Number.isNaN(this.#dueMs)) {
      this.#dueMs = now;
    } else if (now - this.#dueMs > PAUSE_MS) {
      // A pause: skip the wall time it lasted, in whole frames, and mark the talkspurt.
      const skipped = Math.floor((now - this.#dueMs) / FRAME_MS);
      h.timestamp = (h.timestamp + skipped * this.#tsPerFrame) >>> 0;
      this.#dueMs += skipped * FRAME_MS;
      h.marker = true;
    }
    const n = this.#encoder.encode(this.#frame, 0, this.#frame.length, this.#payload);
    writeRtpHeader(this.#packet, h);
    this.#o.onPacket(this.#packet.subarray(0, RTP_HEADER_BYTES + n));
    this.#packets++;
    h.marker = false;
    h.sequence = (h.sequence + 1) & 0xffff;
    h.timestamp = (h.timestamp + this.#tsPerFrame) >>> 0;
    this.#dueMs += FRAME_MS;
  }

  /** Idempotent: frees the encoder; a partial frame is dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder.close();
  }
}
