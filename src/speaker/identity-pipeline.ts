/**
 * Identity per leg, in data order:
 *
 *   StreamDescriptor.identity ─▶ claim (claims.ts) ─▶ enrolment lookup (EnrolmentStore, once per leg)
 *   SpeakerScorer ─▶ onEmbedding (the leg's running mean) ─┐
 *   detector scores ─▶ onScore (the leg's deep-voice label) ┴─▶ decideIdentity ─▶ identity.* event
 *
 * Added to the detector's ScoreFanOut after the verdict pipeline, so the label it reads for a
 * window is the one that window produced. An event is published when the decision (type, reason,
 * account) changes, and once more, final, when the leg has ended on both sides (detector drained
 * and speaker drained). Legs without a claim are only identified 1:N when speaker.identifySet
 * names accounts; otherwise they produce no identity event.
 */
import type { Logger } from 'pino';
import type { ScoreSink, WindowScore } from '../detect/types.js';
import type { StreamDescriptor, StreamEndReason } from '../media/types.js';
import { identityEvent } from '../verdicts/events.js';
import type { EventPublisher } from '../verdicts/publisher.js';
import type { IdentityEvent, VerdictLabel } from '../verdicts/types.js';
import { resolveClaim, type ClaimRules } from './claims.js';
import type { EmbeddingAccumulator } from './embedding-accumulator.js';
import type { EnrolmentStore } from './enrolment-store.js';
import { decideIdentity, type IdentityPolicyOptions } from './identity-policy.js';
import type { SpeakerSink } from './speaker-scorer.js';
import type { EnrolmentRecord, IdentityDecision } from './types.js';

export interface IdentityPipelineOptions extends ClaimRules, IdentityPolicyOptions {
  store: EnrolmentStore;
  publisher: Pick<EventPublisher, 'publish'>;
  /** The deep-voice label of a live stream (VerdictPipeline.label). */
  labelOf(streamId: string): VerdictLabel | undefined;
  /** Accounts compared 1:N when a leg has no claim (empty: no identification). */
  identifySet: readonly string[];
  /** This node (config node.id), named in every event. */
  node?: string;
  log: Logger;
  /** In-process listener (tests, analyze). */
  onEvent?(e: IdentityEvent): void;
}

interface Leg {
  stream: StreamDescriptor;
  claim: string;
  enrolments: EnrolmentRecord[];
  loaded: Promise<void>;
  isLoaded: boolean;
  acc: EmbeddingAccumulator | null;
  label: VerdictLabel;
  mediaSec: number;
  lastKey: string;
  seq: number;
  detectorDone: boolean;
  speakerDone: boolean;
}

export class IdentityPipeline implements ScoreSink, SpeakerSink {
  readonly #o: IdentityPipelineOptions;
  readonly #legs = new Map<string, Leg>();
  /** Final decisions waiting on an enrolment lookup. */
  readonly #finals = new Set<Promise<void>>();
  #published = 0;

  constructor(opts: IdentityPipelineOptions) {
    this.#o = opts;
  }

