/**
 * training/make_ensemble.py: member models joined into ONE graph with the runtime's contract. Three small untrained
 * members (two narrowband, one wideband front-end; test/training/ensemble_members.py) are joined for real, then
 * loaded by the runtime's own model loader and run in onnxruntime-node next to the members: the ensemble's score is
 * sigmoid(mean of the members' logits), its embedding the members' side by side; the two narrowband members share
 * one front-end. Bad inputs are refused with a reason and leave nothing behind.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t from 'tap';
import { loadModel } from '../../src/detect/model-registry.js';
import { python, projectRoot, TRAINING_DIR } from './python.js';

const MAKE = join(TRAINING_DIR, 'make_ensemble.py');
const MEMBERS = ['nb-a', 'nb-b', 'wb'];

interface Card {
  embedding: { dim: number };
  band: string;
  version: string;
  model_config: { ensemble: unknown[]; shared_front_ends: number; combine: string };
  training: { members: Array<{ dir: string; sha256: string }> };
  metrics: { export_parity_max_abs: number; ensemble_vs_members_max_abs: number };
  thresholds: { eer: number; suspicious: number; synthetic: number };
  cross_validation: { thresholds: { eer: number; suspicious: number; synthetic: number } };
}

async function run(session: ort.InferenceSession, x: Float32Array, n: number): Promise<{ p: Float32Array; e: Float32Array; dim: number }> {
  const out = await session.run({ audio: new ort.Tensor('float32', x, [n, 16000]) });
  return { p: out.prob_synthetic!.data as Float32Array, e: out.embedding!.data as Float32Array, dim: out.embedding!.dims[1]! };
}

const logit = (p: number): number => Math.log(p / (1 - p));

t.test('make_ensemble.py joins members into one graph the runtime loads and scores as their mean logit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-ensemble-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const made = await python([join(projectRoot, 'test/training/ensemble_members.py'), dir]);
  t.equal(made.code, 0, `members made: ${made.stderr.slice(-500)}`);
  const out = join(dir, 'ens');
  const r = await python([MAKE, '--members', ...MEMBERS.map((m) => join(dir, m)), '--cv', join(dir, 'cv.json'),
    '--name', 'devox-test', '--band', 'narrowband', '--version', '9.9.9+nb', '--out', out], 300_000);
  t.equal(r.code, 0, `make_ensemble exit 0: ${r.stderr.slice(-1000)}`);
  t.match(r.stdout, /max \|ensemble - mean of members\| [0-9.e-]+, \|onnxruntime - PyTorch\|/, 'it reports both parity checks');

  const card = JSON.parse(await readFile(join(out, 'card.json'), 'utf8')) as Card;
  t.equal(card.version, '9.9.9+nb');
  t.equal(card.band, 'narrowband');
  t.equal(card.model_config.ensemble.length, 3, 'three members in the card');
  t.equal(card.model_config.shared_front_ends, 2, 'the two narrowband members share one front-end');
  t.equal(card.embedding.dim, 48, 'embedding = three 16-d member embeddings side by side');
  t.same(card.thresholds, { eer: card.cross_validation.thresholds.eer, suspicious: card.cross_validation.thresholds.suspicious, synthetic: card.cross_validation.thresholds.synthetic }, 'thresholds = the cross-validation report\'s');
  t.ok(card.metrics.ensemble_vs_members_max_abs < 1e-4 && card.metrics.export_parity_max_abs < 1e-4, 'parity recorded in the card');
  for (const [i, m] of card.training.members.entries()) {
    const memberCard = JSON.parse(await readFile(join(dir, MEMBERS[i]!, 'card.json'), 'utf8')) as { sha256: string };
    t.equal(m.sha256, memberCard.sha256, `member ${MEMBERS[i]} recorded by its sha256`);
  }
  t.ok(existsSync(join(out, 'README.md')), 'README.md written');

  // The runtime's loader accepts it (card contract, sha256, output shapes), and onnxruntime-node scores it as the
  // mean of its members' logits on real speech (the genuine demo call) and on noise.
  const model = await loadModel(out);
  t.teardown(() => model.release());
  t.equal(model.card.embedding?.dim, 48);
  const n = 6;
  const x = new Float32Array(n * 16000);
  const pcm = await python(['-c', [
    'import sys, numpy as np',
    'sys.path.insert(0, "training")',
    'from devoxtrain.cache import load_audio',
    'a = load_audio("samples/genuine-librispeech.flac").astype(np.float32)',
    'r = np.random.default_rng(0)',
    'w = [a[i * 8000:i * 8000 + 16000] for i in range(4)] + [0.1 * r.standard_normal(16000).astype(np.float32), np.zeros(16000, np.float32)]',
    `np.stack(w).astype("<f4").tofile(${JSON.stringify(join(dir, 'windows.f32'))})`,
  ].join('\n')]);
  t.equal(pcm.code, 0, pcm.stderr.slice(-300));
  const raw = await readFile(join(dir, 'windows.f32'));
  x.set(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4));
  const ens = await run(model.session, x, n);
  const members = [];
  for (const m of MEMBERS) {
    const s = await ort.InferenceSession.create(join(dir, m, 'model.onnx'), { intraOpNumThreads: 1 });
    members.push(await run(s, x, n));
    await s.release();
  }
  let maxP = 0;
  let maxE = 0;
  for (let i = 0; i < n; i++) {
    const z = members.reduce((s, m) => s + logit(m.p[i]!), 0) / members.length;
    maxP = Math.max(maxP, Math.abs(ens.p[i]! - 1 / (1 + Math.exp(-z))));
    let off = 0;
    for (const m of members) {
      for (let k = 0; k < m.dim; k++) maxE = Math.max(maxE, Math.abs(ens.e[i * ens.dim + off + k]! - m.e[i * m.dim + k]!));
      off += m.dim;
    }
  }
  t.ok(maxP < 1e-4, `prob = sigmoid(mean member logit) within ${maxP.toExponential(2)}`);
  t.ok(maxE < 1e-4, `embedding = members' embeddings concatenated within ${maxE.toExponential(2)}`);
  t.ok(new Set([...ens.p].map((p) => p.toFixed(5))).size > 1, 'different windows, different scores');
});

t.test('make_ensemble.py refuses bad members and leaves no model behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-ensemble-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal((await python([join(projectRoot, 'test/training/ensemble_members.py'), dir])).code, 0);
  const base = ['--cv', join(dir, 'cv.json'), '--name', 'x', '--band', 'narrowband', '--version', '1.0.0'];
  const one = await python([MAKE, '--members', join(dir, 'nb-a'), ...base, '--out', join(dir, 'o1')]);
  t.not(one.code, 0);
  t.match(one.stderr, 'an ensemble needs at least two members');
  await rm(join(dir, 'nb-b', 'model.pt'));
  const missing = await python([MAKE, '--members', join(dir, 'nb-a'), join(dir, 'nb-b'), ...base, '--out', join(dir, 'o2')]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /nb-b\/model\.pt not found/);
  t.notOk(existsSync(join(dir, 'o1', 'model.onnx')) || existsSync(join(dir, 'o2', 'model.onnx')), 'nothing written');
});
