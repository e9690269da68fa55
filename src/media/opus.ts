/**
 * Opus through libopus compiled to wasm by `opusscript` (the maintained wasm build
 * we depend on; no native toolchain needed). We drive its embind handler directly
 * instead of the `OpusScript` class because that class (0.1.1):
 *   - allocates a new Buffer per encode/decode call (per packet on the hot path), and
 *   - keeps typed-array views that go stale when the wasm heap grows, and computes its
 *     PCM addresses as 2x the malloc'd pointer, so with a few thousand instances it
 *     throws "detached ArrayBuffer" / "memory access out of bounds".
 * Here every instance mallocs its own buffers once and re-reads the module's current
 * heap views on each call (they are replaced on growth), so nothing is allocated per packet.
 * The handler's PCM convention (measured, not documented): each byte of the
 * little-endian int16 PCM occupies one uint16 slot of the wasm heap.
 */
import { createRequire } from 'node:module';
import { OpusCodecError } from './errors.js';

export { OpusCodecError } from './errors.js';

/** opusscript's wasm libopus, as opus.ts and ogg-opus.ts drive it. */
export interface OpusHandler {
  _encode(pcmPtr: number, pcmBytes: number, outPtr: number, frameSize: number): number;
  _decode(inPtr: number, inBytes: number, pcmPtr: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
  _decoder_ctl(ctl: number, arg: number): number;
}
export interface OpusNative {
  OpusScriptHandler: { new (rate: number, channels: number, application: number): OpusHandler; destroy_handler(h: OpusHandler): void };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  HEAPU16: Uint16Array;
}

/** The wasm module is instantiated once per process (synchronously) and shared by every Opus codec and Ogg Opus file. */
let native: OpusNative | undefined;
export function opusNative(): OpusNative {
  if (!native) {
    const require = createRequire(import.meta.url);
    const factory = require('opusscript/build/opusscript_native_wasm.js') as () => OpusNative;
    native = factory();
  }
  return native;
}

/** 120 ms at 48 kHz: the longest Opus packet duration. */
export const OPUS_MAX_FRAME = 5760;
const MAX_PACKET_BYTES = 1276 * 3;
const APPLICATION_VOIP = 2048;
const APPLICATION_AUDIO = 2049;
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;

abstract class OpusBase {
  protected readonly n: OpusNative;
  protected readonly handler: OpusHandler;
  protected readonly pcmPtr: number;
  protected readonly bytesPtr: number;
  #closed = false;
  constructor(readonly sampleRate: number, voip: boolean) {
    this.n = opusNative();
    this.handler = new this.n.OpusScriptHandler(sampleRate, 1, voip ? APPLICATION_VOIP : APPLICATION_AUDIO);
    // One uint16 slot per PCM byte: 2 bytes per sample -> 4 heap bytes per sample.
    this.pcmPtr = this.n._malloc(OPUS_MAX_FRAME * 4);
    this.bytesPtr = this.n._malloc(MAX_PACKET_BYTES);
  }
  get closed(): boolean {
    return this.#closed;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.n.OpusScriptHandler.destroy_handler(this.handler);
    this.n._free(this.pcmPtr);
    this.n._free(this.bytesPtr);
  }
}

/** Mono Opus decoder (a stereo stream is downmixed by libopus). */
export class OpusDecoder extends OpusBase {
  constructor(sampleRate = 48000) {
    super(sampleRate, false);
  }
  /** Decodes the packet at buf[offset, offset + length) into out; returns samples written. Throws OpusCodecError on a bad packet. */
  decode(buf: Uint8Array, offset: number, length: number, out: Int16Array): number {
    if (length > MAX_PACKET_BYTES) throw new OpusCodecError('decode', -4);
    const heap = this.n.HEAPU8;
    const dst = this.bytesPtr;
    for (let i = 0; i < length; i++) heap[dst + i] = buf[offset + i]!;
    const got = this.handler._decode(this.bytesPtr, length, this.pcmPtr);
    if (got < 0) throw new OpusCodecError('decode', got);
    const u16 = this.n.HEAPU16;
    const base = this.pcmPtr >> 1;
    const n = Math.min(got, out.length);
    for (let i = 0; i < n; i++) {
      const v = (u16[base + 2 * i]! & 0xff) | ((u16[base + 2 * i + 1]! & 0xff) << 8);
      out[i] = (v << 16) >> 16;
    }
    return n;
  }
}

export class OpusEncoder extends OpusBase {
  /** complexity 0..10: the wasm build has no SIMD, so 10 costs ~5 ms per 20 ms frame; 5 is ~3x cheaper. */
  constructor(sampleRate = 48000, bitrate = 32000, complexity = 5) {
    super(sampleRate, true);
    let rc = this.handler._encoder_ctl(OPUS_SET_BITRATE, bitrate);
    if (rc < 0) throw new OpusCodecError('set bitrate', rc);
    rc = this.handler._encoder_ctl(OPUS_SET_COMPLEXITY, complexity);
    if (rc < 0) throw new OpusCodecError('set complexity', rc);
  }
  /** Encodes exactly one frame (2.5/5/10/20/40/60 ms) of mono int16; returns bytes written to out. */
  encode(pcm: Int16Array, offset: number, count: number, out: Uint8Array): number {
    if (count > OPUS_MAX_FRAME) throw new OpusCodecError('encode', -1);
    const u16 = this.n.HEAPU16;
    const base = this.pcmPtr >> 1;
    for (let i = 0; i < count; i++) {
      const s = pcm[offset + i]! & 0xffff;
      u16[base + 2 * i] = s & 0xff;
      u16[base + 2 * i + 1] = s >> 8;
    }
    const len = this.handler._encode(this.pcmPtr, count * 2, this.bytesPtr, count);
    if (len < 0) throw new OpusCodecError('encode', len);
    if (len > out.length) throw new OpusCodecError('encode', -2);
    out.set(this.n.HEAPU8.subarray(this.bytesPtr, this.bytesPtr + len));
    return len;
  }
}
