/**
 * What `devox learn` fits a head on, assembled from what the core holds (never audio):
 *
 *   the base's head: head.json, or recovered from the base's exported (embedding, score) pairs
 *   labelled calls: windows of calls with feedback (a leg-specific feedback takes that leg's
 *     windows), then the base's replay.json (earlier learned calls; new feedback on a call wins)
 *   labelled rows: each call weighing the same (or each window, `weighting: 'window'`), each class
 *     half of the weight (or as the feedback came, `balance: 'none'`); weights sum to the number
 *     of labelled windows
 *   distillation rows: windows of calls without feedback, soft target = the base head's
 *     probability, total weight distillWeight × the labelled weight
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeEmbedding } from '../verdicts/feature-exporter.js';
import { callHash, feedbackLabel, type FeatureWindow } from './dataset.js';
import { headLogit, recoverHead, sigmoid, type FitRow, type Head } from './logistic.js';
import { LearnError } from './errors.js';
import type { LearnInputs } from './learn.js';

/** replay.json: the labelled calls a learned version trained on, as embeddings (hashed call ids, no audio). */
export interface ReplayFile {
  v: 1;
  dim: number;
  calls: Array<{ call: string; label: 0 | 1; embeddings: string[] }>;
}

export interface LabelledCall {
  call: string;
  label: 0 | 1;
  embeddings: Float32Array[];
}

export interface TrainingSet {
  /** The base's head: what distillation targets and `prior: 'base'` pulls towards. */
  prior: Head;
  headSource: 'head.json' | 'recovered';
  recoveredRmsLogit: number | undefined;
  calls: LabelledCall[];
  fb: { synthetic: number; genuine: number; withoutFeatures: number; unsure: number };
  replay: { synthetic: number; genuine: number };
  labelledWindows: number;
  distill: Float32Array[];
  rows: FitRow[];
}

async function readReplay(dir: string, dim: number): Promise<LabelledCall[]> {
  const p = join(dir, 'replay.json');
  if (!existsSync(p)) return [];
  const r = JSON.parse(await readFile(p, 'utf8')) as ReplayFile;
  if (r.dim !== dim) throw new LearnError(`replay.json of the base has dim ${r.dim}, the embedding ${dim}`);
  return r.calls.map((c) => ({ call: c.call, label: c.label, embeddings: c.embeddings.map((e) => decodeEmbedding(e, dim)) }));
}

async function baseHead(i: LearnInputs, dim: number): Promise<Pick<TrainingSet, 'prior' | 'headSource' | 'recoveredRmsLogit'>> {
  const base = i.baseCard;
  if (base.head) {
    const h = JSON.parse(await readFile(join(i.baseDir, base.head.file), 'utf8')) as { weights: number[]; bias: number };
    return { prior: { weights: h.weights, bias: h.bias }, headSource: 'head.json', recoveredRmsLogit: undefined };
  }
  const own = [...i.features.values()].flat().filter((w) => w.modelVersion === base.version && w.embedding.length === dim);
  if (own.length < dim + 2) throw new LearnError(`the base's head is inside its ONNX graph: recovering it needs ${dim + 2} windows it scored and exported, the features stream has ${own.length}`);
  const r = recoverHead(own.map((w) => w.embedding), own.map((w) => w.score));
  return { prior: r.head, headSource: 'recovered', recoveredRmsLogit: r.rmsResidual };
}

export async function buildTrainingSet(i: LearnInputs, dim: number): Promise<TrainingSet> {
  const windowsOf = (callId: string, leg?: string): FeatureWindow[] =>
    (i.features.get(callId) ?? []).filter((w) => i.compatibleVersions.has(w.modelVersion) && w.embedding.length === dim && (!leg || w.leg === leg));
  const head = await baseHead(i, dim);

  const labelled = new Map<string, LabelledCall>();
  const fb = { synthetic: 0, genuine: 0, withoutFeatures: 0, unsure: 0 };
  for (const f of i.feedback.values()) {
    const label = feedbackLabel(f);
    if (label === null) {
      fb.unsure++;
      continue;
    }
    const ws = windowsOf(f.callId, f.leg);
    if (ws.length === 0) {
      fb.withoutFeatures++;
      continue;
    }
    labelled.set(callHash(f.callId), { call: callHash(f.callId), label, embeddings: ws.map((w) => w.embedding) });
    if (label === 1) fb.synthetic++;
    else fb.genuine++;
  }
  const replay = { synthetic: 0, genuine: 0 };
  for (const c of await readReplay(i.baseDir, dim)) {
    if (labelled.has(c.call)) continue;
    labelled.set(c.call, c);
    if (c.label === 1) replay.synthetic++;
    else replay.genuine++;
  }
  const calls = [...labelled.values()];
  const nPos = calls.filter((c) => c.label === 1).length;
  if (nPos === 0 || nPos === calls.length) throw new LearnError(`learning needs confirmed calls of both classes with exported features: ${nPos} synthetic, ${calls.length - nPos} genuine`);

  let labelledWindows = 0;
  for (const c of calls) labelledWindows += c.embeddings.length;
  const rows = labelledRows(calls, labelledWindows, i.weighting ?? 'call', i.balance ?? 'classes');
  const feedbackCalls = new Set([...i.feedback.keys()]);
  const distill: Float32Array[] = [];
  for (const [callId, ws] of i.features) {
    if (feedbackCalls.has(callId)) continue;
    for (const w of ws) if (i.compatibleVersions.has(w.modelVersion) && w.embedding.length === dim) distill.push(w.embedding);
  }
  if (distill.length > 0 && i.distillWeight > 0) {
    const w = (i.distillWeight * labelledWindows) / distill.length;
    for (const e of distill) rows.push({ e, y: sigmoid(headLogit(head.prior, e)), w });
  }
  return { ...head, calls, fb, replay, labelledWindows, distill, rows };
}

/** Labelled rows whose weights sum to `total`: per call or per window, classes balanced or not. */
function labelledRows(calls: readonly LabelledCall[], total: number, weighting: 'call' | 'window', balance: 'classes' | 'none'): FitRow[] {
  const units = (label: 0 | 1) => calls.filter((c) => c.label === label).reduce((n, c) => n + (weighting === 'call' ? 1 : c.embeddings.length), 0);
  const per = { 0: units(0), 1: units(1) };
  const allUnits = per[0] + per[1];
  const rows: FitRow[] = [];
  for (const c of calls) {
    // The weight of one unit (a call or a window) of this class, then spread over the call's windows.
    const unit = balance === 'classes' ? total / (2 * per[c.label]) : total / allUnits;
    const w = weighting === 'call' ? unit / c.embeddings.length : unit;
    for (const e of c.embeddings) rows.push({ e, y: c.label, w });
  }
  return rows;
}
