/**
 * Filter design of the streaming resampler (resampler.ts): polyphase, Kaiser-windowed sinc FIR,
 * one immutable design per rate pair, memoised and shared by every stream of that pair.
 *
 * Filter design (Kaiser window, "Kaiser's formula" for the length):
 *   downsampling: stopband edge at the OUTPUT Nyquist (true anti-aliasing), transition
 *                 20% of that Nyquist, 70 dB stopband;
 *   upsampling:   cutoff at the INPUT Nyquist (half-band for 2x: every other phase is a
 *                 single tap), transition 40% of it, 60 dB: phone audio has little energy
 *                 near 4 kHz, so images above 4.8 kHz are what matters.
 * Output sample n is aligned to input time n*inRate/outRate (zero-phase: no group-delay
 * shift between input and output positions); the filter looks R input samples ahead.
 */

export interface ResamplerDesign {
  readonly inRate: number;
  readonly outRate: number;
  /** Interpolation factor L and decimation factor M (outRate/inRate = L/M, reduced). */
  readonly up: number;
  readonly down: number;
  /** Half-width in input samples: each output uses inputs q-R .. q+R. */
  readonly reach: number;
  /** L phases x (2R+1) coefficients, row-major. */
  readonly coeffs: Float64Array;
  /** Per phase, first non-zero coefficient and count (zero taps trimmed). */
  readonly tapStart: Int32Array;
  readonly tapCount: Int32Array;
  /** 1 where a phase's trimmed taps are symmetric (the sum is folded: half the multiplies). */
  readonly symmetric: Uint8Array;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * Largest coefficient table a design may have (~0.5 MiB of Float64). Every pair of standard
 * rates (sample-rates.ts) fits, the largest being 32k->11.025k at 56,007; a near-miss
 * rational such as 47999 -> 16000 (2 million coefficients, ~200 ms to design) is refused.
 */
export const MAX_DESIGN_COEFFS = 1 << 16;

/** Designs kept in memory at once (the standard-rate pairs a server meets are a handful). */
const MAX_CACHED_DESIGNS = 32;

export function designResampler(inRate: number, outRate: number): ResamplerDesign {
  if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
    throw new RangeError(`resampler rates must be positive integers (got ${inRate} -> ${outRate})`);
  }
  const g = gcd(inRate, outRate);
  const L = outRate / g;
  const M = inRate / g;
  if (L === M) {
    return { inRate, outRate, up: 1, down: 1, reach: 0, coeffs: Float64Array.of(1), tapStart: Int32Array.of(0), tapCount: Int32Array.of(1), symmetric: Uint8Array.of(0) };
  }
  // Size first, before any table is built: a ratio like 47999/16000 needs 16000 phases.
  const fsProto = L * inRate;
  let fc: number;
  let df: number;
  let atten: number;
  if (outRate > inRate) {
    const nyq = inRate / 2;
    fc = nyq;
    df = 0.4 * nyq;
    atten = 60;
  } else {
    const nyq = outRate / 2;
    df = 0.2 * nyq;
    fc = nyq - df / 2;
    atten = 70;
  }
  const beta = atten > 50 ? 0.1102 * (atten - 8.7) : 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21);
  const taps = Math.ceil((atten - 7.95) / (2.285 * ((2 * Math.PI * df) / fsProto)));
  const half = taps / 2; // in prototype samples
  const R = Math.ceil(half / L);
  if (L * (2 * R + 1) > MAX_DESIGN_COEFFS) {
    throw new RangeError(`resampler ${inRate} -> ${outRate} Hz needs ${L} phases x ${2 * R + 1} taps `
      + `(limit ${MAX_DESIGN_COEFFS} coefficients): use a standard sample rate`);
  }
  const width = 2 * R + 1;
  const coeffs = new Float64Array(L * width);
  const tapStart = new Int32Array(L);
  const tapCount = new Int32Array(L);
  const fcn = fc / fsProto;
  const i0b = besselI0(beta);
  for (let ph = 0; ph < L; ph++) {
    // Output at prototype time q*L + ph uses input q - R + j at prototype time (q - R + j)*L.
    let sum = 0;
    const row = new Float64Array(width);
    for (let j = 0; j < width; j++) {
      const tau = ph + (R - j) * L;
      if (Math.abs(tau) >= half) continue;
      const x = 2 * fcn * tau;
      const sinc = tau === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const r = tau / half;
      const w = besselI0(beta * Math.sqrt(1 - r * r)) / i0b;
      row[j] = 2 * fcn * sinc * w;
      sum += row[j]!;
    }
    // Unit DC gain per phase (removes the phase-dependent ripple of a finite filter).
    let first = -1;
    let last = -1;
    for (let j = 0; j < width; j++) {
      const c = row[j]! / sum;
      if (Math.abs(c) > 1e-7) {
        if (first < 0) first = j;
        last = j;
      }
      coeffs[ph * width + j] = c;
    }
    tapStart[ph] = first;
    tapCount[ph] = last - first + 1;
  }
  const symmetric = new Uint8Array(L);
  for (let ph = 0; ph < L; ph++) {
    const a = ph * width + tapStart[ph]!;
    const n = tapCount[ph]!;
    let sym = n > 1;
    for (let j = 0; j < n >> 1 && sym; j++) sym = Math.abs(coeffs[a + j]! - coeffs[a + n - 1 - j]!) < 1e-12;
    if (sym) {
      // Make the halves bit-identical so the folded sum equals the plain one.
      for (let j = 0; j < n >> 1; j++) coeffs[a + n - 1 - j] = coeffs[a + j]!;
      symmetric[ph] = 1;
    }
  }
  return { inRate, outRate, up: L, down: M, reach: R, coeffs, tapStart, tapCount, symmetric };
}

/**
 * Immutable designs memoised per rate pair: every stream of the same codec shares one
 * table (a 44.1k->16k design is ~19k coefficients; designing it per stream would be waste).
 */
const designs = new Map<string, ResamplerDesign>();
export function resamplerDesign(inRate: number, outRate: number): ResamplerDesign {
  const key = `${inRate}:${outRate}`;
  let d = designs.get(key);
  if (!d) {
    d = designResampler(inRate, outRate);
    // Bounded: the oldest design goes (streams using it keep their reference).
    if (designs.size >= MAX_CACHED_DESIGNS) designs.delete(designs.keys().next().value!);
    designs.set(key, d);
  }
  return d;
}
