/**
 * `devox model report`: how versions compare on live traffic, read back from JetStream.
 *
 * - Agreement: per (serving, candidate) pair of shadow windows (`<prefix>.shadow.*`), the share
 *   of windows on which both are on the same side of their own EER threshold.
 * - EER per version, where feedback exists: each version's call score (σ of the mean log-odds of
 *   its window scores: window.scored events for the versions that judged, shadow pairs for
 *   candidates) against the latest feedback label of the call; once over every call with
 *   feedback, once over the calls the version did NOT learn from (a learned version's replay.json
 *   names the calls it trained on, hashed).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { computeEer } from '../detect/eer.js';
import { ModelRegistry } from '../registry/registry.js';
import { createLogger } from '../logger.js';
import type { ReplayFile } from './learn.js';
import { callHash, feedbackLabel, readFeedback, readJson, readShadow } from './dataset.js';
import { callScore } from './logistic.js';

export interface VersionReport {
  version: string;
  calls: number;
  windows: number;
  /** Over every call with a confirmed label. */
  eer: number | null;
  labelledCalls: { synthetic: number; genuine: number };
  /** Over the labelled calls this version did not learn from (null: none, or one class missing). */
  heldOutEer: number | null;
  heldOutCalls: { synthetic: number; genuine: number };
}

/** One (serving, candidate) pair of shadow windows: the same windows scored by both. */
export interface ShadowPairReport {
  serving: string;
  candidate: string;
  windows: number;
  /** Share of windows on the same side of each model's EER threshold. */
  agree: number;
  /** EER of each over the same labelled calls, those the candidate did not learn from (null: one class missing). */
  servingEer: number | null;
  candidateEer: number | null;
  labelledCalls: { synthetic: number; genuine: number };
}

export interface ModelReport {
  agreement: ShadowPairReport[];
  versions: VersionReport[];
  text: string;
}

interface WindowEvent {
  type: string;
  callId: string;
  modelVersion: string;
  score: number;
}

function pct(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '   n/a' : `${(100 * x).toFixed(1).padStart(5)} %`;
}

