/**
 * Does received audio carry the content of sent audio? Compare loudness envelopes (RMS per
 * 20 ms block, in dB): robust to codecs, resampling, gain and delay. The received envelope is
 * aligned along the reference's by cross-correlation (envelopeMatch); an unrelated reference
 * run through the same search gives the level chance reaches.
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

/** Pearson correlation of a[aStart + i] and b[bStart + i] over i < n where keep[aStart + i]. */
function pearson(a: Float64Array, b: Float64Array, bStart: number, n: number, keep: Uint8Array, aStart = 0): number {
  let am = 0;
  let bm = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (!keep[aStart + i]) continue;
    am += a[aStart + i]!;
    bm += b[bStart + i]!;
    k++;
  }
  if (k < 5) return -2;
  am /= k;
  bm /= k;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    if (!keep[aStart + i]) continue;
    const x = a[aStart + i]! - am;
    const y = b[bStart + i]! - bm;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb || 1);
}

/** Below this RMS a received block is a capture dropout (exact zeros), not audio. */
const DROPOUT_RMS = 1e-5;

/**
 * How well `got` follows `ref`: the best lag of the whole of `got` along `ref` (Pearson
 * correlation of dB envelopes, every lag where it fits), then each `chunkSec` piece of `got`
 * re-aligned within ±`slackSec` of that lag, and the correlation of `got` with the reference so
 * aligned (`r`). The slack absorbs what a loaded machine does to timing on the way to the ear
 * (a jitter buffer stretching audio while it waits, then catching up; WebAudio's stream FIFO
 * inserting silence, then dropping audio); blocks of `got` that are dropouts are left out. An
 * unrelated reference gets the same search, so its `r` is the level chance reaches. `rigid`:
 * the correlation at the one best lag.
 */
export function envelopeMatch(got: number[], ref: number[], opts: { chunkSec?: number; slackSec?: number } = {}): { r: number; rigid: number; lagSec: number } {
  const g = db(got);
  const f = db(ref);
  const n = g.length;
  if (n < 10 || f.length < n) throw new Error(`envelopes too short (${n} blocks received, ${f.length} in the reference)`);
  const keep = Uint8Array.from(got, (x) => (x >= DROPOUT_RMS ? 1 : 0));
  let rigid = -2;
  let lag = 0;
  for (let l = 0; l + n <= f.length; l++) {
    const r = pearson(g, f, l, n, keep);
    if (r > rigid) {
      rigid = r;
      lag = l;
    }
  }
  const chunk = Math.round((opts.chunkSec ?? 2) / BLOCK_SEC);
  const slack = Math.round((opts.slackSec ?? 0.5) / BLOCK_SEC);
  const aligned = new Float64Array(n);
  for (let c = 0; c < n; c += chunk) {
    const len = Math.min(chunk, n - c);
    let best = -2;
    let at = lag + c;
    for (let l = Math.max(0, lag - slack); l <= Math.min(f.length - n, lag + slack); l++) {
      const r = pearson(g, f, l + c, len, keep, c);
      if (r > best) {
        best = r;
        at = l + c;
      }
    }
    aligned.set(f.subarray(at, at + len), c);
  }
  return { r: pearson(g, aligned, 0, n, keep), rigid, lagSec: lag * BLOCK_SEC };
}
