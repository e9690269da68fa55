/**
 * Shadow scoring's output: pairs the serving model's score of a sampled window with the shadow
 * candidate's score of the same window (stream id + window seq) and publishes the pair on
 * `<prefix>.shadow.<callToken>` (the events stream keeps it), plus metrics by version.
 * `devox model report` reads these back: agreement per version and, with feedback, EER per version.
 * Nothing here reaches the verdict engine.
 *
 *   serving Detector ──▶ ScoreFanOut ──▶ comparer.serving (sampled windows only)
 *   shadow Detector  ──────────────────▶ comparer.candidate
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { ScoreSink, WindowScore } from '../detect/types.js';
import { isSampled } from '../detect/window-tee.js';
import type { StreamDescriptor } from '../media/types.js';
import { callIdToToken } from './events.js';

export interface ShadowRecord {
  v: 1;
  type: 'window.shadow';
  callId: string;
  leg: string;
  streamId: string;
  seq: number;
  mediaStartSec: number;
  speechRatio: number;
  serving: { version: string; score: number };
  candidate: { version: string; score: number };
  /** Both on the same side of their own card's EER threshold. */
  agree: boolean;
}

export interface ShadowObserver {
  compared?(servingVersion: string, candidateVersion: string, agree: boolean, candidateScore: number): void;
}

export interface ShadowComparerOptions {
  nc: NatsConnection;
  subjectPrefix: string;
  share: number;
  /** EER thresholds of a version (its card): agreement is judged at each model's own operating point. */
  eerOf(version: string): number | undefined;
  observer?: ShadowObserver;
}

interface Half {
  s: WindowScore;
  side: 'serving' | 'candidate';
}

interface Shadowed {
  /** Window seq → the first half of a pair that has arrived. */
  halves: Map<number, Half>;
  drained: number;
}

export class ShadowComparer {
  readonly #o: ShadowComparerOptions;
  #share: number;
  /** Streams the shadow detector scores (it started them), by stream id. */
  readonly #streams = new Map<string, Shadowed>();
  readonly #enc = new TextEncoder();
  readonly serving: ScoreSink;
  readonly candidate: ScoreSink;

  constructor(opts: ShadowComparerOptions) {
    this.#o = opts;
    this.#share = opts.share;
    this.serving = {
      onScore: (s) => {
        if (isSampled(s.stream.streamId, s.seq, this.#share)) this.#arrive('serving', s);
      },
      onStreamDrained: (stream) => this.#drained(stream),
    };
    this.candidate = {
      onStreamStart: (stream) => void this.#streams.set(stream.streamId, { halves: new Map(), drained: 0 }),
      onScore: (s) => this.#arrive('candidate', s),
      onStreamDrained: (stream) => this.#drained(stream),
    };
  }

  /** The share of windows the tee now samples (a live change of the shadow's share). */
  setShare(share: number): void {
    this.#share = share;
  }

  #arrive(side: 'serving' | 'candidate', s: WindowScore): void {
    const st = this.#streams.get(s.stream.streamId);
    if (!st) return; // not a stream the shadow scores (another band)
    const other = st.halves.get(s.seq);
    if (!other || other.side === side) {
      st.halves.set(s.seq, { s, side });
      return;
    }
    st.halves.delete(s.seq);
    this.#publish(side === 'serving' ? s : other.s, side === 'candidate' ? s : other.s);
  }

  #publish(serving: WindowScore, candidate: WindowScore): void {
    const eS = this.#o.eerOf(serving.modelVersion) ?? 0.5;
    const eC = this.#o.eerOf(candidate.modelVersion) ?? 0.5;
    const agree = serving.score >= eS === candidate.score >= eC;
    const rec: ShadowRecord = {
      v: 1,
      type: 'window.shadow',
      callId: serving.stream.callId,
      leg: serving.stream.leg,
      streamId: serving.stream.streamId,
      seq: serving.seq,
      mediaStartSec: serving.mediaStartSec,
      speechRatio: serving.speechRatio,
      serving: { version: serving.modelVersion, score: serving.score },
      candidate: { version: candidate.modelVersion, score: candidate.score },
      agree,
    };
    this.#o.observer?.compared?.(serving.modelVersion, candidate.modelVersion, agree, candidate.score);
    if (!this.#o.nc.isClosed()) {
      this.#o.nc.publish(`${this.#o.subjectPrefix}.shadow.${callIdToToken(serving.stream.callId)}`, this.#enc.encode(JSON.stringify(rec)));
    }
  }

  /** Both sides drained the stream: what never paired (a window one side shed) is forgotten. */
  #drained(stream: StreamDescriptor): void {
    const st = this.#streams.get(stream.streamId);
    if (st && ++st.drained >= 2) this.#streams.delete(stream.streamId);
  }
}
