/**
 * Export parity: the same windows through PyTorch, Python onnxruntime and onnxruntime-node (the runtime's engine)
 * give the same probabilities within 1e-4 — for a fresh random-init export and for the shipped model
 * (each shipped model's model.pt holds the weights its model.onnx was exported from: one network, or the members of
 * an ensemble, training/make_ensemble.py).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t from 'tap';
import { check, projectRoot } from './python.js';

interface Parity {
  windows: number; max_abs_prob: number; max_abs_embedding: number; embedding_diff_per_window: number[]; max_abs_batch1_vs_batch: number;
  probs_torch: number[]; probs_onnx: number[]; inputs: Array<[string, Array<string | number>]>; outputs: string[];
  output_shapes: string[][];
}

const TOL = 1e-4;
/**
 * The shipped 2.0 models are plain CNNs (dense 3x3 convolutions, 64-channel sums) whose windows here include
 * near-silence, where the log floor magnifies float32 rounding: PyTorch and onnxruntime accumulate in different
 * orders and measured 2.8e-4 in probability (2.9e-3 in the unnormalised 64-d embedding). Export parity on real
 * speech windows, which training checks, is 2e-5 or better (card: metrics.export_parity_max_abs).
 */
const TOL_SHIPPED = 1e-3;
const TOL_SHIPPED_EMBEDDING = 1e-2;
/** Index of the all-zeros window in test/training/checks.py cmd_parity's list, and its bound (see below). */
const SILENCE = 2;
const TOL_SILENCE = 5e-3;
const TOL_SILENCE_EMBEDDING = 5e-2;
const SHIPPED_DIRS = ['models/devox-phone', 'models/devox-phone-nb'];

async function nodeScores(modelPath: string, f32Path: string, n: number): Promise<{ probs: Float32Array; dims: readonly number[] }> {
  const buf = await readFile(f32Path);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const out = await session.run({ audio: new ort.Tensor('float32', data, [n, 16000]) });
    const p = out.prob_synthetic!;
    return { probs: p.data as Float32Array, dims: p.dims };
  } finally {
    await session.release();
  }
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const variant of ['default', 'oc', 'narrowband', 'phase', 'asp']) t.test(`random-init export (${variant} graph): PyTorch = onnxruntime (Python)`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-parity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f32 = join(dir, 'windows.f32');
  const p = await check<Parity>(['parity', '--dump', f32, '--variant', variant]);
  t.same(p.inputs, [['audio', ['batch', 16000]]], 'input "audio" [batch, 16000], dynamic batch');
  t.same(p.outputs, ['prob_synthetic', 'embedding']);
  t.ok(p.max_abs_prob < TOL, `max |torch - ort| prob ${p.max_abs_prob.toExponential(2)}`);
  t.ok(p.max_abs_embedding < TOL, `max |torch - ort| embedding ${p.max_abs_embedding.toExponential(2)}`);
  t.ok(p.max_abs_batch1_vs_batch < 1e-5, 'batch of 1 = batch of 7');
  t.ok(new Set(p.probs_torch.map((x) => x.toFixed(4))).size > 1, 'the windows get different scores (not a constant)');
});

for (const rel of SHIPPED_DIRS) t.test(`${rel}: PyTorch weights = model.onnx in Python and in onnxruntime-node`, async (t) => {
  const SHIPPED = join(projectRoot, rel);
  t.ok(existsSync(join(SHIPPED, 'model.onnx')) && existsSync(join(SHIPPED, 'model.pt')), `${rel} has model.onnx and model.pt`);
  const dir = await mkdtemp(join(tmpdir(), 'devox-parity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f32 = join(dir, 'windows.f32');
  const p = await check<Parity>(['parity', SHIPPED, '--dump', f32]);
  // Window SILENCE is digital silence (all zeros): the log floor turns float32 rounding of a zero spectrum into
  // feature noise, and the 2.2 models measured 1.0e-3 (ensemble) / 1.5e-3 (one member) in probability and 1.2e-2 in
  // the unnormalised embedding there, against ≤ 1.2e-6 and ≤ 1.7e-5 on every other window. The runtime never lets
  // such a window vote (speech gating), so it gets looser bounds.
  const strict = (a: ArrayLike<number>, b: ArrayLike<number>): number => maxAbs(Array.from(a).filter((_, i) => i !== SILENCE), Array.from(b).filter((_, i) => i !== SILENCE));
  const silent = (a: ArrayLike<number>, b: ArrayLike<number>): number => Math.abs(a[SILENCE]! - b[SILENCE]!);
  t.ok(strict(p.probs_torch, p.probs_onnx) < TOL_SHIPPED, `max |torch - ort(py)| ${strict(p.probs_torch, p.probs_onnx).toExponential(2)} (non-silent windows)`);
  t.ok(silent(p.probs_torch, p.probs_onnx) < TOL_SILENCE, `digital silence: |torch - ort(py)| ${silent(p.probs_torch, p.probs_onnx).toExponential(2)}`);
  const embStrict = Math.max(...p.embedding_diff_per_window.filter((_, i) => i !== SILENCE));
  t.ok(embStrict < TOL_SHIPPED_EMBEDDING, `embedding ${embStrict.toExponential(2)} (non-silent windows)`);
  t.ok(p.embedding_diff_per_window[SILENCE]! < TOL_SILENCE_EMBEDDING, `digital silence: embedding ${p.embedding_diff_per_window[SILENCE]!.toExponential(2)}`);
  const node = await nodeScores(join(SHIPPED, 'model.onnx'), f32, p.windows);
  t.same([...node.dims], [p.windows], 'prob_synthetic is [batch]');
  const d = strict(node.probs, p.probs_torch);
  t.ok(d < TOL_SHIPPED, `max |torch - onnxruntime-node| ${d.toExponential(2)} (non-silent windows)`);
  t.ok(silent(node.probs, p.probs_torch) < TOL_SILENCE, 'digital silence within the looser bound in onnxruntime-node too');
  t.ok(maxAbs(node.probs, p.probs_onnx) < 1e-5, 'onnxruntime-node = onnxruntime (Python)');
});
