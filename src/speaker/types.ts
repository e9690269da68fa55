/**
 * What other folders may import from speaker/: the speaker model's card, enrolment records,
 * and the identity decisions the identity pipeline turns into events.
 *
 * speaker/ sits beside detect/: it sees the same windows (media's WindowView) through its own
 * WindowSink, embeds every Nth speech window with the speaker model, and keeps one running mean
 * embedding per leg. It never stores audio: an enrolment is a mean embedding and its model version.
 */
import type { VerdictLabel } from '../verdicts/types.js';

/** models/devox-speaker/card.json: the contract between training/train_speaker.py and the runtime. */
export interface SpeakerCard {
  name: string;
  version: string;
  sha256: string;
  file: string;
  kind: 'speaker_embedding';
  input: { name: string; sampleRate: number; windowSec: number; shape: [string | number, number] };
  output: { name: string; dim: number; normalized: boolean };
  /** Cosine-score thresholds, calibrated on held-out speakers (enrolled from files, tested through G.711). */
  thresholds: {
    /** Equal-error-rate point: false accepts = false rejects. */
    eer: number;
    /** The score where 1 % of impostor trials are accepted: the default decision threshold. */
    far1: number;
    /** Enrolment: segments whose cosine to the enrolment mean falls below this are inconsistent. */
    enrolConsistency: number;
  };
  [extra: string]: unknown;
}

/** What is stored per enrolled account (NATS KV value, or the file fallback): never audio. */
export interface EnrolmentRecord {
  account: string;
  /** Mean of the unit window embeddings of every enrolment segment, renormalised. */
  embedding: number[];
  modelName: string;
  modelVersion: string;
  /** ISO 8601. */
  createdAt: string;
  /** Seconds of speech windows that went into the embedding. */
  speechSec: number;
  segments: number;
  /** Lowest leave-one-out cosine (a recording, or a segment of a single recording, against the rest): how consistent the audio is. */
  minSegmentCosine: number;
}

export type IdentityEventKind = 'identity.verified' | 'identity.mismatch' | 'identity.insufficient_speech';

/** Why an identity event says what it says (docs/speaker.md). */
export type IdentityReason =
  /** Score at or above the threshold and the deep-voice verdict is genuine. */
  | 'voice_matches'
  /** Score below the threshold. */
  | 'voice_differs'
  /** The leg's deep-voice verdict is synthetic: never verified, whatever the score. */
  | 'synthetic_voice'
  /** The leg ended with the deep-voice verdict still suspicious. */
  | 'suspicious_voice'
  /** The leg ended before the deep-voice verdict was decided. */
  | 'deep_voice_undecided'
  /** Less speech than speaker.minSpeechWindows embedded windows. */
  | 'too_little_speech'
  /** No enrolment for the claimed account. */
  | 'not_enrolled'
  /** The enrolment was made with another speaker-model version: re-enrol. */
  | 'enrolment_model_changed'
  /** 1:N identification (no claim): the best enrolled account scored at or above the threshold. */
  | 'identified'
  /** 1:N identification: no enrolled account reached the threshold. */
  | 'not_identified';

/** One identity decision for a leg. */
export interface IdentityDecision {
  kind: IdentityEventKind;
  reason: IdentityReason;
  /** The claimed account ('' when identifying 1:N without a claim). */
  claim: string;
  /** The best-matching account of a 1:N identification (absent for 1:1). */
  account?: string;
  /** Cosine of the leg's mean embedding to the enrolment; null when not computed. */
  score: number | null;
  threshold: number;
  /** Speaker windows embedded so far. */
  windows: number;
  /** The leg's deep-voice label when the decision was made. */
  deepVoiceLabel: VerdictLabel;
  final: boolean;
}
