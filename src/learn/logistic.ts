/**
 * The numerics of `devox learn`: a logistic head on frozen embeddings.
 *
 * - recoverHead: the serving model's own head from its exported (embedding, score) pairs. The
 *   shipped models end in a linear layer on the embedding (training/devoxtrain/model.py), so
 *   logit(score) = w·e + b exactly; least squares recovers it (its residual says how exactly).
 * - fitHead: weighted logistic regression by Newton's method (IRLS) with an L2 pull towards a
 *   prior head (the serving head): min Σ wᵢ·BCE(yᵢ, σ(w·eᵢ + b)) + λ/2·‖θ − θ₀‖². Targets may be
 *   soft (the distillation windows carry the prior head's probability): that plus the pull is
 *   what keeps the head from forgetting what the backbone's original head knew.
 * - callScore: what the verdict engine smooths, per call: σ(mean clamped log-odds of its windows).
 */

export interface Head {
  weights: number[];
  bias: number;
}

const P_MIN = 1e-4;
const P_MAX = 1 - 1e-4;

export function logit(p: number): number {
  const q = p < P_MIN ? P_MIN : p > P_MAX ? P_MAX : p;
  return Math.log(q / (1 - q));
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function headLogit(h: Head, e: ArrayLike<number>): number {
  let z = h.bias;
  for (let i = 0; i < h.weights.length; i++) z += h.weights[i]! * e[i]!;
  return z;
}

/** The call score the verdict engine converges to: σ(mean log-odds of the window scores). */
export function callScore(windowScores: readonly number[]): number {
  let s = 0;
  for (const p of windowScores) s += logit(p);
  return sigmoid(s / Math.max(1, windowScores.length));
}

/** Solves A x = b (A symmetric positive definite, n×n row-major) in place by Cholesky. */
function solveSpd(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) L[i * n + i] = Math.sqrt(Math.max(s, 1e-12));
      else L[i * n + j] = s / L[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}

/** Least squares of logit(score) on [e, 1] (a tiny ridge for stability); rms residual in log-odds. */
export function recoverHead(embeddings: readonly ArrayLike<number>[], scores: readonly number[]): { head: Head; rmsResidual: number } {
  const dim = embeddings[0]?.length ?? 0;
  if (embeddings.length < dim + 2) throw new Error(`recovering the serving head needs at least ${dim + 2} exported windows, have ${embeddings.length}`);
  const n = dim + 1;
  const A = new Float64Array(n * n);
  const b = new Float64Array(n);
  const x = new Float64Array(n);
  for (let r = 0; r < embeddings.length; r++) {
    const e = embeddings[r]!;
    for (let i = 0; i < dim; i++) x[i] = e[i]!;
    x[dim] = 1;
    const y = logit(scores[r]!);
    for (let i = 0; i < n; i++) {
      b[i]! += x[i]! * y;
      for (let j = 0; j <= i; j++) A[i * n + j]! += x[i]! * x[j]!;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) A[j * n + i] = A[i * n + j]!;
    A[i * n + i]! += 1e-6;
  }
  const theta = solveSpd(A, b, n);
  const head = { weights: Array.from(theta.subarray(0, dim)), bias: theta[dim]! };
  let ss = 0;
  for (let r = 0; r < embeddings.length; r++) {
    const d = headLogit(head, embeddings[r]!) - logit(scores[r]!);
    ss += d * d;
  }
  return { head, rmsResidual: Math.sqrt(ss / embeddings.length) };
}

export interface FitRow {
  e: ArrayLike<number>;
  /** Target probability of synthetic: 0 / 1 for feedback, soft for distillation. */
  y: number;
  w: number;
}

/** Weighted logistic regression with an L2 pull (lambda) towards `prior`, by Newton steps. */
export function fitHead(rows: readonly FitRow[], prior: Head, lambda: number, iterations = 25): Head {
  const dim = prior.weights.length;
  const n = dim + 1;
  const theta = Float64Array.from([...prior.weights, prior.bias]);
  const theta0 = Float64Array.from(theta);
  const x = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    const H = new Float64Array(n * n);
    const g = new Float64Array(n);
    for (const r of rows) {
      for (let i = 0; i < dim; i++) x[i] = r.e[i]!;
      x[dim] = 1;
      let z = 0;
      for (let i = 0; i < n; i++) z += theta[i]! * x[i]!;
      const p = sigmoid(z);
      const gr = r.w * (p - r.y);
      const hr = r.w * Math.max(p * (1 - p), 1e-9);
      for (let i = 0; i < n; i++) {
        g[i]! += gr * x[i]!;
        for (let j = 0; j <= i; j++) H[i * n + j]! += hr * x[i]! * x[j]!;
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) H[j * n + i] = H[i * n + j]!;
      H[i * n + i]! += lambda;
      g[i]! += lambda * (theta[i]! - theta0[i]!);
    }
    const step = solveSpd(H, g, n);
    let norm = 0;
    for (let i = 0; i < n; i++) {
      theta[i]! -= step[i]!;
      norm += step[i]! * step[i]!;
    }
    if (Math.sqrt(norm) < 1e-7) break;
  }
  return { weights: Array.from(theta.subarray(0, dim)), bias: theta[dim]! };
}
