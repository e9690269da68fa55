/**
 * The numerics of `devox learn`: a logistic head on frozen embeddings.
 *
 * - recoverHead: the serving model's own head from its exported (embedding, score) pairs. The
 *   shipped models end in a linear layer on the embedding (training/devoxtrain/model.py), so
 *   logit(score) = w·e + b exactly; least squares recovers it (its residual says how exactly).
 * - fitHead: weighted logistic regression by Newton's method (IRLS) with an L2 pull towards a
 *   prior head (the serving head): min Σ wᵢ·BCE(yᵢ, σ(w·eᵢ + b)) + λ/2·‖θ − θ₀‖² (θ in z-scored
 *   embedding coordinates). Targets may be
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

/** The objective fitHead minimises (standardised space). */
function objective(rows: readonly FitRow[], xs: Float64Array, n: number, theta: Float64Array, theta0: Float64Array, lambda: number): number {
  let f = 0;
  for (let r = 0; r < rows.length; r++) {
    let z = 0;
    for (let i = 0; i < n; i++) z += theta[i]! * xs[r * n + i]!;
    // BCE with logits, stable: log(1 + e^z) - y z
    const y = rows[r]!.y;
    f += rows[r]!.w * ((z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y * z);
  }
  let pen = 0;
  for (let i = 0; i < n; i++) pen += (theta[i]! - theta0[i]!) ** 2;
  return f + 0.5 * lambda * pen;
}

/**
 * Weighted logistic regression with an L2 pull (lambda) towards `prior`, by damped Newton steps
 * (backtracking on the objective) in standardised coordinates: each embedding dimension is
 * z-scored over the rows, so the pull weighs every dimension alike and the steps stay well
 * conditioned; the result is mapped back to raw embedding coordinates.
 */
export function fitHead(rows: readonly FitRow[], prior: Head, lambda: number, iterations = 50): Head {
  const dim = prior.weights.length;
  const n = dim + 1;
  const mu = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (const r of rows) for (let i = 0; i < dim; i++) mu[i]! += r.e[i]! / rows.length;
  for (const r of rows) for (let i = 0; i < dim; i++) sd[i]! += (r.e[i]! - mu[i]!) ** 2 / rows.length;
  for (let i = 0; i < dim; i++) sd[i] = Math.sqrt(sd[i]!) || 1;
  const xs = new Float64Array(rows.length * n);
  rows.forEach((r, k) => {
    for (let i = 0; i < dim; i++) xs[k * n + i] = (r.e[i]! - mu[i]!) / sd[i]!;
    xs[k * n + dim] = 1;
  });
  // The prior in standardised coordinates: w'ᵢ = wᵢ·sdᵢ, b' = b + Σ wᵢ·μᵢ.
  const theta0 = new Float64Array(n);
  let b0 = prior.bias;
  for (let i = 0; i < dim; i++) {
    theta0[i] = prior.weights[i]! * sd[i]!;
    b0 += prior.weights[i]! * mu[i]!;
  }
  theta0[dim] = b0;
  const theta = Float64Array.from(theta0);
  let f = objective(rows, xs, n, theta, theta0, lambda);
  for (let it = 0; it < iterations; it++) {
    const H = new Float64Array(n * n);
    const g = new Float64Array(n);
    for (let r = 0; r < rows.length; r++) {
      const o = r * n;
      let z = 0;
      for (let i = 0; i < n; i++) z += theta[i]! * xs[o + i]!;
      const p = sigmoid(z);
      const gr = rows[r]!.w * (p - rows[r]!.y);
      const hr = rows[r]!.w * Math.max(p * (1 - p), 1e-9);
      for (let i = 0; i < n; i++) {
        g[i]! += gr * xs[o + i]!;
        for (let j = 0; j <= i; j++) H[i * n + j]! += hr * xs[o + i]! * xs[o + j]!;
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) H[j * n + i] = H[i * n + j]!;
      H[i * n + i]! += lambda + 1e-6;
      g[i]! += lambda * (theta[i]! - theta0[i]!);
    }
    const step = solveSpd(H, g, n);
    let alpha = 1;
    let next = new Float64Array(n);
    let fn = Infinity;
    for (let k = 0; k < 30; k++, alpha /= 2) {
      for (let i = 0; i < n; i++) next[i] = theta[i]! - alpha * step[i]!;
      fn = objective(rows, xs, n, next, theta0, lambda);
      if (fn <= f) break;
    }
    if (!(fn <= f)) break;
    const gain = f - fn;
    theta.set(next);
    f = fn;
    next = new Float64Array(0);
    if (gain < 1e-9 * Math.max(1, Math.abs(f))) break;
  }
  const weights = new Array<number>(dim);
  let bias = theta[dim]!;
  for (let i = 0; i < dim; i++) {
    weights[i] = theta[i]! / sd[i]!;
    bias -= weights[i]! * mu[i]!;
  }
  return { weights, bias };
}
