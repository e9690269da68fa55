/**
 * FreeSWITCH mod_audio_fork (subprotocol audio.drachtio.org) and jambonz `listen`
 * (audio.jambonz.org): one JSON metadata text frame, then binary frames of 16-bit little-endian
 * linear PCM at metadata.sampleRate; stereo frames interleave caller (left) and callee (right).
 * Frames carry no position of their own, so each leg's audio is placed end to end.
 *
 * Samples are read byte-wise into reused per-channel Int16Arrays (hand-written: it handles odd
 * byte offsets of ws's Buffers and big-endian hosts, and de-interleaves in the same pass).
 */
import type { FrameStream } from '../../media/types.js';
import { StreamPolicyError } from './errors.js';
import { parseForkMetadata, type ForkStart } from './fork-metadata.js';
import type { ConnectionContext, ProtocolHandler } from './media-connection.js';

interface Started {
  meta: ForkStart;
  legs: FrameStream[];
  /** One reused buffer per channel. */
  pcm: Int16Array[];
  maxBytes: number;
}

export class PcmForkHandler implements ProtocolHandler {
  readonly #ctx: ConnectionContext;
  #s: Started | null = null;

  constructor(ctx: ConnectionContext) {
    this.#ctx = ctx;
  }

  get started(): boolean {
    return this.#s !== null;
  }

  onText(text: string): 'continue' {
    if (this.#s === null) {
      const meta = parseForkMetadata(text);
      const channels = meta.legs.length;
      const maxSamples = Math.ceil((this.#ctx.maxFrameMs * meta.sampleRate) / 1000);
      this.#s = {
        meta,
        legs: meta.legs.map((leg) => this.#ctx.openLeg(leg, meta.callId, meta.sampleRate, meta.identity, `L16/${meta.sampleRate}`)),
        pcm: meta.legs.map(() => new Int16Array(maxSamples)),
        maxBytes: maxSamples * 2 * channels,
      };
      this.#ctx.log.info({ callId: meta.callId, sampleRate: meta.sampleRate, mixType: meta.mixType }, 'media stream started');
      return 'continue';
    }
    // Later text frames (jambonz sends e.g. DTMF events) must still be JSON objects.
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new StreamPolicyError('not_json', 'text frame is not JSON', { cause: err });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new StreamPolicyError('schema', 'text frame is not a JSON object');
    }
    this.#ctx.counters.ignored++;
    return 'continue';
  }

  onBinary(data: Buffer, arrivalMs: number): void {
    const s = this.#s;
    if (s === null) throw new StreamPolicyError('unexpected_binary', 'binary audio before the metadata text frame');
    const bytes = data.length;
    if (bytes > s.maxBytes) {
      throw new StreamPolicyError('frame_too_large', `audio frame of ${bytes} bytes is over ${this.#ctx.maxFrameMs} ms`);
    }
    const channels = s.legs.length;
    const frameBytes = 2 * channels;
    if (bytes % frameBytes !== 0) {
      throw new StreamPolicyError('partial_sample', `audio frame of ${bytes} bytes is not whole ${channels}-channel 16-bit samples`);
    }
    const n = bytes / frameBytes;
    if (n === 0) return;
    if (channels === 1) {
      const out = s.pcm[0]!;
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = ((data[j]! | (data[j + 1]! << 8)) << 16) >> 16;
    } else {
      const left = s.pcm[0]!;
      const right = s.pcm[1]!;
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        left[i] = ((data[j]! | (data[j + 1]! << 8)) << 16) >> 16;
        right[i] = ((data[j + 2]! | (data[j + 3]! << 8)) << 16) >> 16;
      }
    }
    for (let c = 0; c < channels; c++) s.legs[c]!.append(s.pcm[c]!, 0, n, arrivalMs);
    this.#ctx.counters.frames++;
  }

  close(): void {
    // Nothing to release: the legs are ended by the connection.
  }
}
