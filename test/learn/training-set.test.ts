/**
 * What devox learn fits on (training-set.ts): labelled rows weighed per call or per window, classes
 * balanced or as they came, always summing to the labelled window count; distillation rows from calls
 * without feedback at distillWeight × that, targeting the base head; an unsure call is neither.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelCard } from '../../src/detect/types.js';
import type { FeatureWindow } from '../../src/learn/dataset.js';
import type { LearnInputs } from '../../src/learn/learn.js';
import { headLogit, sigmoid } from '../../src/learn/logistic.js';
import { buildTrainingSet } from '../../src/learn/training-set.js';
import { buildFeedback, type FeedbackEvent } from '../../src/verdicts/feedback.js';

const dir = mkdtempSync(join(tmpdir(), 'devox-ts-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const head = { weights: [0.5, -0.25], bias: 0.1 };
writeFileSync(join(dir, 'head.json'), JSON.stringify({ type: 'logistic', input: 'embedding', dim: 2, ...head }));
const card = { name: 'm', version: 'v', embedding: { name: 'embedding', dim: 2 }, head: { file: 'head.json', sha256: '' } } as unknown as ModelCard;

// Calls: a (synthetic, 1 window), b (synthetic, 3 windows), c (genuine, 4 windows), d (unsure), e and f (no feedback).
const sizes: Record<string, number> = { a: 1, b: 3, c: 4, d: 2, e: 5, f: 3 };
const features = new Map<string, FeatureWindow[]>();
for (const [call, n] of Object.entries(sizes)) {
  features.set(call, Array.from({ length: n }, (_, seq) => ({ callId: call, leg: 'caller', seq, modelVersion: 'v', score: 0.5, embedding: Float32Array.of(seq, call.charCodeAt(0)) })));
}
const fb = (callId: string, verdict: FeedbackEvent['verdict']) => buildFeedback({ callId, verdict, operator: 'o', source: 'test' });
const feedback = new Map([['a', fb('a', 'confirmed_synthetic')], ['b', fb('b', 'confirmed_synthetic')], ['c', fb('c', 'confirmed_genuine')], ['d', fb('d', 'unsure')]]);
const inputs = (over: Partial<LearnInputs>): LearnInputs => ({
  baseDir: dir, baseCard: card, compatibleVersions: new Set(['v']), features, feedback, newVersion: 'v2', outDir: '', lambda: 1, prior: 'zero', distillWeight: 0.5, replayCap: 10, ...over,
});
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

t.test('rows per call or per window, classes balanced or not; distillation beside them', async (t) => {
  for (const [weighting, balance, expected] of [
    // windows a0 | b0 b1 b2 | c0..c3; 8 labelled windows in all.
    ['call', 'classes', [2, 2 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1]],
    ['window', 'classes', [1, 1, 1, 1, 1, 1, 1, 1]],
    ['call', 'none', [8 / 3, 8 / 9, 8 / 9, 8 / 9, 2 / 3, 2 / 3, 2 / 3, 2 / 3]],
    ['window', 'none', [1, 1, 1, 1, 1, 1, 1, 1]],
  ] as const) {
    const s = await buildTrainingSet(inputs({ weighting, balance }), 2);
    t.equal(s.labelledWindows, 8);
    t.same(s.fb, { synthetic: 2, genuine: 1, withoutFeatures: 0, unsure: 1 }, 'unsure skipped');
    const labelled = s.rows.slice(0, 8);
    t.same(labelled.map((r) => r.y), [1, 1, 1, 1, 0, 0, 0, 0]);
    labelled.forEach((r, i) => t.ok(Math.abs(r.w - expected[i]!) < 1e-12, `${weighting}/${balance} row ${i}: ${r.w}`));
    t.ok(Math.abs(sum(labelled.map((r) => r.w)) - 8) < 1e-9, 'labelled weights sum to the labelled windows');
    const distill = s.rows.slice(8);
    t.equal(distill.length, 5 + 3, 'windows of calls without feedback are distilled (an unsure call is neither)');
    t.ok(Math.abs(sum(distill.map((r) => r.w)) - 0.5 * 8) < 1e-9, 'distillation weighs distillWeight × the labelled weight');
    t.ok(distill.every((r) => Math.abs(r.y - sigmoid(headLogit(head, r.e))) < 1e-12), "soft targets: the base head's probability");
  }
});

t.test('one class only is refused', async (t) => {
  await t.rejects(buildTrainingSet(inputs({ feedback: new Map([['a', fb('a', 'confirmed_synthetic')]]) }), 2), { name: 'LearnError', message: /both classes/ });
});
