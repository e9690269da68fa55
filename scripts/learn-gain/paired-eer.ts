/**
 * Two versions' call EER on the same calls, and a paired bootstrap of the difference.
 *
 * The resampling unit is the split group (calls sharing a speaker or an utterance: corpus.ts), not
 * the call: calls of one group are not independent, and resampling them one by one would give
 * intervals narrower than the data supports. Each resample draws as many groups as there are, with
 * replacement, and takes every call of each drawn group, scored by both versions; a resample
 * without both classes is drawn again. Seeded: the same scores give the same interval.
 */
import { computeEer } from '../../src/detect/eer.js';
import { seededRandom } from '../../src/media/seeded-random.js';

export interface ScoredCall {
  group: string;
  label: 0 | 1;
  /** Call score of the base (before) and of the candidate (after). */
  before: number;
  after: number;
}

export interface PairedEer {
  before: number;
  after: number;
  /** after − before (negative: the candidate is better). */
  delta: number;
  /** 95 % percentile interval of the delta over the resamples. */
  lo: number;
  hi: number;
  genuine: number;
  synthetic: number;
  groups: number;
}

function eer(calls: readonly ScoredCall[], which: 'before' | 'after'): number {
  const g: number[] = [];
  const s: number[] = [];
  for (const c of calls) (c.label === 1 ? s : g).push(c[which]);
  return computeEer(g, s).eer;
}

export function pairedEer(calls: readonly ScoredCall[], resamples = 1000, seed = 15): PairedEer {
  const byGroup = new Map<string, ScoredCall[]>();
  for (const c of calls) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
  const groups = [...byGroup.values()];
  const rand = seededRandom(seed);
  const deltas: number[] = [];
  for (let k = 0, tries = 0; k < resamples && tries < resamples * 20; tries++) {
    const sample: ScoredCall[] = [];
    for (let i = 0; i < groups.length; i++) sample.push(...groups[Math.floor(rand() * groups.length)]!);
    const d = eer(sample, 'after') - eer(sample, 'before');
    if (!Number.isFinite(d)) continue;
    deltas.push(d);
    k++;
  }
  deltas.sort((a, b) => a - b);
  const q = (p: number): number => (deltas.length ? deltas[Math.min(deltas.length - 1, Math.floor(p * deltas.length))]! : NaN);
  const before = eer(calls, 'before');
  const after = eer(calls, 'after');
  return {
    before,
    after,
    delta: after - before,
    lo: q(0.025),
    hi: q(0.975),
    genuine: calls.filter((c) => c.label === 0).length,
    synthetic: calls.filter((c) => c.label === 1).length,
    groups: groups.length,
  };
}
