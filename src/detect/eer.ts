import { seededRandom } from '../media/seeded-random.js';

/**
 * Equal error rate from scores, for `devox eval`. The training side (training/devoxtrain/metrics.py)
 * takes the ROC point nearest the crossing instead of interpolating: the two agree within one
 * ROC step (1 / the smaller class count), not exactly.
 *
 * Positive class = synthetic. For a threshold θ, a window/file is called synthetic when
 * score ≥ θ: FPR(θ) = genuine scored ≥ θ / genuine, FNR(θ) = synthetic scored < θ / synthetic.
 * The ROC is walked over every distinct score (ties move together); the EER is where FNR − FPR
 * changes sign, linearly interpolated between the two ROC points around the crossing, and the
 * threshold is interpolated the same way. Hand-written: a dozen lines, no numeric library in
 * the runtime dependencies.
 */

export interface EerResult {
  eer: number;
  threshold: number;
  genuine: number;
  synthetic: number;
}

/** NaN EER (and threshold) when one class is empty. */
export function computeEer(genuineScores: ArrayLike<number>, syntheticScores: ArrayLike<number>): EerResult {
  const nG = genuineScores.length;
  const nS = syntheticScores.length;
  if (nG === 0 || nS === 0) return { eer: NaN, threshold: NaN, genuine: nG, synthetic: nS };
  const all: Array<[number, 0 | 1]> = [];
  for (let i = 0; i < nG; i++) all.push([genuineScores[i]!, 0]);
  for (let i = 0; i < nS; i++) all.push([syntheticScores[i]!, 1]);
  all.sort((a, b) => a[0] - b[0]);

  // Threshold below every score: everything is called synthetic → FPR 1, FNR 0.
  let prevFpr = 1;
  let prevFnr = 0;
  let prevThr = all[0]![0];
  let genuineBelow = 0;
  let syntheticBelow = 0;
  let i = 0;
  while (i < all.length) {
    const thr = all[i]![0];
    // Raise θ just above `thr`: every sample with this score is now below it.
    while (i < all.length && all[i]![0] === thr) {
      if (all[i]![1] === 0) genuineBelow++;
      else syntheticBelow++;
      i++;
    }
    const fpr = (nG - genuineBelow) / nG;
    const fnr = syntheticBelow / nS;
    const next = i < all.length ? all[i]![0] : thr;
    if (fnr >= fpr) {
      // Crossing between (prevFpr, prevFnr) and (fpr, fnr): solve prevD + t·(d − prevD) = 0 with d = fnr − fpr.
      const d0 = prevFnr - prevFpr;
      const d1 = fnr - fpr;
      const t = d1 === d0 ? 0 : -d0 / (d1 - d0);
      const eer = prevFpr + t * (fpr - prevFpr);
      const thrHere = (thr + next) / 2;
      const threshold = prevThr + t * (thrHere - prevThr);
      return { eer, threshold, genuine: nG, synthetic: nS };
    }
    prevFpr = fpr;
    prevFnr = fnr;
    prevThr = (thr + next) / 2;
  }
  return { eer: 0.5, threshold: prevThr, genuine: nG, synthetic: nS };
}

/**
 * mulberry32 (media/seeded-random.ts): the bootstrap below needs a fixed seed so that
 * `devox eval` prints the same intervals on every run of the same data; Math.random cannot be seeded.
 */
export const mulberry32 = seededRandom;

export interface BootstrapOptions {
  /** Number of resamples. */
  resamples: number;
  /** mulberry32 seed: the same seed over the same units gives the same resamples. */
  seed: number;
}

/**
 * EERs of a cluster bootstrap. A unit is a file: its speech-window scores (window EER) or its one
 * file score (file EER). Each resample draws as many genuine units as there are, uniformly with
 * replacement, then the synthetic units the same way (classes resampled separately, so both keep
 * their size); its EER is over every score of every drawn unit, a unit drawn k times counting k
 * times. Draw order, for each resample: genuine indices, then synthetic, each floor(rand() · n)
 * from one mulberry32(seed) stream.
 *
 * The scores are sorted once and each resample walks that order with per-unit weights: the same
 * ROC walk and interpolation as computeEer, so with these integer weights it equals computeEer over
 * the drawn multiset, at O(scores) per resample instead of a sort. NaN for a resample where one
 * class drew no score at all (every drawn unit empty); all NaN when a class has no unit.
 */
