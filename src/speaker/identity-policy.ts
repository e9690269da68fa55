/**
 * The identity decision of one leg, from its speaker evidence, its enrolment(s) and its
 * deep-voice label. Spoof-aware by construction: while the label is `synthetic` the answer is
 * `identity.mismatch` (reason synthetic_voice) whatever the voice score, since a good clone
 * matches the voice it copies; `identity.verified` needs a decided deep-voice label among
 * `verifyLabels` (speaker.verifyDeepVoiceLabels: genuine and suspicious by default, genuine only
 * for the strict rule). Pure: no I/O, no clock (identity-pipeline.ts calls it and publishes what changes).
 */
import type { VerdictLabel } from '../verdicts/types.js';
import type { EmbeddingAccumulator } from './embedding-accumulator.js';
import type { EnrolmentRecord, IdentityDecision } from './types.js';

export interface IdentityPolicyOptions {
  threshold: number;
  /** Embedded windows needed before a voice decision. */
  minWindows: number;
  /** The speaker model's version: an enrolment made with another one is not compared. */
  modelVersion: string;
  /** Deep-voice labels under which a matching voice is verified (never `synthetic`). */
  verifyLabels: readonly VerdictLabel[];
}

export interface LegEvidence {
  /** The claimed account, or '' for 1:N identification. */
  claim: string;
  /** The claim's enrolment (null: not enrolled), or the 1:N set's enrolments. */
  enrolments: readonly EnrolmentRecord[];
  acc: EmbeddingAccumulator | null;
  label: VerdictLabel;
  final: boolean;
}

export function decideIdentity(e: LegEvidence, o: IdentityPolicyOptions): IdentityDecision | null {
  const windows = e.acc?.count ?? 0;
  const base = { claim: e.claim, threshold: o.threshold, windows, deepVoiceLabel: e.label, final: e.final };
  const usable = e.enrolments.filter((r) => r.modelVersion === o.modelVersion);
  if (e.claim !== '' && e.enrolments.length === 0) return { ...base, kind: 'identity.mismatch', reason: 'not_enrolled', score: null };
  if (usable.length === 0) {
    return e.claim !== '' ? { ...base, kind: 'identity.mismatch', reason: 'enrolment_model_changed', account: e.claim, score: null } : null;
  }
  let best = usable[0]!;
  let score: number | null = null;
  if (e.acc && windows > 0) {
    for (const r of usable) {
      const s = e.acc.cosine(r.embedding);
      if (score === null || s > score) {
        score = s;
        best = r;
      }
    }
    score = Math.round(score! * 10000) / 10000;
  }
  const account = e.claim !== '' ? e.claim : best.account;
  if (e.label === 'synthetic') return { ...base, kind: 'identity.mismatch', reason: 'synthetic_voice', account, score };
  if (windows < o.minWindows || score === null) {
    return e.final ? { ...base, kind: 'identity.insufficient_speech', reason: 'too_little_speech', account, score } : null;
  }
  if (score < o.threshold) {
    return { ...base, kind: 'identity.mismatch', reason: e.claim !== '' ? 'voice_differs' : 'not_identified', ...(e.claim !== '' ? { account } : {}), score };
  }
  if (o.verifyLabels.includes(e.label)) return { ...base, kind: 'identity.verified', reason: e.claim !== '' ? 'voice_matches' : 'identified', account, score };
  if (!e.final) return null;
  if (e.label === 'suspicious') return { ...base, kind: 'identity.mismatch', reason: 'suspicious_voice', account, score };
  return { ...base, kind: 'identity.insufficient_speech', reason: 'deep_voice_undecided', account, score };
}
