/**
 * Does received audio carry the content of sent audio? Compare loudness envelopes (RMS per
 * 20 ms block, in dB): robust to codecs, resampling, gain and a constant delay. The received
 * envelope is slid along the reference's (every lag), and the best Pearson correlation wins;
 * an unrelated reference run through the same search gives the level chance reaches.
 */

export const BLOCK_SEC = 0.02;

/** RMS per BLOCK_SEC block. */
export function rmsEnvelope(samples: Float32Array, sampleRate: number): number[] {
  const n = Math.round(sampleRate * BLOCK_SEC);
  const out: number[] = [];
  for (let i = 0; i + n <= samples.length; i += n) {
    let acc = 0;
    for (let k = i; k < i + n; k++) acc += samples[k]! * samples[k]!;
    out.push(Math.sqrt(acc / n));
  }
  return out;
}

/** The envelope without the digital silence (exact zeros) before audio started and after it stopped. */
export function trimSilence(env: number[], floor = 1e-6): number[] {
  let a = 0;
  let b = env.length;
  while (a < b && env[a]! < floor) a++;
  while (b > a && env[b - 1]! < floor) b--;
  return env.slice(a, b);
}

function db(env: number[]): Float64Array {
  return Float64Array.from(env, (x) => 20 * Math.log10(x + 1e-4));
}

/** Best correlation of `got` against `ref` over every lag where got fits inside ref, and that lag (s). */
export function bestEnvelopeCorrelation(got: number[], ref: number[]): { r: number; lagSec: number } {
  const g = db(got);
  const f = db(ref);
  const n = g.length;
  if (n < 10 || f.length < n) throw new Error(`envelopes too short (${n} blocks received, ${f.length} in the reference)`);
  let gm = 0;
  for (const x of g) gm += x;
  gm /= n;
  let gg = 0;
  for (const x of g) gg += (x - gm) * (x - gm);
  let best = { r: -2, lagSec: 0 };
  for (let lag = 0; lag + n <= f.length; lag++) {
    let fm = 0;
    for (let i = 0; i < n; i++) fm += f[lag + i]!;
    fm /= n;
    let fg = 0;
    let ff = 0;
    for (let i = 0; i < n; i++) {
      const d = f[lag + i]! - fm;
      fg += d * (g[i]! - gm);
      ff += d * d;
    }
    const r = fg / Math.sqrt(gg * ff || 1);
    if (r > best.r) best = { r, lagSec: lag * BLOCK_SEC };
  }
  return best;
}