export function bootstrapEers(
  genuineUnits: ReadonlyArray<ArrayLike<number>>,
  syntheticUnits: ReadonlyArray<ArrayLike<number>>,
  opts: BootstrapOptions,
): Float64Array {
  const out = new Float64Array(Math.max(0, Math.floor(opts.resamples))).fill(NaN);
  const nG = genuineUnits.length;
  const nS = syntheticUnits.length;
  if (nG === 0 || nS === 0 || out.length === 0) return out;
  const units = [...genuineUnits, ...syntheticUnits];
  const size = new Float64Array(units.length);
  let total = 0;
  units.forEach((u, i) => {
    size[i] = u.length;
    total += u.length;
  });
  const flatScore = new Float64Array(total);
  const flatUnit = new Int32Array(total);
  let k = 0;
  units.forEach((u, i) => {
    for (let j = 0; j < u.length; j++, k++) {
      flatScore[k] = u[j]!;
      flatUnit[k] = i;
    }
  });
  const order = Uint32Array.from({ length: total }, (_, i) => i).sort((a, b) => flatScore[a]! - flatScore[b]!);
  const score = Float64Array.from(order, (i) => flatScore[i]!);
  const unit = Int32Array.from(order, (i) => flatUnit[i]!);

  const rand = mulberry32(opts.seed);
  const w = new Float64Array(units.length);
  for (let r = 0; r < out.length; r++) {
    w.fill(0);
    for (let i = 0; i < nG; i++) w[Math.floor(rand() * nG)]!++;
    for (let i = 0; i < nS; i++) w[nG + Math.floor(rand() * nS)]!++;
    let wG = 0;
    let wS = 0;
    for (let u = 0; u < units.length; u++) {
      if (u < nG) wG += w[u]! * size[u]!;
      else wS += w[u]! * size[u]!;
    }
    if (wG === 0 || wS === 0) continue;
    out[r] = weightedEer(score, unit, w, nG, wG, wS);
  }
  return out;
}

/** computeEer's walk over presorted scores, sample i weighing w[unit[i]] (unit < nG: genuine). */
function weightedEer(score: Float64Array, unit: Int32Array, w: Float64Array, nG: number, wG: number, wS: number): number {
  let prevFpr = 1;
  let prevFnr = 0;
  let genuineBelow = 0;
  let syntheticBelow = 0;
  let i = 0;
  while (i < score.length) {
    const thr = score[i]!;
    while (i < score.length && score[i] === thr) {
      const u = unit[i]!;
      if (u < nG) genuineBelow += w[u]!;
      else syntheticBelow += w[u]!;
      i++;
    }
    // A step where only zero-weight samples moved repeats the previous point: a no-op, as it must be.
    const fpr = (wG - genuineBelow) / wG;
    const fnr = syntheticBelow / wS;
    if (fnr >= fpr) {
      const d0 = prevFnr - prevFpr;
      const d1 = fnr - fpr;
      const t = d1 === d0 ? 0 : -d0 / (d1 - d0);
      return prevFpr + t * (fpr - prevFpr);
    }
    prevFpr = fpr;
    prevFnr = fnr;
  }
  return 0.5;
}

/**
 * Percentile bootstrap interval of the EER (see bootstrapEers), `level` (default 0.95) central:
 * the (1 − level)/2 and (1 + level)/2 quantiles (linear interpolation between order statistics)
 * of the finite resample EERs. null when no resample has an EER (a class without units, or no
 * resamples asked for).
 */
export function bootstrapEerCi(
  genuineUnits: ReadonlyArray<ArrayLike<number>>,
  syntheticUnits: ReadonlyArray<ArrayLike<number>>,
  opts: BootstrapOptions & { level?: number },
): [number, number] | null {
  const e = Array.from(bootstrapEers(genuineUnits, syntheticUnits, opts))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  if (e.length === 0) return null;
  const alpha = (1 - (opts.level ?? 0.95)) / 2;
  const q = (p: number): number => {
    const h = (e.length - 1) * p;
    const lo = Math.floor(h);
    return lo + 1 < e.length ? e[lo]! + (h - lo) * (e[lo + 1]! - e[lo]!) : e[lo]!;
  };
  return [q(alpha), q(1 - alpha)];
}
