/**
 * Per-stream verdict state machine and the call-level verdict over legs.
 *
 *   listening ──(speechSec ≥ minSpeechSec)──▶ genuine / suspicious / synthetic
 *       │                                         ▲  (moves between these three with hysteresis)
 *       └─(mediaTime ≥ insufficientSpeechAfterSec, speech still short)──▶ insufficient_speech ──(speech arrives)──┘
 *
 * Evidence is accumulated over speech windows only (speechRatio ≥ verdict.minWindowSpeechRatio):
 * the log-odds of each window's score are exponentially smoothed (alpha = verdict.evidenceAlpha)
 * with bias correction, so the first few windows weigh as a plain mean and later ones as an EMA
 * (a single odd window cannot flip the label; a sustained change does within a few hops).
 * The smoothed probability is compared with the model card's calibrated thresholds:
 * p < suspicious → genuine, suspicious ≤ p < synthetic → suspicious, p ≥ synthetic → synthetic.
 * Leaving a label needs the threshold crossed by verdict.hysteresis (probability units).
 */
import type { Config } from '../config.js';
import type { ModelCard, WindowScore } from '../detect/types.js';
import type { CallVerdictSummary, Evidence, VerdictLabel, VerdictUpdate } from './types.js';
import { VerdictPolicyError } from './errors.js';

export { VerdictPolicyError };

export type { VerdictLabel, VerdictUpdate, Evidence, CallVerdictSummary } from './types.js';


/** Scores are clamped away from 0 and 1 so one saturated window cannot dominate the log-odds mean. */
const P_MIN = 1e-4;
const P_MAX = 1 - 1e-4;

