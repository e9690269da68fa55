/**
 * The numerics of devox learn on data with a known answer: the serving head recovered exactly from
 * (embedding, score) pairs; a fitted head separates what is separable without diverging (the plain
 * Newton step did, on the real embeddings' scale); the pull towards a prior holds it there.
 */
import t from 'tap';
import { callScore, fitHead, headLogit, recoverHead, sigmoid, type FitRow, type Head } from '../../src/learn/logistic.js';
import { seededRandom } from '../../src/media/seeded-random.js';

const rand = seededRandom(7);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const dim = 16;
const truth: Head = { weights: Array.from({ length: dim }, () => gauss()), bias: 0.3 };
// Embeddings on an awkward scale (offset and spread like the models' post-ReLU statistics).
const emb = () => Array.from({ length: dim }, (_, i) => 5 + (i + 1) * gauss());

t.test('recoverHead finds the linear head behind the scores', async (t) => {
  const es = Array.from({ length: 400 }, emb);
  const { head, rmsResidual } = recoverHead(es, es.map((e) => sigmoid(headLogit(truth, e) / 20)));
  t.ok(rmsResidual < 1e-3, `rms ${rmsResidual}`);
  for (let i = 0; i < dim; i++) t.ok(Math.abs(head.weights[i]! - truth.weights[i]! / 20) < 1e-3, `weight ${i}`);
  t.throws(() => recoverHead(es.slice(0, 5), [0.1, 0.2, 0.3, 0.4, 0.5]), /needs at least/);
});

t.test('fitHead separates, stays finite, and the pull holds it to the prior', async (t) => {
  const rows: FitRow[] = Array.from({ length: 600 }, () => {
    const e = emb();
    return { e, y: headLogit(truth, e) > 0 ? 1 : 0, w: 1 };
  });
  const zero: Head = { weights: new Array(dim).fill(0), bias: 0 };
  const h = fitHead(rows, zero, 1);
  t.ok(Number.isFinite(h.bias) && h.weights.every(Number.isFinite), 'finite on separable data');
  const acc = rows.filter((r) => (headLogit(h, r.e) > 0 ? 1 : 0) === r.y).length / rows.length;
  t.ok(acc > 0.97, `training accuracy ${acc}`);
  const held = fitHead(rows, zero, 1e9);
  t.ok(held.weights.every((w) => Math.abs(w) < 1e-3), 'an overwhelming pull keeps the prior');
  t.equal(callScore([0.5, 0.5]), 0.5);
  t.ok(callScore([0.9, 0.9, 0.1]) > 0.5 && callScore([0.9, 0.9, 0.1]) < 0.9, 'the mean of log-odds');
});
