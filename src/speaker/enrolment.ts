/**
 * Enrolment: from a few recordings of one person to one stored mean embedding, with a quality
 * check that refuses clearly instead of storing a weak voiceprint:
 *   - enough speech: at least `minSpeechSec` seconds of 20-ms frames above the speech threshold;
 *   - enough segments: the speech windows are grouped into segments (each file, cut into runs of
 *     `segmentWindows` windows), at least `minSegments` of them;
 *   - consistent audio: with several recordings, each recording's mean embedding must reach
 *     `minConsistency` cosine with the mean of the other recordings (a wrong file or another voice
 *     fails here, naming the recording); with one recording, each segment against the others.
 * Windows are cut as media cuts them (1 s, speech ratio of 20-ms frames) every `hopSec`.
 * Only the embedding, model version, counts and time are kept: the audio is dropped.
 * Enrolment from a live leg (leg-capture.ts) brings embeddings the speaker scorer already made,
 * laid out the same way (one source, segments of `segmentWindows`): enrolmentFromEmbeddings.
 */
import { resampleBuffer } from '../media/resampler.js';
import { normalize, cosine } from './embedding-accumulator.js';
import type { EnrolmentRecord, SpeakerCard } from './types.js';

export interface EnrolmentPolicy {
  minSpeechSec: number;
  minSegments: number;
  segmentWindows: number;
  minConsistency: number;
  /** Windows with fewer speech frames than this share are not embedded. */
  minSpeechRatio: number;
  speechThresholdDbfs: number;
  hopSec: number;
}

/** Refusal codes of the quality check (machine-readable; the message says it in words). */
export type EnrolmentRefusal =
  | 'no_audio'
  | 'too_little_speech'
  | 'too_few_segments'
  | 'inconsistent_segments'
  | 'invalid_account'
  // Enrolment from a live call's leg (call-enrolment.ts):
  /** No live leg of that call on this node. */
  | 'unknown_call'
  /** The call is live, the named leg is not (the details list the live legs). */
  | 'unknown_leg'
  /** No leg named and the call has several. */
  | 'ambiguous_leg'
  /** Another capture is already running on that leg. */
  | 'capture_in_progress'
  /** The leg ended before enough speech was captured. */
  | 'leg_ended'
  /** The capture's time ran out before enough speech was captured. */
  | 'capture_timeout'
  /** The requester went away, or the server is shutting down. */
  | 'capture_cancelled';

export class EnrolmentError extends Error {
  readonly code: EnrolmentRefusal;
  readonly details: Record<string, unknown>;
  constructor(code: EnrolmentRefusal, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'EnrolmentError';
    this.code = code;
    this.details = details;
  }
}

/** Accounts are NATS KV keys: letters, digits and - _ = . (no spaces, no wildcards), 1-128 chars. */
export const ACCOUNT_RE = /^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,127}$/;

export function isAccount(account: string): boolean {
  return ACCOUNT_RE.test(account) && !account.endsWith('.') && !account.includes('..');
}

export function checkAccount(account: string): string {
  if (!isAccount(account)) {
    throw new EnrolmentError('invalid_account', `account ${JSON.stringify(account)} must be 1-128 characters of A-Z a-z 0-9 _ = - . (not ending with a dot)`);
  }
  return account;
}

/** How speech windows are grouped, and how much speech they hold (what the quality check reads besides the embeddings). */
export interface SpeechLayout {
  rows: number;
  /** Segment index of each row. */
  segment: Int32Array;
  /** Source (recording) index of each row, and how many sources had speech. */
  source: Int32Array;
  sources: number;
  sourceNames: string[];
  segments: number;
  speechSec: number;
  /** Where each segment comes from, e.g. "file 1, 0.0-3.5 s". */
  segmentNames: string[];
}

export interface SpeechWindows extends SpeechLayout {
  /** rows × windowLength samples. */
  windows: Float32Array;
}

/** Cuts the speech windows of each source (mono float at any rate) as media would, grouped into segments. */
export function speechWindows(
  sources: readonly { name: string; samples: Float32Array; sampleRate: number }[],
  windowLength: number,
  sampleRate: number,
  policy: EnrolmentPolicy,
): SpeechWindows {
  const hop = Math.max(1, Math.round(policy.hopSec * sampleRate));
  const frame = Math.round(0.02 * sampleRate);
  const frameFloor = 10 ** (policy.speechThresholdDbfs / 10) * frame;
  const rows: Float32Array[] = [];
  const seg: number[] = [];
  const srcOf: number[] = [];
  const srcNames: string[] = [];
  const names: string[] = [];
  let speechFrames = 0;
  let segment = -1;
  for (const src of sources) {
    const x = src.sampleRate === sampleRate ? src.samples : resampleBuffer(src.samples, src.sampleRate, sampleRate);
    const speech = new Uint8Array(Math.floor(x.length / frame));
    for (let f = 0; f < speech.length; f++) {
      let e = 0;
      for (let i = f * frame; i < (f + 1) * frame; i++) e += x[i]! * x[i]!;
      speech[f] = e > frameFloor ? 1 : 0; // as media/window-meter.ts: frame RMS above speechThresholdDbfs
      speechFrames += speech[f]!;
    }
    let inSeg = policy.segmentWindows;
    for (let s = 0; s + windowLength <= Math.max(x.length, windowLength); s += hop) {
      const f0 = Math.floor(s / frame);
      const nf = Math.floor(windowLength / frame);
      let sf = 0;
      for (let f = f0; f < Math.min(f0 + nf, speech.length); f++) sf += speech[f]!;
      if (sf / nf < policy.minSpeechRatio) continue;
      if (inSeg >= policy.segmentWindows) {
        segment++;
        inSeg = 0;
        names.push(`${src.name} at ${(s / sampleRate).toFixed(1)} s`);
      }
      const w = new Float32Array(windowLength);
      w.set(x.subarray(s, Math.min(s + windowLength, x.length)));
      rows.push(w);
      seg.push(segment);
      if (srcNames.at(-1) !== src.name || srcOf.length === 0) srcNames.push(src.name);
      srcOf.push(srcNames.length - 1);
      inSeg++;
    }
    inSeg = policy.segmentWindows; // a new source starts a new segment
  }
  const windows = new Float32Array(rows.length * windowLength);
  rows.forEach((r, i) => windows.set(r, i * windowLength));
  return {
    windows, rows: rows.length, segment: Int32Array.from(seg), segments: segment + 1, speechSec: speechFrames * 0.02, segmentNames: names,
    source: Int32Array.from(srcOf), sources: srcNames.length, sourceNames: srcNames,
  };
}

