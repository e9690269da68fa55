/**
 * `devox learn`, the core job: a new head for the serving backbone from what the edge exported
 * (window embeddings) and what analysts confirmed (feedback). Nothing here reads or stores audio.
 *
 *   base NAME@VERSION (registry) ── its head: head.json, or recovered from its exported scores
 *   features stream ─┬─ windows of calls WITH feedback ──▶ labelled rows (per-call weight, classes balanced)
 *                    └─ windows of calls without ─────────▶ distillation rows (soft targets: the base head)
 *   base replay.json ──▶ earlier labelled calls (replay: what earlier versions learned stays learned)
 *        ──▶ fitHead (logistic, L2 pull towards the base head) ──▶ thresholds from the labelled calls'
 *            call scores (symmetric EER/2 rule) ──▶ a model folder: the SAME model.onnx, head.json,
 *            replay.json, card.json saying what it learned from ──▶ registry publish (a candidate)
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { computeEer } from '../detect/eer.js';
import type { ModelCard } from '../detect/types.js';
import { encodeEmbedding } from '../verdicts/feature-exporter.js';
import type { FeedbackEvent } from '../verdicts/feedback.js';
import type { FeatureWindow } from './dataset.js';
import { LearnError } from './errors.js';
import { callScore, fitHead, headLogit, sigmoid, type Head } from './logistic.js';
import { buildTrainingSet, type LabelledCall, type ReplayFile } from './training-set.js';

export interface LearnInputs {
  baseDir: string;
  baseCard: ModelCard;
  /** Versions whose model.onnx is the base's (same sha256): their embeddings are the base's. */
  compatibleVersions: ReadonlySet<string>;
  features: Map<string, FeatureWindow[]>;
  feedback: Map<string, FeedbackEvent>;
  newVersion: string;
  outDir: string;
  /** L2 strength (z-scored embedding coordinates; the labelled rows weigh one per window on average). */
  lambda: number;
  /**
   * What the L2 term pulls towards: 'zero' (a fresh ridge head: the base head is by definition wrong
   * where feedback disagrees with it) or 'base' (stay close to the serving head).
   */
  prior: 'zero' | 'base';
  /** Total weight of distillation rows relative to the labelled rows. */
  distillWeight: number;
  /** Most labelled calls per class kept for replay. */
  replayCap: number;
  /** How labelled windows weigh: each call the same (default) or each window the same. */
  weighting?: 'call' | 'window';
  /** Each class half of the labelled weight (default) or as the feedback came. */
  balance?: 'classes' | 'none';
}

export interface LearnSummary {
  base: string;
  version: string;
  headSource: 'head.json' | 'recovered';
  recoveredRmsLogit?: number;
  feedbackCalls: { synthetic: number; genuine: number; withoutFeatures: number; unsure: number };
  replayCalls: { synthetic: number; genuine: number };
  labelledWindows: number;
  distillWindows: number;
  lambda: number;
  prior: 'zero' | 'base';
  weighting: 'call' | 'window';
  balance: 'classes' | 'none';
  inSample: { callEerBefore: number; callEerAfter: number; calls: number };
  thresholds: ModelCard['thresholds'];
  thresholdsFrom: 'labelled calls' | 'base card (too few labelled calls)';
}

export { LearnError } from './errors.js';
export type { ReplayFile } from './training-set.js';

/** suspicious / eer / synthetic thresholds from call scores (the shipped models' symmetric EER/2 rule). */
function calibrate(genuine: number[], synthetic: number[]): ModelCard['thresholds'] {
  const { eer, threshold } = computeEer(genuine, synthetic);
  const g = [...genuine].sort((a, b) => a - b);
  const s = [...synthetic].sort((a, b) => a - b);
  const half = eer / 2;
  // suspicious: EER/2 of synthetic calls score below it; synthetic: EER/2 of genuine calls reach it.
  const sus = s[Math.min(s.length - 1, Math.floor(half * s.length))]!;
  const syn = g[Math.max(0, Math.ceil((1 - half) * g.length) - 1)]!;
  const clamp = (x: number) => Math.min(0.999, Math.max(0.001, x));
  const eerT = clamp(threshold);
  return { eer: eerT, suspicious: Math.min(clamp(sus), eerT), synthetic: Math.max(clamp(syn), eerT) };
}

