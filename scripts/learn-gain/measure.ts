/**
 * What `devox learn` gains on one held-out page, measured on calls it never saw.
 *
 *   page P, feedback half ── labelled (analyst feedback) ──┐
 *   other pages, feedback halves ── unlabelled traffic ────┼─▶ learn() (src/learn/learn.ts, the code
 *                                   (distillation rows)    │    path of `devox learn`) ─▶ head.json
 *   base model's exported scores ── its head, recovered ───┘
 *   page P, eval half ─────────▶ base vs candidate call EER, paired bootstrap  (the gain)
 *   other pages, eval halves ──▶ base vs candidate call EER, paired bootstrap  (forgetting)
 *
 * The evaluation calls are not seen by learn in any form (not as labelled rows, not as
 * distillation rows); nothing here looks at them before the head is fixed. Call score = σ(mean
 * window log-odds) over the call's speech windows (verdict.minWindowSpeechRatio), the verdict
 * engine's aggregation, for both versions; learn gets the speech windows the edge exports
 * (features.minSpeechRatio). The candidate's window score is σ(bias + w·e), what the inference
 * worker computes for a version with head.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelCard } from '../../src/detect/types.js';
import type { FeatureWindow } from '../../src/learn/dataset.js';
import { computeEer } from '../../src/detect/eer.js';
import { learn, type LearnInputs, type LearnSummary } from '../../src/learn/learn.js';
import { buildTrainingSet } from '../../src/learn/training-set.js';
import { callScore, headLogit, sigmoid, type Head } from '../../src/learn/logistic.js';
import { buildFeedback, type FeedbackEvent } from '../../src/verdicts/feedback.js';
import type { CorpusCall } from './corpus.js';
import type { EmbeddedWindow } from './embed.js';
import { fitMlp, mlpLogit, MLP_DEFAULTS } from './mlp-head.js';
import { pairedEer, type PairedEer, type ScoredCall } from './paired-eer.js';

/** learn()'s knobs (the `devox learn` flags). */
export interface Variant {
  name: string;
  lambda: number;
  prior: 'zero' | 'base';
  distillWeight: number;
  weighting: 'call' | 'window';
  balance: 'classes' | 'none';
  /** logistic: learn() itself (what the runtime serves); mlp: the same training rows, an MLP (offline only, mlp-head.ts). */
  head: 'logistic' | 'mlp';
}

export const DEFAULT_VARIANT: Variant = { name: 'devox learn defaults', lambda: 100, prior: 'zero', distillWeight: 0.25, weighting: 'call', balance: 'classes', head: 'logistic' };

export interface Counts {
  genuine: number;
  synthetic: number;
}

export interface PageOutcome {
  page: string;
  variant: string;
  feedback: Counts;
  eval: Counts;
  /** Why the page was not measured (too few calls of a class in a half). */
  skipped?: string;
  target?: PairedEer;
  others?: PairedEer;
  learned?: Pick<LearnSummary, 'labelledWindows' | 'distillWindows' | 'inSample' | 'recoveredRmsLogit'>;
  /** The pre-registered rule: the page's interval below 0 and no measurable cost on the others (their interval reaches 0 or below). */
  qualifies?: boolean;
}

export interface MeasureInputs {
  page: string;
  pages: ReadonlyMap<string, readonly CorpusCall[]>;
  windows: ReadonlyMap<string, readonly EmbeddedWindow[]>;
  baseDir: string;
  baseCard: Readonly<ModelCard>;
  variant: Variant;
  /** features.minSpeechRatio: which windows the edge exports. */
  exportSpeechRatio: number;
  /** verdict.minWindowSpeechRatio: which windows count as evidence. */
  evidenceSpeechRatio: number;
  /** Fewest calls of each class in each half for a page to be measured. */
  minPerClass: number;
}

function counts(calls: readonly CorpusCall[]): Counts {
  const synthetic = calls.filter((c) => c.label === 'synthetic').length;
  return { genuine: calls.length - synthetic, synthetic };
}

function evidence(ws: readonly EmbeddedWindow[], minSpeech: number): readonly EmbeddedWindow[] {
  const speech = ws.filter((w) => w.speechRatio >= minSpeech);
  return speech.length > 0 ? speech : ws;
}

