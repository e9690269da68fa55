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
