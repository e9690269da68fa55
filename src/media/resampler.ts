/**
 * Streaming rational resampler: polyphase, Kaiser-windowed sinc FIR.
 *
 * Hand-written rather than @alexanderolsen/libsamplerate-js because (evaluated against its
 * source): every converter is its own wasm module instance, created asynchronously, whose C
 * side holds a single global SRC_STATE plus two static transfer buffers of 1,008,000 floats
 * (~8 MB per converter), and each call copies the input through those buffers (`simple()`
 * also returns a fresh array). With one converter per stream and thousands of concurrent
 * streams that is gigabytes of heap and a copy per packet. Our ratios are fixed rationals
 * (8k->16k, 48k->16k, file rates) that a polyphase FIR handles exactly with a small,
 * shared coefficient table and a few KiB of state per stream.
 *
 * This file is the streaming state (history, phase, pull/peek/late insertion); the filter
 * design and its per-rate-pair cache are in resampler-design.ts.
 */

import { resamplerDesign, type ResamplerDesign } from './resampler-design.js';

export { designResampler, MAX_DESIGN_COEFFS, resamplerDesign, type ResamplerDesign } from './resampler-design.js';

/** Largest input chunk one push() accepts. */
export const RESAMPLER_MAX_CHUNK = 2048;

export class StreamResampler {
  readonly design: ResamplerDesign;
  readonly #hist: Float64Array;
  /** Absolute input index of hist[0]; may be negative (leading zeros). */
  #histStart: number;
  #histLen: number;
  /** Next output: input base index q and phase (output n = (q*L + phase)/M... tracked incrementally). */
  #q = 0;
  #phase = 0;
  /** Outputs pulled so far (the absolute index of the next output). */
  #nOut = 0;
  /** Output index of the first value written by the last addLate() call. */
  lateFirst = 0;
  /**
   * 2x half-band fast path (8k->16k, the phone case): even outputs are the input samples,
   * odd ones a folded symmetric FIR; null for other designs.
   */
  readonly #fold: Float64Array | null;

  readonly maxChunk: number;

  /** maxChunk: largest push() between pulls (smaller = less memory per stream). */
  constructor(inRate: number, outRate: number, maxChunk = RESAMPLER_MAX_CHUNK) {
    this.design = resamplerDesign(inRate, outRate);
    this.maxChunk = maxChunk;
    const R = this.design.reach;
    this.#hist = new Float64Array(4 * R + 4 + maxChunk);
    this.#histStart = -R;
    this.#histLen = R; // R zeros before the first input sample
    const d = this.design;
    const width = 2 * R + 1;
    const halfBand =
      d.up === 2 && d.down === 1 && d.tapCount[0] === 1 && d.tapStart[0] === R && d.coeffs[R] === 1 && d.symmetric[1] === 1 && d.tapCount[1]! % 2 === 0;
    this.#fold = halfBand ? d.coeffs.slice(width + d.tapStart[1]!, width + d.tapStart[1]! + d.tapCount[1]! / 2) : null;
  }

  /** Upper bound on outputs produced by pull() after pushing `count` inputs. */
  maxOutput(count: number): number {
    return Math.ceil(((count + this.design.reach + 1) * this.design.up) / this.design.down) + 2;
  }

  /** Appends int16 samples (scaled to [-1, 1)); count <= maxChunk. */
  pushInt16(src: Int16Array, offset: number, count: number): void {
    this.#reserve(count);
    const h = this.#hist;
    let w = this.#histLen;
    for (let i = 0; i < count; i++) h[w++] = src[offset + i]! * (1 / 32768);
    this.#histLen = w;
  }

  pushFloat(src: Float32Array, offset: number, count: number): void {
    this.#reserve(count);
    const h = this.#hist;
    let w = this.#histLen;
    for (let i = 0; i < count; i++) h[w++] = src[offset + i]!;
    this.#histLen = w;
  }

  /** Appends `count` zero samples; count <= maxChunk. */
  pushSilence(count: number): void {
    this.#reserve(count);
    this.#hist.fill(0, this.#histLen, this.#histLen + count);
    this.#histLen += count;
  }

