/**
 * Windows → verdicts → events. The pipeline is the WindowSink every transport feeds
 * (RTP media sessions, WebSocket legs, files); it hands windows to the Detector, turns
 * its scores into per-stream and per-call verdicts, and publishes the events:
 *
 *   onStreamStart ─▶ call.started
 *   onWindow ─▶ Detector ─▶ onScore ─▶ StreamVerdict ─▶ window.scored (+ verdict.changed when the label moves)
 *   onStreamEnd ─▶ Detector drains the stream's queued windows ─▶ call.ended (final label + call verdict)
 *
 * Every event of a stream carries a per-stream seq; verdict policy thresholds come from the
 * card of the model active when the stream started. Listeners never throw into media:
 * the Detector isolates its callbacks, and the publisher never throws.
 */
import type { Config } from '../config.js';
import type { BatchInfo, DetectorObserver } from '../detect/detector.js';
import { DetectorSet } from '../detect/detector-set.js';
import type { ModelCard, WindowScore } from '../detect/types.js';
import { nowMs } from '../media/clock.js';
import { safeEmit } from '../safe-emit.js';
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../media/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { callEnded, callStarted, verdictChanged, windowScored } from './events.js';
import type { EventPublisher } from './publisher.js';
import type { CallVerdictSummary, Evidence, VerdictLabel } from './types.js';
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
  config: Readonly<Config>;
  log: Logger;
  metrics: Metrics;
  publisher: EventPublisher;
  /** Defaults to config.detect.modelDir. */
  modelDir?: string;
  /** Defaults to config.detect.narrowbandModelDir, or none when modelDir is given (that model serves every stream). */
  narrowbandModelDir?: string;
  /** In-process listeners (demo, tests); errors they throw are logged and ignored. */
  listener?: VerdictListener;
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
  windowsIn: number;
  scored: number;
  shed: number;
  endReason: StreamEndReason | 'shutdown' | null;
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
  windowsIn: number;
  scored: number;
  shed: number;
}

export class VerdictPipeline implements WindowSink {
  readonly #opts: PipelineOptions;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #publisher: EventPublisher;
  readonly #streams = new Map<string, StreamRecord>();
  readonly #calls = new Map<string, CallRecord>();
  #detector!: DetectorSet;
  /** Last batch's timing, to attribute queue wait to the windows it scored. */
  #lastBatchStartedMs = 0;
  #lastBatchScoredMs = -1;
  /** Calls with at least one live stream. */
  #liveCalls = 0;
  #windowsIn = 0;
  #scored = 0;
  #shed = 0;
  #closing: Promise<void> | undefined;

