/**
 * Scores → verdicts → events. The pipeline is the ScoreSink the detector feeds (media →
 * detector → here): it turns scores into per-stream and per-call verdicts and publishes the
 * events:
 *
 *   onStreamStart ─▶ call.started
 *   onScore ─▶ StreamVerdict ─▶ window.scored (+ verdict.changed when the label moves)
 *   onStreamSilence (a SIP leg's RTP stopped / resumed) ─▶ stream.silence
 *   onStreamDrained (the detector scored the stream's last window) ─▶ call.ended (final label + call verdict)
 *
 * Every event of a stream carries a per-stream seq; verdict policy thresholds come from the
 * card of the model active when the stream started. Listeners never throw into the detector,
 * and the publisher never throws. Metrics go through the VerdictObserver.
 */
import type { Config } from '../config.js';
import type { ScoreSink, ServingModels, WindowScore } from '../detect/types.js';
import type { Logger } from '../logger.js';
import { nowMs } from '../media/clock.js';
import type { StreamDescriptor, StreamEndReason } from '../media/types.js';
import { safeEmit } from '../safe-emit.js';
import { callEnded, callStarted, streamSilence, verdictChanged, windowScored } from './events.js';
import type { EventPublisher } from './publisher.js';
import type { CallVerdictSummary, Evidence, VerdictLabel, VerdictObserver } from './types.js';
import { CallVerdict, StreamVerdict } from './verdict-policy.js';

export interface VerdictListener {
  /** Every scored window after its event was handed to the publisher (benchmarks, tests). Keep it cheap. */
  onWindow?(s: WindowScore, label: VerdictLabel, publishedMs: number): void;
  /** A stream's label changed (the same facts as the verdict.changed event). */
  onVerdict?(stream: StreamDescriptor, label: VerdictLabel, previous: VerdictLabel, evidence: Evidence, call: CallVerdictSummary): void;
  /** A stream ended; `call` is final when `lastLeg`. */
  onStreamEnded?(stream: StreamDescriptor, label: VerdictLabel, evidence: Evidence, call: CallVerdictSummary, lastLeg: boolean): void;
}

export interface PipelineOptions {
  verdict: Config['verdict'];
  /** The models serving (the DetectorSet): thresholds by model version. */
  models: ServingModels;
  log: Logger;
  observer?: VerdictObserver;
  publisher: EventPublisher;
  /** In-process listeners (demo, tests); errors they throw are logged and ignored. */
  listener?: VerdictListener;
  /** This process's name, put in every event's `node` (config node.id). */
  node?: string;
}

interface StreamRecord {
  stream: StreamDescriptor;
  verdict: StreamVerdict;
  /** The model whose thresholds `verdict` applies (it follows a swap, see #onScore). */
  modelVersion: string;
  /** Has had a decided label (genuine, suspicious or synthetic). */
  decided: boolean;
  /** Next per-stream event seq. */
  seq: number;
  mediaTimeSec: number;
  scored: number;
  shed: number;
  finished: boolean;
  call: CallRecord;
}

interface CallRecord {
  callId: string;
  verdict: CallVerdict;
  live: number;
}

export interface PipelineStats {
  streams: number;
  calls: number;
  scored: number;
  shed: number;
}

export class VerdictPipeline implements ScoreSink {
  readonly #opts: PipelineOptions;
  readonly #log: Logger;
  readonly #obs: VerdictObserver;
  readonly #models: ServingModels;
  readonly #publisher: EventPublisher;
  readonly #streams = new Map<string, StreamRecord>();
  readonly #calls = new Map<string, CallRecord>();
  /** Calls with at least one live stream. */
  #liveCalls = 0;
  #scored = 0;
  #shed = 0;
  #closed = false;