  /** Writes every output whose inputs are available into out (from outOffset); returns the count. */
  pull(out: Float32Array, outOffset = 0): number {
    const { up: L, down: M, reach: R, coeffs, tapStart, tapCount, symmetric } = this.design;
    const width = 2 * R + 1;
    const h = this.#hist;
    const end = this.#histStart + this.#histLen; // absolute index one past the last input
    let q = this.#q;
    let ph = this.#phase;
    let k = outOffset;
    const cap = out.length;
    const histStart = this.#histStart;
    const fold = this.#fold;
    if (fold !== null) {
      const half = fold.length;
      const s1 = tapStart[1]!;
      while (q + R < end && k < cap) {
        if (ph === 0) {
          out[k++] = h[q - histStart]!;
          ph = 1;
          continue;
        }
        const h0 = q - R - histStart + s1;
        const last = h0 + 2 * half - 1;
        let acc = 0;
        for (let j = 0; j < half; j++) acc += fold[j]! * (h[h0 + j]! + h[last - j]!);
        out[k++] = acc;
        ph = 0;
        q++;
      }
    }
    while (q + R < end && k < cap) {
      const s = tapStart[ph]!;
      const n = tapCount[ph]!;
      const c0 = ph * width + s;
      const h0 = q - R - histStart + s;
      let acc = 0;
      if (symmetric[ph] === 1) {
        const half = n >> 1;
        const last = h0 + n - 1;
        for (let j = 0; j < half; j++) acc += coeffs[c0 + j]! * (h[h0 + j]! + h[last - j]!);
        if (n & 1) acc += coeffs[c0 + half]! * h[h0 + half]!;
      } else {
        for (let j = 0; j < n; j++) acc += coeffs[c0 + j]! * h[h0 + j]!;
      }
      out[k++] = acc;
      ph += M;
      while (ph >= L) {
        ph -= L;
        q++;
      }
    }
    this.#q = q;
    this.#phase = ph;
    this.#nOut += k - outOffset;
    // Keep only what the next output still needs (inputs from q-R on).
    const drop = q - R - this.#histStart;
    if (drop > 0) {
      const keep = this.#histLen - drop;
      if (keep > 0) h.copyWithin(0, drop, this.#histLen);
      this.#histStart += drop;
      this.#histLen = Math.max(0, keep);
    }
    return k - outOffset;
  }

  /** Forget all history (a discontinuity): the next input is treated as index 0 again. */
  reset(): void {
    const R = this.design.reach;
    this.#hist.fill(0, 0, R);
    this.#histStart = -R;
    this.#histLen = R;
    this.#q = 0;
    this.#phase = 0;
    this.#nOut = 0;
  }

  /**
   * True when the next `count` outputs have their centre input sample available, so only
   * the filter's look-ahead (R inputs) is missing and peek() can approximate them.
   */
  canPeek(count: number): boolean {
    const { up: L, down: M } = this.design;
    const q = Math.floor(((this.#nOut + count - 1) * M) / L);
    return q < this.#histStart + this.#histLen;
  }

  /**
   * The next `count` outputs computed as if the input stopped here (zeros beyond it), without
   * consuming anything: pull() later produces the exact values once the input arrives.
   */
  peek(out: Float32Array, count: number): void {
    const { up: L, down: M, reach: R, coeffs, tapStart, tapCount } = this.design;
    const width = 2 * R + 1;
    const h = this.#hist;
    const hs = this.#histStart;
    const end = hs + this.#histLen;
    let q = this.#q;
    let ph = this.#phase;
    for (let k = 0; k < count; k++) {
      const s = tapStart[ph]!;
      const i0 = q - R + s;
      const n = Math.min(tapCount[ph]!, end - i0);
      const c0 = ph * width + s;
      let acc = 0;
      for (let j = 0; j < n; j++) acc += coeffs[c0 + j]! * h[i0 - hs + j]!;
      out[k] = acc;
      ph += M;
      while (ph >= L) {
        ph -= L;
        q++;
      }
    }
  }

  /** Outputs pulled so far. */
  get outputCount(): number {
    return this.#nOut;
  }

  /** Upper bound on the outputs addLate() writes for a block of `count` inputs. */
  maxLateOutput(count: number): number {
    return Math.ceil(((count + 2 * this.design.reach + 2) * this.design.up) / this.design.down) + 2;
  }

  /**
   * Late samples for a span that went in as zeros (a gap): by linearity, the output with the
   * block present = the output computed with zeros + the block's own contribution. Writes the
   * contribution to outputs already pulled (from index max(minOut, ...)) into out, setting
   * lateFirst to the index of out[0]; patches the history so outputs not yet pulled include
   * the block. `at` is the absolute input index of src[off]; returns the outputs written.
   */
  addLate(src: Int16Array, off: number, count: number, at: number, minOut: number, out: Float32Array): number {
    const { up: L, down: M, reach: R, coeffs, tapStart, tapCount } = this.design;
    const width = 2 * R + 1;
    let n = Math.max(minOut, Math.ceil(((at - R) * L) / M));
    this.lateFirst = n;
    let k = 0;
    for (; n < this.#nOut && k < out.length; n++) {
      const q = Math.floor((n * M) / L);
      if (q - R > at + count - 1) break;
      const ph = n * M - q * L;
      const s = tapStart[ph]!;
      const i0 = q - R + s; // absolute input index under the phase's first tap
      const jFrom = Math.max(0, at - i0);
      const jTo = Math.min(tapCount[ph]!, at + count - i0);
      const c0 = ph * width + s;
      let acc = 0;
      for (let j = jFrom; j < jTo; j++) acc += coeffs[c0 + j]! * src[off + i0 + j - at]!;
      out[k++] = acc * (1 / 32768);
    }
    const h = this.#hist;
    const hs = this.#histStart;
    const from = Math.max(at, hs);
    const to = Math.min(at + count, hs + this.#histLen);
    for (let i = from; i < to; i++) h[i - hs]! += src[off + i - at]! * (1 / 32768);
    return k;
  }

  #reserve(count: number): void {
    if (count > this.maxChunk || this.#histLen + count > this.#hist.length) {
      throw new RangeError(`resampler chunk too large (${count} > ${this.maxChunk} or not pulled)`);
    }
  }
}

/** Whole-buffer resampling (files, tests): output length round(len * out / in), aligned to the input. */
export function resampleBuffer(samples: Float32Array, inRate: number, outRate: number): Float32Array {
  if (inRate === outRate) return samples.slice();
  const rs = new StreamResampler(inRate, outRate);
  const total = Math.round((samples.length * outRate) / inRate);
  const out = new Float32Array(total + rs.maxOutput(RESAMPLER_MAX_CHUNK));
  let k = 0;
  for (let i = 0; i < samples.length; i += RESAMPLER_MAX_CHUNK) {
    const n = Math.min(RESAMPLER_MAX_CHUNK, samples.length - i);
    rs.pushFloat(samples, i, n);
    k += rs.pull(out, k);
  }
  // Flush the look-ahead with zeros.
  let pad = rs.design.reach + 1;
  while (k < total && pad > 0) {
    const n = Math.min(RESAMPLER_MAX_CHUNK, pad);
    rs.pushSilence(n);
    pad -= n;
    k += rs.pull(out, k);
  }
  return out.slice(0, total);
}
