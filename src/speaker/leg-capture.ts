/**
 * One enrolment capture on a live leg (a WindowCapture the speaker scorer feeds): it counts the
 * leg's speech as file enrolment counts it, keeps the unit embeddings of its speech windows (one
 * in `everyNth`, so that they are `policy.hopSec` apart like the windows cut from a file), and
 * groups them into segments of `policy.segmentWindows`. Never audio: the scorer copies a window
 * into its batch and hands back only the embedding.
 *
 * Speech seconds: media's windows overlap (lengthSec every hopMs) and carry the share of their
 * 20-ms frames above the speech threshold, so Σ speechRatio × hop over the leg's windows is the
 * speech time of the 20-ms frames, the same measure enrolment.ts takes from a file.
 *
 * Done when there is enough speech (policy.minSpeechSec) in enough whole segments
 * (policy.minSegments): `result` resolves with the embeddings and their layout, and the quality
 * check proper (consistency) is enrolment.ts's. The leg ending first, or stop() (time out,
 * requester gone), settles it too: with what the file rules accept, or an EnrolmentError naming
 * the speech obtained against the speech needed.
 */
import type { StreamEndReason, WindowMeasures } from '../media/types.js';
import { EnrolmentError, type EnrolmentPolicy, type SpeechLayout } from './enrolment.js';
import type { WindowCapture } from './speaker-scorer.js';

/** How far a capture has got (what the APIs report as progress). */
export interface CaptureProgress {
  speechSec: number;
  minSpeechSec: number;
  /** Embedded speech windows. */
  windows: number;
  segments: number;
  minSegments: number;
  /** Media time of the leg's latest window, seconds. */
  mediaSec: number;
}

/** What a finished capture hands to enrolment: the unit embeddings (rows × dim) and their layout. */
export interface CapturedSpeech {
  layout: SpeechLayout;
  embeddings: Float32Array;
}

export interface LegCaptureOptions {
  dim: number;
  policy: Readonly<EnrolmentPolicy>;
  everyNth: number;
  /** media's window hop (window.hopMs / 1000). */
  windowHopSec: number;
  /** Names the source in refusals and segment names, e.g. 'call C leg caller'. */
  name: string;
  /** Called after each embedded window (and once at the start). */
  onProgress?(p: CaptureProgress): void;
}

export class LegCapture implements WindowCapture {
  readonly everyNth: number;
  readonly result: Promise<CapturedSpeech>;
  readonly #o: LegCaptureOptions;
  #emb: Float32Array;
  #rows = 0;
  #speechSec = 0;
  #mediaSec = 0;
  readonly #segmentNames: string[] = [];
  #settled = false;
  #resolve!: (c: CapturedSpeech) => void;
  #reject!: (e: EnrolmentError) => void;

  constructor(opts: LegCaptureOptions) {
    this.#o = opts;
    this.everyNth = Math.max(1, opts.everyNth);
    // Room for the windows the speech needs, grown by doubling if the leg talks slowly.
    const expected = Math.ceil(opts.policy.minSpeechSec / (opts.windowHopSec * this.everyNth)) + opts.policy.minSegments * opts.policy.segmentWindows;
    this.#emb = new Float32Array(Math.max(16, expected) * opts.dim);
    this.result = new Promise<CapturedSpeech>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Settled by whoever awaits it; an unobserved refusal must not crash the process.
    this.result.catch(() => undefined);
  }

  get settled(): boolean {
    return this.#settled;
  }

  get progress(): CaptureProgress {
    const p = this.#o.policy;
    return {
      speechSec: Math.round(this.#speechSec * 10) / 10,
      minSpeechSec: p.minSpeechSec,
      windows: this.#rows,
      segments: this.#segments(),
      minSegments: p.minSegments,
      mediaSec: Math.round(this.#mediaSec * 100) / 100,
    };
  }

  onWindow(w: Readonly<WindowMeasures>): void {
    if (this.#settled) return;
    this.#speechSec += w.speechRatio * this.#o.windowHopSec;
    this.#mediaSec = w.mediaEndSec;
  }

  onEmbedding(block: Float32Array, row: number, mediaEndSec: number): void {
    if (this.#settled) return;
    const dim = this.#o.dim;
    if ((this.#rows + 1) * dim > this.#emb.length) {
      const grown = new Float32Array(this.#emb.length * 2);
      grown.set(this.#emb);
      this.#emb = grown;
    }
    this.#emb.set(block.subarray(row * dim, (row + 1) * dim), this.#rows * dim);
    if (this.#rows % this.#o.policy.segmentWindows === 0) this.#segmentNames.push(`${this.#o.name} at ${mediaEndSec.toFixed(1)} s`);
    this.#rows++;
    this.#report();
    const p = this.#o.policy;
    // Enough: the speech, in whole segments (a trailing window alone would be a segment of its own in the consistency check).
    if (this.#speechSec >= p.minSpeechSec && this.#rows >= p.minSegments * p.segmentWindows && this.#rows % p.segmentWindows === 0) this.#finish();
  }

  onLegEnded(reason: StreamEndReason): void {
    this.stop('leg_ended', `the leg ended (${reason})`);
  }

  /** Ends the capture now: what was captured is used if the file rules accept its amount, else refused with `code`. */
  stop(code: 'leg_ended' | 'capture_timeout' | 'capture_cancelled', why: string): void {
    if (this.#settled) return;
    const p = this.#o.policy;
    if (code !== 'capture_cancelled' && this.#speechSec >= p.minSpeechSec && this.#segments() >= p.minSegments) return this.#finish();
    const got = this.progress;
    this.#settled = true;
    this.#reject(
      new EnrolmentError(
        code,
        `${why} after ${got.speechSec.toFixed(1)} s of speech in ${got.segments} segment${got.segments === 1 ? '' : 's'} of ${p.segmentWindows} windows; ` +
          `enrolment needs ${p.minSpeechSec} s of speech in ${p.minSegments} segments`,
        { ...got },
      ),
    );
  }

  #segments(): number {
    return Math.ceil(this.#rows / this.#o.policy.segmentWindows);
  }

  #report(): void {
    try {
      this.#o.onProgress?.(this.progress);
    } catch {
      // a progress listener that throws (a closed socket) must not stop the capture
    }
  }

  #finish(): void {
    this.#settled = true;
    const rows = this.#rows;
    const segment = new Int32Array(rows);
    for (let r = 0; r < rows; r++) segment[r] = Math.floor(r / this.#o.policy.segmentWindows);
    this.#resolve({
      embeddings: this.#emb.subarray(0, rows * this.#o.dim),
      layout: {
        rows,
        segment,
        segments: this.#segments(),
        segmentNames: [...this.#segmentNames],
        source: new Int32Array(rows),
        sources: rows > 0 ? 1 : 0,
        sourceNames: [this.#o.name],
        speechSec: this.#speechSec,
      },
    });
  }
}