  constructor(opts: PipelineOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'verdicts' });
    this.#obs = opts.observer ?? {};
    this.#models = opts.models;
    this.#publisher = opts.publisher;
  }

  get stats(): PipelineStats {
    return { streams: this.#streams.size, calls: this.#calls.size, scored: this.#scored, shed: this.#shed };
  }

  /** Current label of a live stream. */
  label(streamId: string): VerdictLabel | undefined {
    return this.#streams.get(streamId)?.verdict.label;
  }

  onStreamStart(stream: StreamDescriptor): void {
    if (this.#closed) {
      this.#log.warn({ streamId: stream.streamId, callId: stream.callId }, 'stream started while shutting down: ignored');
      return;
    }
    if (this.#streams.has(stream.streamId)) {
      this.#log.warn({ streamId: stream.streamId, callId: stream.callId }, 'duplicate stream start ignored');
      return;
    }
    let call = this.#calls.get(stream.callId);
    if (!call) {
      call = { callId: stream.callId, verdict: new CallVerdict(), live: 0 };
      this.#calls.set(stream.callId, call);
    }
    if (call.live++ === 0) this.#liveCalls++;
    const rec: StreamRecord = {
      stream,
      verdict: new StreamVerdict(this.#opts.verdict, this.#models.card.thresholds),
      modelVersion: this.#models.modelVersion,
      decided: false,
      seq: 0,
      mediaTimeSec: 0,
      scored: 0,
      shed: 0,
      finished: false,
      call,
    };
    this.#streams.set(stream.streamId, rec);
    call.verdict.set(stream.streamId, stream.leg, 'listening', 0);
    this.#obs.streamStarted?.(stream, this.#liveCalls);
    this.#log.info({ callId: stream.callId, streamId: stream.streamId, leg: stream.leg, transport: stream.transport }, 'stream started');
    this.#publisher.publish(callStarted(stream, rec.seq++, nowMs(), this.#models.modelVersion, this.#opts.node));
  }

  onScore(s: WindowScore): void {
    const rec = this.#streams.get(s.stream.streamId);
    this.#scored++;
    this.#obs.scored?.(s);
    if (!rec || rec.finished) return;
    rec.scored++;
    rec.mediaTimeSec = s.mediaEndSec;
    if (s.modelVersion !== rec.modelVersion) {
      // The first window of this stream scored by another serving model (its band's model, or a
      // swapped-in version): judge with that model's thresholds. A last window of a retired model
      // finishing after a swap keeps the old ones.
      const card = this.#models.cardOfVersion(s.modelVersion);
      if (card) {
        rec.modelVersion = s.modelVersion;
        rec.verdict.useModel(card.thresholds);
      }
    }
    const prev = rec.verdict.label;
    const u = rec.verdict.update(s);
    const publishWindows = this.#opts.verdict.publishWindowEvents;
    let publishedMs = nowMs();
    if (publishWindows) {
      this.#publisher.publish(windowScored(s, rec.seq++, u.label, u.evidence, publishedMs, this.#opts.node));
    }
    if (u.changed) {
      rec.call.verdict.set(s.stream.streamId, s.stream.leg, u.label, u.evidence.score);
      const call = rec.call.verdict.summary();
      // The first decision, not "insufficient speech" (a silent leg would record
      // verdict.insufficientSpeechAfterSec and hide how long deciding takes).
      const firstDecision = !rec.decided && u.label !== 'insufficient_speech';
      if (firstDecision) rec.decided = true;
      this.#obs.verdictChanged?.(u.label, prev, firstDecision, s.mediaEndSec);
      publishedMs = nowMs();
      this.#publisher.publish(verdictChanged(s, rec.seq++, u.label, prev, u.evidence, call, publishedMs, this.#opts.node));
      this.#log.info(
        { callId: s.stream.callId, streamId: s.stream.streamId, leg: s.stream.leg, label: u.label, previous: prev, score: u.evidence.score, speechSec: u.evidence.speechSec, mediaTimeSec: s.mediaEndSec, callLabel: call.label, suspectLeg: call.suspectLeg },
        'verdict changed',
      );
      this.#notify('onVerdict', () => this.#opts.listener?.onVerdict?.(s.stream, u.label, prev, u.evidence, call));
    } else if (u.label !== 'listening') {
      rec.call.verdict.set(s.stream.streamId, s.stream.leg, u.label, u.evidence.score);
    }
    this.#obs.judged?.(s, s.speechRatio >= this.#opts.verdict.minWindowSpeechRatio, publishedMs);
    const listener = this.#opts.listener;
    safeEmit(this.#onWindowThrew, listener, listener?.onWindow, s, u.label, publishedMs);
  }

  onShed(stream: StreamDescriptor): void {
    this.#shed++;
    const rec = this.#streams.get(stream.streamId);
    if (rec) rec.shed++;
  }

  onStreamDrained(stream: StreamDescriptor, reason: StreamEndReason): void {
    const rec = this.#streams.get(stream.streamId);
    if (!rec || rec.finished) return;
    this.#finish(rec, reason);
  }

  /** A SIP leg's RTP stopped for longer than media.streamTimeoutMs (or came back): a stream.silence event. */
  onStreamSilence(stream: StreamDescriptor, silent: boolean, silentMs: number): void {
    const rec = this.#streams.get(stream.streamId);
    if (!rec || rec.finished) return;
    this.#publisher.publish(
      streamSilence(stream, rec.seq++, {
        silent,
        silentSec: silent ? Math.round(silentMs) / 1000 : 0,
        label: rec.verdict.label,
        mediaTimeSec: rec.mediaTimeSec,
        wallTimeMs: nowMs(),
        modelVersion: rec.modelVersion,
        node: this.#opts.node,
      }),
    );
  }

  #finish(rec: StreamRecord, reason: StreamEndReason): void {
    rec.finished = true;
    const stream = rec.stream;
    const call = rec.call;
    call.live--;
    const lastLeg = call.live === 0;
    if (lastLeg) this.#liveCalls--;
    const before = rec.verdict.label;
    const label = rec.verdict.finish();
    const evidence = rec.verdict.evidence;
    call.verdict.set(stream.streamId, stream.leg, label, evidence.score);
    const summary = call.verdict.summary();
    this.#publisher.publish(
      callEnded(stream, rec.seq++, {
        label,
        evidence,
        reason,
        mediaTimeSec: rec.mediaTimeSec,
        call: summary,
        lastLeg,
        wallTimeMs: nowMs(),
        // the model whose thresholds made the final label (its band's model; the latest after a swap)
        modelVersion: rec.modelVersion,
        node: this.#opts.node,
      }),
    );
    this.#streams.delete(stream.streamId);
    if (lastLeg) this.#calls.delete(call.callId);
    this.#obs.streamEnded?.(stream, before, label, this.#liveCalls);
    this.#log.info(
      { callId: stream.callId, streamId: stream.streamId, leg: stream.leg, reason, label, score: evidence.score, speechSec: evidence.speechSec, windows: rec.scored + rec.shed, scored: rec.scored, shed: rec.shed, callLabel: summary.label, suspectLeg: summary.suspectLeg, lastLeg },
      'stream ended',
    );
    this.#notify('onStreamEnded', () => this.#opts.listener?.onStreamEnded?.(stream, label, evidence, summary, lastLeg));
  }

  #notify(what: string, fn: () => void): void {
    safeEmit((err) => this.#log.error({ err, listener: what }, 'verdict listener threw; continuing'), undefined, fn);
  }

  /** Made once: the per-window listener call allocates nothing. */
  readonly #onWindowThrew = (err: unknown): void => this.#log.error({ err, listener: 'onWindow' }, 'verdict listener threw; continuing');

  /**
   * Ends every stream still open with reason "shutdown" (publishing its call.ended); streams
   * started afterwards are ignored. Idempotent. Close the detector first: its queued windows
   * are then scored and their streams drained with their own reasons.
   */
  close(): void {
    this.#closed = true;
    for (const rec of [...this.#streams.values()]) {
      if (!rec.finished) this.#finish(rec, 'shutdown');
    }
  }
}