export async function modelReport(nc: NatsConnection, config: Readonly<Config>, sinceMin?: number): Promise<ModelReport> {
  const sinceMs = sinceMin === undefined ? undefined : Date.now() - sinceMin * 60_000;
  const prefix = config.nats.subjectPrefix;
  const [shadow, feedback, windowEvents] = await Promise.all([
    readShadow(nc, config.nats.stream, prefix, sinceMs),
    readFeedback(nc, config.nats.stream, prefix, sinceMs),
    readJson(nc, config.nats.stream, `${prefix}.call.*.window`, sinceMs),
  ]);

  const pairs = new Map<string, { serving: string; candidate: string; windows: number; agreeing: number; calls: Map<string, { s: number[]; c: number[] }> }>();
  // version → call → window scores
  const scores = new Map<string, Map<string, number[]>>();
  const add = (version: string, callId: string, score: number): void => {
    let byCall = scores.get(version);
    if (!byCall) scores.set(version, (byCall = new Map()));
    let list = byCall.get(callId);
    if (!list) byCall.set(callId, (list = []));
    list.push(score);
  };
  for (const r of shadow) {
    const key = `${r.serving.version}\u0000${r.candidate.version}`;
    const p = pairs.get(key) ?? { serving: r.serving.version, candidate: r.candidate.version, windows: 0, agreeing: 0, calls: new Map() };
    p.windows++;
    if (r.agree) p.agreeing++;
    pairs.set(key, p);
    let c = p.calls.get(r.callId);
    if (!c) p.calls.set(r.callId, (c = { s: [], c: [] }));
    c.s.push(r.serving.score);
    c.c.push(r.candidate.score);
    add(r.candidate.version, r.callId, r.candidate.score);
  }
  for (const raw of windowEvents) {
    const e = raw as WindowEvent;
    if (e && e.type === 'window.scored' && typeof e.score === 'number') add(e.modelVersion, e.callId, e.score);
  }

  // The calls each learned version trained on (hashed), from its replay.json in the registry.
  const learnedFrom = new Map<string, Set<string>>();
  const registry = await ModelRegistry.open(nc, { objectBucket: config.registry.objectBucket, kvBucket: config.registry.kvBucket, subjectPrefix: prefix, log: createLogger('silent') });
  for (const m of await registry.list()) {
    if (!scores.has(m.version) || !m.files.includes('replay.json')) continue;
    const bytes = await registry.objects.get(`${m.name}/${m.version}/replay.json`);
    if (!bytes) continue;
    const r = JSON.parse(Buffer.from(bytes).toString('utf8')) as ReplayFile;
    learnedFrom.set(m.version, new Set(r.calls.map((c) => c.call)));
  }

  const versions: VersionReport[] = [];
  for (const [version, byCall] of scores) {
    const g: number[] = [];
    const s: number[] = [];
    const hg: number[] = [];
    const hs: number[] = [];
    let windows = 0;
    const trained = learnedFrom.get(version);
    for (const [callId, list] of byCall) {
      windows += list.length;
      const f = feedback.byCall.get(callId);
      const label = f ? feedbackLabel(f) : null;
      if (label === null) continue;
      const cs = callScore(list);
      (label === 1 ? s : g).push(cs);
      if (!trained?.has(callHash(callId))) (label === 1 ? hs : hg).push(cs);
    }
    const eer = (a: number[], b: number[]) => (a.length && b.length ? computeEer(a, b).eer : null);
    versions.push({
      version,
      calls: byCall.size,
      windows,
      eer: eer(g, s),
      labelledCalls: { synthetic: s.length, genuine: g.length },
      heldOutEer: eer(hg, hs),
      heldOutCalls: { synthetic: hs.length, genuine: hg.length },
    });
  }
  const eerOf = (a: number[], b: number[]) => (a.length && b.length ? computeEer(a, b).eer : null);
  const agreement: ShadowPairReport[] = [...pairs.values()].map((p) => {
    const trained = learnedFrom.get(p.candidate);
    const sv = { g: [] as number[], s: [] as number[] };
    const cv = { g: [] as number[], s: [] as number[] };
    for (const [callId, c] of p.calls) {
      const f = feedback.byCall.get(callId);
      const label = f ? feedbackLabel(f) : null;
      if (label === null || trained?.has(callHash(callId))) continue;
      (label === 1 ? sv.s : sv.g).push(callScore(c.s));
      (label === 1 ? cv.s : cv.g).push(callScore(c.c));
    }
    return {
      serving: p.serving,
      candidate: p.candidate,
      windows: p.windows,
      agree: p.windows ? p.agreeing / p.windows : 0,
      servingEer: eerOf(sv.g, sv.s),
      candidateEer: eerOf(cv.g, cv.s),
      labelledCalls: { synthetic: sv.s.length, genuine: sv.g.length },
    };
  });

  const lines: string[] = [];
  lines.push(`shadow agreement (same side of each model's EER threshold)${sinceMin ? `, last ${sinceMin} min` : ''}:`);
  if (agreement.length === 0) lines.push('  (no shadow windows)');
  for (const a of agreement) {
    lines.push(`  ${a.serving} vs ${a.candidate}: ${pct(a.agree)} of ${a.windows} windows; on the same ${a.labelledCalls.synthetic} synthetic / ${a.labelledCalls.genuine} genuine labelled calls (not learned from) EER ${pct(a.servingEer)} vs ${pct(a.candidateEer)}`);
  }
  lines.push('');
  lines.push('per version (call score = σ(mean window log-odds)); EER against analyst feedback:');
  lines.push(`  ${'version'.padEnd(36)} ${'calls'.padStart(6)} ${'windows'.padStart(8)}   EER (labelled calls)     EER (calls it did not learn from)`);
  for (const v of versions) {
    lines.push(
      `  ${v.version.padEnd(36)} ${String(v.calls).padStart(6)} ${String(v.windows).padStart(8)}   ${pct(v.eer)} (${v.labelledCalls.synthetic} syn / ${v.labelledCalls.genuine} gen)   ${pct(v.heldOutEer)} (${v.heldOutCalls.synthetic} syn / ${v.heldOutCalls.genuine} gen)`,
    );
  }
  lines.push(`feedback: ${feedback.byCall.size} calls (${feedback.invalid} invalid events skipped)`);
  return { agreement, versions, text: lines.join('\n') + '\n' };
}