  private constructor(opts: PipelineOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'verdicts' });
    this.#metrics = opts.metrics;
    this.#publisher = opts.publisher;
  }

  /** Loads the model (ModelLoadError on refusal) and returns a pipeline ready for streams. */
  static async create(opts: PipelineOptions): Promise<VerdictPipeline> {
    const p = new VerdictPipeline(opts);
    const metrics = opts.metrics;
    const observer: DetectorObserver = {
      batch: (b: Readonly<BatchInfo>) => {
        metrics.batchDuration.observe(b.inferenceMs / 1000);
        metrics.batchSize.observe(b.size);
        p.#lastBatchStartedMs = b.startedMs;
        p.#lastBatchScoredMs = b.scoredMs;
      },
      shed: (_stream, _seq, reason) => metrics.windowsShed.inc({ reason }),
      modelLoaded: (m) => metrics.setModel(m.name, m.version, m.band),
      inferenceError: () => metrics.inferenceErrors.inc(),
    };
    p.#detector = await DetectorSet.create({
      detect: opts.config.detect,
      modelDir: opts.modelDir ?? opts.config.detect.modelDir,
      narrowbandModelDir: opts.narrowbandModelDir ?? (opts.modelDir ? '' : opts.config.detect.narrowbandModelDir),
      windowSec: opts.config.window.lengthSec,
      log: opts.log.child({ component: 'detect' }),
      onScore: (s) => p.#onScore(s),
      onShed: (stream) => p.#onShed(stream),
      onStreamDrained: (stream, reason) => p.#onDrained(stream, reason),
      observer,
    });
    return p;
  }

  get detector(): DetectorSet {
    return this.#detector;
  }

  /** The media output rate: the model's input sample rate. */
  get sampleRate(): number {
    return this.#detector.card.input.sampleRate;
  }

  get card(): Readonly<ModelCard> {
    return this.#detector.card;
  }

  get stats(): PipelineStats {
    return { streams: this.#streams.size, calls: this.#calls.size, windowsIn: this.#windowsIn, scored: this.#scored, shed: this.#shed };
  }

  /** Current label of a live stream. */
  label(streamId: string): VerdictLabel | undefined {
    return this.#streams.get(streamId)?.verdict.label;
  }

  swapModel(dir: string): Promise<void> {
    return this.#detector.swapModel(dir).then(
      () => void this.#metrics.modelSwaps.inc({ result: 'ok' }),
      (err: unknown) => {
        this.#metrics.modelSwaps.inc({ result: 'refused' });
        throw err;
      },
    );
  }

  onStreamStart(stream: StreamDescriptor): void {
    if (this.#closing) {
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
      verdict: new StreamVerdict(this.#opts.config.verdict, this.#detector.card.thresholds),
      modelVersion: this.#detector.modelVersion,
      decided: false,
      seq: 0,
      mediaTimeSec: 0,
      windowsIn: 0,
      scored: 0,
      shed: 0,
      endReason: null,
      finished: false,
      call,
    };
    this.#streams.set(stream.streamId, rec);
    call.verdict.set(stream.streamId, stream.leg, 'listening', 0);
    this.#metrics.liveStreamsByLabel.inc({ label: 'listening' });
    this.#metrics.streamsStarted.inc({ transport: stream.transport });
    this.#metrics.activeStreams.inc({ transport: stream.transport });
    this.#metrics.activeCalls.set(this.#liveCalls);
    this.#log.info({ callId: stream.callId, streamId: stream.streamId, leg: stream.leg, transport: stream.transport }, 'stream started');
    this.#publisher.publish(callStarted(stream, rec.seq++, nowMs(), this.#detector.modelVersion));
    this.#detector.onStreamStart(stream);
  }

  onWindow(w: WindowView): void {
    const rec = this.#streams.get(w.stream.streamId);
    if (!rec || rec.endReason !== null) return;
    if (rec.windowsIn++ === 0) this.#metrics.noteStream(w.stream.streamId);
    this.#windowsIn++;
    this.#detector.onWindow(w);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    const rec = this.#streams.get(stream.streamId);
    if (!rec || rec.endReason !== null) return;
    rec.endReason = reason;
    // The final verdict waits for the stream's queued windows (onStreamDrained).
    this.#detector.onStreamEnd(stream, reason);
  }

  #onScore(s: WindowScore): void {
    const rec = this.#streams.get(s.stream.streamId);
    const m = this.#metrics;
    this.#scored++;
    m.windowsScored.inc();
    if (s.scoredMs === this.#lastBatchScoredMs) m.queueWait.observe(Math.max(0, this.#lastBatchStartedMs - s.readyMs) / 1000);
    if (!rec || rec.finished) return;
    rec.scored++;
    rec.mediaTimeSec = s.mediaEndSec;
    if (s.modelVersion !== rec.modelVersion) {
      // The first window of this stream scored by another serving model (its band's model, or a
      // swapped-in version): judge with that model's thresholds. A last window of a retired model
      // finishing after a swap keeps the old ones.
      const card = this.#detector.cardOfVersion(s.modelVersion);
      if (card) {
        rec.modelVersion = s.modelVersion;
        rec.verdict.useModel(card.thresholds);
      }
    }
    const prev = rec.verdict.label;
    const u = rec.verdict.update(s);
    if (s.speechRatio >= this.#opts.config.verdict.minWindowSpeechRatio) m.speechWindows.inc();
    const publishWindows = this.#opts.config.verdict.publishWindowEvents;
    let publishedMs = nowMs();
    if (publishWindows) {
      this.#publisher.publish(windowScored(s, rec.seq++, u.label, u.evidence, publishedMs));
    }
    if (u.changed) {
      rec.call.verdict.set(s.stream.streamId, s.stream.leg, u.label, u.evidence.score);
      const call = rec.call.verdict.summary();
      m.verdicts.inc({ label: u.label });
      m.liveStreamsByLabel.dec({ label: prev });
      m.liveStreamsByLabel.inc({ label: u.label });
      if (!rec.decided && u.label !== 'insufficient_speech') {
        // The first decision, not "insufficient speech" (a silent leg would record
        // verdict.insufficientSpeechAfterSec and hide how long deciding takes).
        rec.decided = true;
        m.firstVerdict.observe(s.mediaEndSec);
      }
      if (u.label === 'insufficient_speech') m.insufficientSpeech.inc();
      publishedMs = nowMs();
      this.#publisher.publish(verdictChanged(s, rec.seq++, u.label, prev, u.evidence, call, publishedMs));
      this.#log.info(
        { callId: s.stream.callId, streamId: s.stream.streamId, leg: s.stream.leg, label: u.label, previous: prev, score: u.evidence.score, speechSec: u.evidence.speechSec, mediaTimeSec: s.mediaEndSec, callLabel: call.label, suspectLeg: call.suspectLeg },
        'verdict changed',
      );
      this.#notify('onVerdict', () => this.#opts.listener?.onVerdict?.(s.stream, u.label, prev, u.evidence, call));
    } else if (u.label !== 'listening') {
      rec.call.verdict.set(s.stream.streamId, s.stream.leg, u.label, u.evidence.score);
    }
    m.windowToVerdict.observe((publishedMs - s.readyMs) / 1000);
    const listener = this.#opts.listener;
    safeEmit(this.#onWindowThrew, listener, listener?.onWindow, s, u.label, publishedMs);
  }

  #onShed(stream: StreamDescriptor): void {
    this.#shed++;
    const rec = this.#streams.get(stream.streamId);
    if (rec) rec.shed++;
  }

  #onDrained(stream: StreamDescriptor, reason: StreamEndReason | 'shutdown'): void {
    const rec = this.#streams.get(stream.streamId);
    if (!rec || rec.finished) return;
    this.#finish(rec, reason);
  }

  #finish(rec: StreamRecord, reason: StreamEndReason | 'shutdown'): void {
    rec.finished = true;
    const stream = rec.stream;
    const call = rec.call;
    call.live--;
    const lastLeg = call.live === 0;
    if (lastLeg) this.#liveCalls--;
    const before = rec.verdict.label;
    const label = rec.verdict.finish();
    this.#metrics.liveStreamsByLabel.dec({ label: before });
    if (label !== before) this.#metrics.insufficientSpeech.inc();
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
      }),
    );
    this.#streams.delete(stream.streamId);
    if (lastLeg) this.#calls.delete(call.callId);
    this.#metrics.activeStreams.dec({ transport: stream.transport });
    this.#metrics.activeCalls.set(this.#liveCalls);
    this.#metrics.retireStream(stream.streamId);
    this.#log.info(
      { callId: stream.callId, streamId: stream.streamId, leg: stream.leg, reason, label, score: evidence.score, speechSec: evidence.speechSec, windows: rec.windowsIn, scored: rec.scored, shed: rec.shed, callLabel: summary.label, suspectLeg: summary.suspectLeg, lastLeg },
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
   * Scores what is queued, then ends every stream still open with reason "shutdown"
   * (publishing its call.ended) and closes the detector. Idempotent. Transports should be
   * closed first (their streams then end with their own reasons).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#detector.close();
      for (const rec of [...this.#streams.values()]) {
        if (!rec.finished) this.#finish(rec, rec.endReason ?? 'shutdown');
      }
    })();
    return this.#closing;
  }
}