export async function measurePage(i: MeasureInputs): Promise<PageOutcome> {
  const own = i.pages.get(i.page)!;
  const fb = own.filter((c) => c.half === 'feedback');
  const ev = own.filter((c) => c.half === 'eval');
  const outcome: PageOutcome = { page: i.page, variant: i.variant.name, feedback: counts(fb), eval: counts(ev) };
  const small = [outcome.feedback, outcome.eval].some((c) => c.genuine < i.minPerClass || c.synthetic < i.minPerClass);
  if (small) return { ...outcome, skipped: `fewer than ${i.minPerClass} calls of a class in a half` };

  // What the core holds when learn runs: exported windows of the page's feedback half (labelled)
  // and of the other pages' feedback halves (ordinary traffic, unlabelled).
  const version = i.baseCard.version;
  const features = new Map<string, FeatureWindow[]>();
  const feedback = new Map<string, FeedbackEvent>();
  for (const [page, calls] of i.pages) {
    for (const c of calls) {
      if (c.half !== 'feedback') continue;
      const ws = (i.windows.get(c.file) ?? []).filter((w) => w.speechRatio >= i.exportSpeechRatio);
      features.set(c.path, ws.map((w) => ({ callId: c.path, leg: 'caller', seq: w.seq, modelVersion: version, score: w.score, embedding: w.embedding })));
      if (page === i.page) {
        feedback.set(c.path, buildFeedback({ callId: c.path, verdict: c.label === 'synthetic' ? 'confirmed_synthetic' : 'confirmed_genuine', operator: 'learn-gain', source: 'measurement' }));
      }
    }
  }
  const inputs: LearnInputs = {
    baseDir: i.baseDir,
    baseCard: i.baseCard as ModelCard,
    compatibleVersions: new Set([version]),
    features,
    feedback,
    newVersion: `${version}-gain`,
    outDir: '',
    lambda: i.variant.lambda,
    prior: i.variant.prior,
    distillWeight: i.variant.distillWeight,
    replayCap: 500,
    weighting: i.variant.weighting,
    balance: i.variant.balance,
  };
  const windowScore = i.variant.head === 'mlp' ? await fitMlpHead(inputs, outcome) : await fitLearnedHead(inputs, outcome);

  // Only now the evaluation calls: never seen by learn.
  const score = (c: CorpusCall): ScoredCall | null => {
    const ws = evidence(i.windows.get(c.file) ?? [], i.evidenceSpeechRatio);
    if (ws.length === 0) return null;
    return {
      group: c.group,
      label: c.label === 'synthetic' ? 1 : 0,
      before: callScore(ws.map((w) => w.score)),
      after: callScore(ws.map((w) => windowScore(w.embedding))),
    };
  };
  const scored = (calls: readonly CorpusCall[]): ScoredCall[] => calls.map(score).filter((s): s is ScoredCall => s !== null);
  const others = [...i.pages].filter(([p]) => p !== i.page).flatMap(([, calls]) => calls.filter((c) => c.half === 'eval'));
  outcome.target = pairedEer(scored(ev));
  outcome.others = pairedEer(scored(others));
  outcome.qualifies = outcome.target.hi < 0 && outcome.others.lo <= 0;
  return outcome;
}

/** learn() itself, as `devox learn` runs it: the head it writes to head.json. */
async function fitLearnedHead(inputs: LearnInputs, outcome: PageOutcome): Promise<(e: Float32Array) => number> {
  const work = mkdtempSync(join(tmpdir(), 'devox-learn-gain-'));
  try {
    const { summary } = await learn({ ...inputs, outDir: join(work, 'out') });
    const h = JSON.parse(readFileSync(join(work, 'out', 'head.json'), 'utf8')) as Head;
    const head: Head = { weights: h.weights, bias: h.bias };
    outcome.learned = {
      labelledWindows: summary.labelledWindows,
      distillWindows: summary.distillWindows,
      inSample: summary.inSample,
      ...(summary.recoveredRmsLogit !== undefined ? { recoveredRmsLogit: summary.recoveredRmsLogit } : {}),
    };
    return (e) => sigmoid(headLogit(head, e));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** learn()'s training rows (buildTrainingSet), an MLP instead of the logistic head. */
async function fitMlpHead(inputs: LearnInputs, outcome: PageOutcome): Promise<(e: Float32Array) => number> {
  const dim = inputs.baseCard.embedding!.dim;
  const t = await buildTrainingSet(inputs, dim);
  const mlp = fitMlp(t.rows, dim, { ...MLP_DEFAULTS, lambda: inputs.lambda });
  const eerOf = (score: (e: Float32Array) => number) => {
    const cs = (label: 0 | 1) => t.calls.filter((c) => c.label === label).map((c) => callScore(c.embeddings.map(score)));
    return computeEer(cs(0), cs(1)).eer;
  };
  const score = (e: Float32Array) => sigmoid(mlpLogit(mlp, e));
  outcome.learned = {
    labelledWindows: t.labelledWindows,
    distillWindows: t.distill.length,
    inSample: { callEerBefore: eerOf((e) => sigmoid(headLogit(t.prior, e))), callEerAfter: eerOf(score), calls: t.calls.length },
  };
  return score;
}
