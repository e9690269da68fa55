/**
 * An exploratory MLP head for the learn-gain measurement (NOT something the runtime can serve:
 * head.json is logistic only): embedding → z-score → H ReLU units → logit, fitted on the same
 * weighted rows as the logistic head (training-set.ts: labelled + distillation rows) by full-batch
 * Adam on the weighted cross-entropy plus 0.5·λ·‖weights‖² (λ on the same scale as learn's:
 * the labelled rows weigh one per window on average). Fixed settings, chosen before any
 * evaluation call was scored; seeded.
 */
import { seededRandom } from '../../src/media/seeded-random.js';
import type { FitRow } from '../../src/learn/logistic.js';

export interface MlpHead {
  dim: number;
  hidden: number;
  mu: Float64Array;
  sd: Float64Array;
  /** hidden × dim, row-major. */
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: number;
}

export interface MlpOptions {
  hidden: number;
  lambda: number;
  epochs: number;
  learningRate: number;
  seed: number;
}

export const MLP_DEFAULTS: MlpOptions = { hidden: 16, lambda: 100, epochs: 300, learningRate: 0.01, seed: 15 };

export function mlpLogit(h: MlpHead, e: ArrayLike<number>, hiddenOut?: Float64Array): number {
  let z = h.b2;
  for (let j = 0; j < h.hidden; j++) {
    let a = h.b1[j]!;
    const o = j * h.dim;
    for (let i = 0; i < h.dim; i++) a += h.w1[o + i]! * ((e[i]! - h.mu[i]!) / h.sd[i]!);
    const r = a > 0 ? a : 0;
    if (hiddenOut) hiddenOut[j] = r;
    z += h.w2[j]! * r;
  }
  return z;
}

export function fitMlp(rows: readonly FitRow[], dim: number, o: MlpOptions = MLP_DEFAULTS): MlpHead {
  const W = rows.reduce((s, r) => s + r.w, 0);
  const mu = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (const r of rows) for (let i = 0; i < dim; i++) mu[i]! += (r.w * r.e[i]!) / W;
  for (const r of rows) for (let i = 0; i < dim; i++) sd[i]! += (r.w * (r.e[i]! - mu[i]!) ** 2) / W;
  for (let i = 0; i < dim; i++) sd[i] = Math.sqrt(sd[i]!) || 1;
  const rand = seededRandom(o.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const H = o.hidden;
  const h: MlpHead = { dim, hidden: H, mu, sd, w1: new Float64Array(H * dim), b1: new Float64Array(H), w2: new Float64Array(H), b2: 0 };
  for (let k = 0; k < h.w1.length; k++) h.w1[k] = gauss() * Math.sqrt(2 / dim);
  for (let j = 0; j < H; j++) h.w2[j] = gauss() * Math.sqrt(1 / H);
  // Parameters as one vector for Adam: w1, b1, w2, b2.
  const n = H * dim + H + H + 1;
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const g = new Float64Array(n);
  const hid = new Float64Array(H);
  const reg = o.lambda / W;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    g.fill(0);
    for (const r of rows) {
      const z = mlpLogit(h, r.e, hid);
      const p = 1 / (1 + Math.exp(-z));
      const dz = (r.w / W) * (p - r.y);
      g[n - 1]! += dz;
      for (let j = 0; j < H; j++) {
        g[H * dim + H + j]! += dz * hid[j]!;
        if (hid[j]! <= 0) continue;
        const da = dz * h.w2[j]!;
        g[H * dim + j]! += da;
        const o1 = j * dim;
        for (let i = 0; i < dim; i++) g[o1 + i]! += da * ((r.e[i]! - mu[i]!) / sd[i]!);
      }
    }
    for (let k = 0; k < H * dim; k++) g[k]! += reg * h.w1[k]!;
    for (let j = 0; j < H; j++) g[H * dim + H + j]! += reg * h.w2[j]!;
    const b1c = 1 - 0.9 ** epoch;
    const b2c = 1 - 0.999 ** epoch;
    for (let k = 0; k < n; k++) {
      m[k] = 0.9 * m[k]! + 0.1 * g[k]!;
      v[k] = 0.999 * v[k]! + 0.001 * g[k]! * g[k]!;
      const step = (o.learningRate * (m[k]! / b1c)) / (Math.sqrt(v[k]! / b2c) + 1e-8);
      if (k < H * dim) h.w1[k]! -= step;
      else if (k < H * dim + H) h.b1[k - H * dim]! -= step;
      else if (k < n - 1) h.w2[k - H * dim - H]! -= step;
      else h.b2 -= step;
    }
  }
  return h;
}