  get stats(): { legs: number; published: number } {
    return { legs: this.#legs.size, published: this.#published };
  }

  /** Whether a leg can get an identity decision: it carries a claim, or 1:N identification is configured. */
  wants(stream: StreamDescriptor): boolean {
    return this.#o.identifySet.length > 0 || resolveClaim(stream.identity, this.#o).account !== null;
  }

  onStreamStart(stream: StreamDescriptor): void {
    const c = resolveClaim(stream.identity, this.#o);
    if (c.account === null && 'invalid' in c && c.invalid !== undefined) {
      this.#o.log.warn({ streamId: stream.streamId, key: c.key }, 'claimed identity is not a valid account name: no claim');
    }
    const claim = c.account ?? '';
    const accounts = claim !== '' ? [claim] : [...this.#o.identifySet];
    if (accounts.length === 0) return;
    const leg: Leg = {
      stream, claim, enrolments: [], isLoaded: false, loaded: Promise.resolve(), acc: null, label: 'listening',
      mediaSec: 0, lastKey: '', seq: 0, detectorDone: false, speakerDone: false,
    };
    leg.loaded = Promise.all(accounts.map((a) => this.#o.store.get(a))).then(
      (rs) => {
        leg.enrolments = rs.filter((r): r is EnrolmentRecord => r !== null);
        leg.isLoaded = true;
        this.#evaluate(leg, false);
      },
      (err: unknown) => {
        this.#o.log.error({ err, streamId: stream.streamId }, 'enrolment lookup failed: the leg is not verified');
        leg.isLoaded = true;
        this.#evaluate(leg, false);
      },
    );
    this.#legs.set(stream.streamId, leg);
  }

  onScore(s: WindowScore): void {
    const leg = this.#legs.get(s.stream.streamId);
    if (!leg) return;
    const label = this.#o.labelOf(s.stream.streamId) ?? leg.label;
    leg.mediaSec = Math.max(leg.mediaSec, s.mediaEndSec);
    if (label !== leg.label) {
      leg.label = label;
      this.#evaluate(leg, false);
    }
  }

  onStreamDrained(stream: StreamDescriptor, _reason: StreamEndReason): void {
    const leg = this.#legs.get(stream.streamId);
    if (!leg) return;
    leg.detectorDone = true;
    this.#maybeFinish(leg);
  }

  onEmbedding(stream: StreamDescriptor, acc: EmbeddingAccumulator, mediaEndSec: number): void {
    const leg = this.#legs.get(stream.streamId);
    if (!leg) return;
    leg.acc = acc;
    leg.mediaSec = Math.max(leg.mediaSec, mediaEndSec);
    this.#evaluate(leg, false);
  }

  onSpeakerDrained(stream: StreamDescriptor, acc: EmbeddingAccumulator, _reason: StreamEndReason): void {
    const leg = this.#legs.get(stream.streamId);
    if (!leg) return;
    leg.acc = acc;
    leg.speakerDone = true;
    this.#maybeFinish(leg);
  }

  #maybeFinish(leg: Leg): void {
    if (!leg.detectorDone || !leg.speakerDone) return;
    this.#legs.delete(leg.stream.streamId);
    const p = leg.loaded.then(() => this.#evaluate(leg, true));
    this.#finals.add(p);
    void p.finally(() => this.#finals.delete(p));
  }

  #evaluate(leg: Leg, final: boolean): void {
    if (!leg.isLoaded) return;
    const d = decideIdentity({ claim: leg.claim, enrolments: leg.enrolments, acc: leg.acc, label: leg.label, final }, this.#o);
    if (!d) return;
    const key = `${d.kind}|${d.reason}|${d.account ?? ''}`;
    if (!final && key === leg.lastKey) return;
    leg.lastKey = key;
    this.#publish(leg, d);
  }

  #publish(leg: Leg, d: IdentityDecision): void {
    const e = identityEvent(leg.stream, leg.seq++, {
      type: d.kind,
      claim: d.claim,
      account: d.account ?? null,
      score: d.score,
      threshold: d.threshold,
      reason: d.reason,
      windows: d.windows,
      deepVoiceLabel: d.deepVoiceLabel,
      final: d.final,
      mediaTimeSec: leg.mediaSec,
      wallTimeMs: Date.now(),
      modelVersion: this.#o.modelVersion,
      ...(this.#o.node ? { node: this.#o.node } : {}),
    });
    this.#published++;
    this.#o.publisher.publish(e);
    this.#o.log.info({ callId: leg.stream.callId, streamId: leg.stream.streamId, leg: leg.stream.leg, type: d.kind, reason: d.reason, score: d.score, final: d.final }, 'identity decision');
    try {
      this.#o.onEvent?.(e);
    } catch (err) {
      this.#o.log.error({ err }, 'identity listener threw; continuing');
    }
  }

  /** Waits until the enrolment lookups of live legs have settled (shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.all([...[...this.#legs.values()].map((l) => l.loaded), ...this.#finals]);
  }
}