export async function learn(i: LearnInputs): Promise<{ summary: LearnSummary; card: ModelCard }> {
  const base = i.baseCard;
  const emb = base.embedding;
  if (!emb) throw new LearnError(`${base.name}@${base.version} has no embedding output to learn a head on`);
  const dim = emb.dim;
  const t = await buildTrainingSet(i, dim);
  const { prior, headSource, recoveredRmsLogit, calls, fb, replay, labelledWindows, distill, rows } = t;
  const nPos = calls.filter((c) => c.label === 1).length;
  const nNeg = calls.length - nPos;
  const start: Head = i.prior === 'base' ? prior : { weights: new Array<number>(dim).fill(0), bias: 0 };
  const head = fitHead(rows, start, i.lambda);

  const scoreCall = (h: Head, c: LabelledCall) => callScore(c.embeddings.map((e) => sigmoid(headLogit(h, e))));
  const split = (h: Head) => ({
    g: calls.filter((c) => c.label === 0).map((c) => scoreCall(h, c)),
    s: calls.filter((c) => c.label === 1).map((c) => scoreCall(h, c)),
  });
  const before = split(prior);
  const after = split(head);
  const enough = nPos >= 5 && nNeg >= 5;
  const thresholds = enough ? calibrate(after.g, after.s) : base.thresholds;

  // The model folder: the same backbone, the new head, the replay set, a card that says all of it.
  await mkdir(i.outDir, { recursive: true });
  await copyFile(join(i.baseDir, base.file), join(i.outDir, base.file));
  const headJson = JSON.stringify({ type: 'logistic', input: emb.name, dim, weights: head.weights, bias: head.bias }, null, 1);
  await writeFile(join(i.outDir, 'head.json'), headJson);
  const keep = (label: 0 | 1) => calls.filter((c) => c.label === label).slice(-i.replayCap);
  const replayFile: ReplayFile = {
    v: 1,
    dim,
    calls: [...keep(0), ...keep(1)].map((c) => ({ call: c.call, label: c.label, embeddings: c.embeddings.map(encodeEmbedding) })),
  };
  await writeFile(join(i.outDir, 'replay.json'), JSON.stringify(replayFile));
  const summary: LearnSummary = {
    base: `${base.name}@${base.version}`,
    version: i.newVersion,
    headSource,
    ...(recoveredRmsLogit !== undefined ? { recoveredRmsLogit } : {}),
    feedbackCalls: fb,
    replayCalls: replay,
    labelledWindows,
    distillWindows: distill.length,
    lambda: i.lambda,
    prior: i.prior,
    weighting: i.weighting ?? 'call',
    balance: i.balance ?? 'classes',
    inSample: { callEerBefore: computeEer(before.g, before.s).eer, callEerAfter: computeEer(after.g, after.s).eer, calls: calls.length },
    thresholds,
    thresholdsFrom: enough ? 'labelled calls' : 'base card (too few labelled calls)',
  };
  const { head: _baseHead, learned: _baseLearned, ...rest } = base;
  const card: ModelCard = {
    ...rest,
    version: i.newVersion,
    head: { file: 'head.json', sha256: createHash('sha256').update(headJson).digest('hex') },
    thresholds,
    learned: {
      ...summary,
      backboneSha256: base.sha256,
      method: 'logistic head on the frozen embedding output (damped Newton, z-scored coordinates), L2 towards the prior (zero: ridge; base: the base head), distillation of the base head on exported windows without feedback and replay of the base\'s labelled calls against forgetting; thresholds by the symmetric EER/2 rule on the labelled calls\' call scores (in-sample)',
      distillWeight: i.distillWeight,
      note: 'in-sample figures are optimistic: judge the version by shadow scoring and `devox model report` on calls it did not learn from',
    },
  };
  await writeFile(join(i.outDir, 'card.json'), JSON.stringify(card, null, 2));
  const readme = `# ${base.name} ${i.newVersion} (learned head)\n\nThe backbone of ${summary.base} (model.onnx unchanged, sha256 ${base.sha256}) with a logistic head\n(head.json) retrained by \`devox learn\` from exported window embeddings and analyst feedback; no audio.\nWhat it learned from is in card.json \`learned\`: ${fb.synthetic} confirmed-synthetic and ${fb.genuine} confirmed-genuine calls,\n${replay.synthetic + replay.genuine} replayed calls, ${distill.length} distillation windows. In-sample call EER ${pct(summary.inSample.callEerBefore)} → ${pct(summary.inSample.callEerAfter)}\n(optimistic: measure it on other calls with shadow scoring and \`devox model report\`).\n`;
  await writeFile(join(i.outDir, 'README.md'), readme);
  return { summary, card };
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : 'n/a';
}