/** Mean of rows [from, to) of a rows × dim block, normalised. */
function meanOf(emb: Float32Array, dim: number, rows: Iterable<number>): Float32Array {
  const m = new Float32Array(dim);
  for (const r of rows) for (let i = 0; i < dim; i++) m[i]! += emb[r * dim + i]!;
  return normalize(m);
}

/** The amount checks, before anything is embedded: throws EnrolmentError when there is too little. */
export function checkSpeechAmount(sw: Readonly<SpeechLayout>, policy: EnrolmentPolicy): void {
  if (sw.rows === 0) throw new EnrolmentError('no_audio', 'no speech window in the enrolment audio (silence, or not speech)');
  if (sw.speechSec < policy.minSpeechSec) {
    throw new EnrolmentError('too_little_speech', `enrolment needs at least ${policy.minSpeechSec} s of speech, the audio has ${sw.speechSec.toFixed(1)} s`, { speechSec: sw.speechSec, minSpeechSec: policy.minSpeechSec });
  }
  if (sw.segments < policy.minSegments) {
    throw new EnrolmentError('too_few_segments', `enrolment needs at least ${policy.minSegments} segments of ${policy.segmentWindows} speech windows, the audio has ${sw.segments}`, { segments: sw.segments });
  }
}

/**
 * The quality check and the record: `embed` runs the speaker model on the windows (rows × dim
 * unit embeddings). Throws EnrolmentError with a clear reason on refusal.
 */
export async function buildEnrolment(
  account: string,
  sw: SpeechWindows,
  card: Readonly<SpeakerCard>,
  policy: EnrolmentPolicy,
  embed: (windows: Float32Array, rows: number) => Promise<Float32Array>,
  now: Date = new Date(),
): Promise<EnrolmentRecord> {
  checkAccount(account);
  checkSpeechAmount(sw, policy);
  return enrolmentFromEmbeddings(account, sw, await embed(sw.windows, sw.rows), card, policy, now);
}

/**
 * The same check and record from embeddings already made (rows × dim unit embeddings laid out as
 * `sw` says): file enrolment after embedding, and enrolment from a live leg, whose windows the
 * speaker scorer embedded as they came.
 */
export function enrolmentFromEmbeddings(
  account: string,
  sw: Readonly<SpeechLayout>,
  emb: Float32Array,
  card: Readonly<SpeakerCard>,
  policy: EnrolmentPolicy,
  now: Date = new Date(),
): EnrolmentRecord {
  checkAccount(account);
  checkSpeechAmount(sw, policy);
  const dim = card.output.dim;
  const all = meanOf(emb, dim, Array.from({ length: sw.rows }, (_, i) => i));
  let minCos = 1;
  const bad: { segment: string; cosine: number }[] = [];
  // Leave one out: each recording against the mean of the other recordings (several recordings), or each
  // segment against the mean of the other segments (one recording). A wrong file stands out against the rest.
  const bySource = sw.sources >= 2;
  const groupOf = bySource ? sw.source : sw.segment;
  const groups = bySource ? sw.sources : sw.segments;
  for (let g = 0; g < groups; g++) {
    const rows: number[] = [];
    const others: number[] = [];
    for (let r = 0; r < sw.rows; r++) (groupOf[r] === g ? rows : others).push(r);
    const c = cosine(meanOf(emb, dim, rows), meanOf(emb, dim, others));
    minCos = Math.min(minCos, c);
    if (c < policy.minConsistency) bad.push({ segment: bySource ? sw.sourceNames[g]! : sw.segmentNames[g]!, cosine: Math.round(c * 1000) / 1000 });
  }
  if (bad.length > 0) {
    throw new EnrolmentError(
      'inconsistent_segments',
      `the enrolment audio does not sound like one speaker (cosine with the rest below ${policy.minConsistency}): ${bad.map((b) => `${b.segment} (${b.cosine})`).join(', ')}`,
      { inconsistent: bad },
    );
  }
  return {
    account,
    embedding: Array.from(all, (v) => Math.round(v * 1e6) / 1e6),
    modelName: card.name,
    modelVersion: card.version,
    createdAt: now.toISOString(),
    speechSec: Math.round(sw.speechSec * 100) / 100,
    segments: sw.segments,
    minSegmentCosine: Math.round(minCos * 1000) / 1000,
  };
}