function logit(p: number): number {
  const q = p < P_MIN ? P_MIN : p > P_MAX ? P_MAX : p;
  return Math.log(q / (1 - q));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

const DECIDED_RANK: Readonly<Record<VerdictLabel, number>> = {
  insufficient_speech: 0,
  listening: 1,
  genuine: 2,
  suspicious: 3,
  synthetic: 4,
};

export function checkThresholds(t: ModelCard['thresholds']): void {
  const ok = (x: number) => Number.isFinite(x) && x > 0 && x < 1;
  if (!ok(t.suspicious) || !ok(t.synthetic) || !ok(t.eer)) {
    throw new VerdictPolicyError(
      `model card thresholds must be probabilities in (0, 1): got suspicious=${t.suspicious} synthetic=${t.synthetic} eer=${t.eer}`,
    );
  }
  if (t.suspicious > t.synthetic) {
    throw new VerdictPolicyError(
      `model card thresholds.suspicious (${t.suspicious}) must be <= thresholds.synthetic (${t.synthetic})`,
    );
  }
}

export class StreamVerdict {
  readonly #cfg: Config['verdict'];
  #suspicious: number;
  #synthetic: number;
  #label: VerdictLabel = 'listening';
  #windows = 0;
  #speechWindows = 0;
  #speechSec = 0;
  /** Media time up to which speech windows have already been counted (windows overlap). */
  #coveredUntilSec = 0;
  /** Bias-corrected EMA of log-odds: #ema / (1 - (1-alpha)^n). */
  #ema = 0;
  #decay = 1;
  #score = 0;
  /**
   * After a model swap: the label holds until the speech seconds reach this, then the next
   * decision ignores the hysteresis once. null: no swap pending.
   */
  #rejudgeAtSec: number | null = null;

  constructor(cfg: Config['verdict'], thresholds: ModelCard['thresholds']) {
    checkThresholds(thresholds);
    this.#cfg = cfg;
    this.#suspicious = thresholds.suspicious;
    this.#synthetic = thresholds.synthetic;
  }

  get label(): VerdictLabel {
    return this.#label;
  }

  /** Current evidence (a fresh object). */
  get evidence(): Evidence {
    return { speechSec: this.#speechSec, windows: this.#windows, speechWindows: this.#speechWindows, score: this.#score };
  }

  /**
   * Feed one scored window (in seq order). Returns a fresh object the caller may keep
   * (it goes into an event payload anyway, so there is nothing to save by reusing it).
   */
  update(s: WindowScore): VerdictUpdate {
    const cfg = this.#cfg;
    this.#windows++;
    if (s.speechRatio >= cfg.minWindowSpeechRatio) {
      this.#speechWindows++;
      // Only the media time this window adds beyond earlier speech windows counts (windows overlap).
      const fresh = s.mediaEndSec - Math.max(s.mediaStartSec, this.#coveredUntilSec);
      if (fresh > 0) this.#speechSec += fresh * s.speechRatio;
      if (s.mediaEndSec > this.#coveredUntilSec) this.#coveredUntilSec = s.mediaEndSec;
      const a = cfg.evidenceAlpha;
      this.#ema = (1 - a) * this.#ema + a * logit(s.score);
      this.#decay *= 1 - a;
      this.#score = sigmoid(this.#ema / (1 - this.#decay));
    }
    const prev = this.#label;
    this.#label = this.#next(prev, s.mediaEndSec);
    return { label: this.#label, changed: this.#label !== prev, evidence: this.evidence };
  }

  /**
   * The windows from now on are scored by another model (a swap): its own calibrated
   * thresholds apply, and the smoothed score restarts from its windows, since log-odds of two
   * models are not on one scale. Evidence (speech seconds, windows) is kept, and so is the label
   * until the new model has scored verdict.minSpeechSec of speech of its own; then the label is
   * the new model's plain decision once (hysteresis protects a label from its own model's noise,
   * not a label another model's calibration decided).
   */
  useModel(thresholds: ModelCard['thresholds']): void {
    checkThresholds(thresholds);
    this.#suspicious = thresholds.suspicious;
    this.#synthetic = thresholds.synthetic;
    this.#ema = 0;
    this.#decay = 1;
    this.#rejudgeAtSec = this.#speechSec + this.#cfg.minSpeechSec;
  }

  /**
   * The stream ended: a stream still listening never got enough speech, so its final label is
   * insufficient_speech; other labels stay. Returns the final label (idempotent).
   */
  finish(): VerdictLabel {
    if (this.#label === 'listening') this.#label = 'insufficient_speech';
    return this.#label;
  }

  #next(prev: VerdictLabel, mediaTimeSec: number): VerdictLabel {
    const cfg = this.#cfg;
    if (this.#speechSec < cfg.minSpeechSec || this.#speechWindows === 0) {
      if (prev === 'listening' && mediaTimeSec >= cfg.insufficientSpeechAfterSec) return 'insufficient_speech';
      return prev;
    }
    const p = this.#score;
    const h = cfg.hysteresis;
    const plain: VerdictLabel = p >= this.#synthetic ? 'synthetic' : p >= this.#suspicious ? 'suspicious' : 'genuine';
    if (this.#rejudgeAtSec !== null) {
      // Until the new model has its own evidence, #score still mixes in nothing of it: keep the label.
      if (this.#speechSec < this.#rejudgeAtSec || this.#decay === 1) return prev;
      this.#rejudgeAtSec = null;
      return plain;
    }
    if (prev !== 'genuine' && prev !== 'suspicious' && prev !== 'synthetic') return plain;
    if (plain === prev) return prev;
    // Moving up needs the threshold exceeded by h, moving down needs it undercut by h.
    const up = DECIDED_RANK[plain] > DECIDED_RANK[prev];
    if (up) {
      if (p >= this.#synthetic + h) return 'synthetic';
      if (prev === 'genuine' && p >= this.#suspicious + h) return 'suspicious';
      return prev;
    }
    if (p < this.#suspicious - h) return 'genuine';
    if (prev === 'synthetic' && p < this.#synthetic - h) return 'suspicious';
    return prev;
  }
}

interface LegState {
  leg: string;
  label: VerdictLabel;
  score: number;
}

/**
 * Call-level verdict over the legs (streams) of one call: the worst leg wins
 * (synthetic > suspicious > genuine > listening > insufficient_speech) and a
 * suspicious/synthetic call names the leg that made it so.
 *
 * The deciding leg is sticky: it changes only when a leg's label changes (a leg reaching a
 * worse label, or the deciding leg leaving its own), never because scores moved while the
 * labels held. Every label change is published (verdict.changed, or call.ended for a final
 * label) with this summary, so every change of `suspectLeg` arrives in an event. Among legs
 * tied at the worst label when one must be chosen, the highest score wins.
 */
export class CallVerdict {
  readonly #legs = new Map<string, LegState>();
  /** The leg that decides the call verdict (streamId); undefined before any leg. */
  #deciding: string | undefined;

  set(streamId: string, leg: string, label: VerdictLabel, score: number): void {
    const cur = this.#legs.get(streamId);
    if (cur) {
      cur.label = label;
      cur.score = score;
    } else {
      this.#legs.set(streamId, { leg, label, score });
    }
    this.#decide();
  }

  get size(): number {
    return this.#legs.size;
  }

  summary(): CallVerdictSummary {
    const s = this.#deciding === undefined ? undefined : this.#legs.get(this.#deciding);
    if (!s) return { label: 'listening', suspectLeg: null, suspectStreamId: null, score: 0 };
    const suspect = s.label === 'suspicious' || s.label === 'synthetic';
    return {
      label: s.label,
      suspectLeg: suspect ? s.leg : null,
      suspectStreamId: suspect ? this.#deciding! : null,
      score: s.score,
    };
  }

  #decide(): void {
    let worst = -Infinity;
    for (const s of this.#legs.values()) worst = Math.max(worst, DECIDED_RANK[s.label]);
    const kept = this.#deciding === undefined ? undefined : this.#legs.get(this.#deciding);
    if (kept && DECIDED_RANK[kept.label] === worst) return; // still among the worst: scores alone never move it
    let best: [string, LegState] | undefined;
    for (const entry of this.#legs) {
      if (DECIDED_RANK[entry[1].label] !== worst) continue;
      if (best === undefined || entry[1].score > best[1].score) best = entry;
    }
    this.#deciding = best?.[0];
  }
}
