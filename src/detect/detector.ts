/**
 * The detector: a WindowSink that scores windows from every stream with one shared model.
 *
 *   media ──onWindow──▶ MicroBatcher (copy into preallocated batch) ──▶ InferenceEngine (worker
 *   thread, one onnxruntime session) ──▶ ScoreSink.onScore(WindowScore) in per-stream window order
 *
 * Media's onStreamStart goes on to the sink; onStreamEnd becomes the sink's onStreamDrained
 * once the stream's queued windows are scored or shed.
 *
 * - Inference runs in a worker thread, so the media loop (RTP sockets, timers) never waits on a
 *   batch (see inference-worker.ts for why the async session.run alone is not enough).
 * - Overload sheds the oldest windows (see micro-batcher.ts) and reports each via sink.onShed /
 *   observer.shed; latency stays bounded.
 * - swapModel(dir) loads and verifies the new version in a new worker while the old one keeps
 *   scoring, switches between batches, then releases the old; each WindowScore names the
 *   version that scored it.
 * - A worker that dies or overruns detect.inferenceTimeoutMs is replaced on the next batch (its
 *   batch is reported shed as inference_error).
 * - A sink or observer that throws is logged and does not stop the detector (sink-delivery.ts).
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { nowMs } from '../media/clock.js';
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../media/types.js';
import { cardBand } from './band.js';
import { DetectorClosedError, InferenceError, ModelLoadError } from './errors.js';
import { InferenceEngine, type EngineOptions } from './inference-engine.js';
import { MicroBatcher, type BatchInfo, type PrincipalQueue, type QueuedWindow, type RunOutcome, type ShedReason, type StreamQueue } from './micro-batcher.js';
import { SinkDelivery, type DetectorObserver } from './sink-delivery.js';
import type { ModelCard, ScoreSink, WindowScore } from './types.js';

export type { BatchInfo, ShedReason } from './micro-batcher.js';
export type { DetectorObserver } from './sink-delivery.js';

function sameThresholds(a: Readonly<ModelCard>, b: Readonly<ModelCard>): boolean {
  return a.thresholds.eer === b.thresholds.eer && a.thresholds.suspicious === b.thresholds.suspicious && a.thresholds.synthetic === b.thresholds.synthetic;
}

export interface DetectorOptions {
  detect: Config['detect'];
  modelDir: string;
  /** The window length media cuts (config window.lengthSec): a model whose card says otherwise is refused. */
  windowSec: number;
  log: Logger;
  /** Where scores go (several sinks: a ScoreFanOut). */
  sink: ScoreSink;
  /** Hand each WindowScore its window's embedding (features export, shadow scoring). */
  embeddings?: boolean;
  observer?: DetectorObserver;
}

interface StreamState extends StreamQueue {
  stream: StreamDescriptor;
  principalKey: string;
  ended: StreamEndReason | null;
  badWindowLogged: boolean;
}

export interface DetectorStats {
  /** Windows media handed in. */
  windowsIn: number;
  scored: number;
  shed: number;
  queued: number;
  inFlight: number;
  streams: number;
}

export class Detector implements WindowSink {
  readonly #opts: DetectorOptions;
  /** What every inference worker of this detector starts with: the first, a restart, a swap. */
  readonly #engineOptions: EngineOptions;
  readonly #out: SinkDelivery;
  readonly #log: Logger;
  readonly #batcher: MicroBatcher;
  readonly #streams = new Map<string, StreamState>();
  /** Queued windows per principal (StreamDescriptor.principal, else the call), shared by its streams. */
  readonly #principals = new Map<string, PrincipalQueue & { streams: number }>();
  #engine: InferenceEngine;
  #restarting: Promise<InferenceEngine> | null = null;
  /** Engines being let go (after a swap or a timeout): close() waits for their workers to exit. */
  readonly #retiring = new Set<Promise<void>>();
  #swapping: Promise<void> = Promise.resolve();
  #closed: Promise<void> | null = null;
  #windowsIn = 0;
  #scored = 0;
  #shed = 0;

  private constructor(opts: DetectorOptions, engine: InferenceEngine) {
    this.#opts = opts;
    this.#engineOptions = engineOptions(opts);
    this.#out = new SinkDelivery(opts.sink, opts.observer, opts.log);
    this.#log = opts.log;
    this.#engine = engine;
    const d = opts.detect;
    this.#batcher = new MicroBatcher({
      windowLength: engine.card.input.shape[1],
      maxBatchSize: d.maxBatchSize,
      maxBatchWaitMs: d.maxBatchWaitMs,
      maxQueueDelayMs: d.maxQueueDelayMs,
      maxQueuedBatches: d.maxQueuedBatches,
      now: nowMs,
      run: (buffer, rows) => this.#run(buffer, rows),
      onScored: (w, score, b, row) => this.#emitScore(w, score, b, row),
      onBatch: (b) => this.#out.batch(b),
      onShed: (w, reason, waitMs) => this.#emitShed(w, reason, waitMs),
      onBatchError: (err, rows) => {
        this.#log.error({ err, modelVersion: err.modelVersion, rows }, 'inference failed: batch reported as shed');
        this.#out.inferenceError(err);
      },
    });
  }

  /** Loads and verifies the model (ModelLoadError on any refusal) and starts the inference worker. */
  static async create(opts: DetectorOptions): Promise<Detector> {
    const engine = await InferenceEngine.start(opts.modelDir, engineOptions(opts));
    if (Math.abs(engine.card.input.windowSec - opts.windowSec) > 1e-9) {
      await engine.close();
      throw new ModelLoadError(
        'card_mismatch',
        engine.modelDir,
        `the model scores ${engine.card.input.windowSec}-s windows (card input.windowSec) but config window.lengthSec is ${opts.windowSec}`,
        { field: 'input.windowSec' },
      );
    }
    const d = new Detector(opts, engine);
    d.#announce(engine);
    return d;
  }

  /** The card of the model scoring now. card.input.sampleRate is the media output rate. */
  get card(): Readonly<ModelCard> {
    return this.#engine.card;
  }

  get modelVersion(): string {
    return this.#engine.modelVersion;
  }

  get executionProvider(): string {
    return this.#engine.executionProvider;
  }

  /** Running totals since create (also reported per event through the sink). */
  get stats(): DetectorStats {
    return {
      windowsIn: this.#windowsIn,
      scored: this.#scored,
      shed: this.#shed,
      queued: this.#batcher.queued,
      inFlight: this.#batcher.inFlight,
      streams: this.#streams.size,
    };
  }

  #announce(engine: InferenceEngine): void {
    const info = {
      name: engine.card.name,
      version: engine.card.version,
      band: cardBand(engine.card),
      executionProvider: engine.executionProvider,
      dir: engine.modelDir,
    };
    this.#log.info({ model: info.name, modelVersion: info.version, band: info.band, executionProvider: info.executionProvider, modelDir: info.dir }, 'detector model active');
    this.#out.modelLoaded(info);
  }

  #state(stream: StreamDescriptor): StreamState {
    let s = this.#streams.get(stream.streamId);
    if (!s) {
      // Who sent the audio shares the detector fairly with the others (overload sheds the principal
      // holding most windows first); a stream without one is its call's.
      const principalKey = stream.principal ?? `call:${stream.callId}`;
      let p = this.#principals.get(principalKey);
      if (!p) {
        p = { queued: 0, streams: 0 };
        this.#principals.set(principalKey, p);
      }
      p.streams++;
      s = { stream, principalKey, principal: p, queued: 0, ended: null, badWindowLogged: false };
      this.#streams.set(stream.streamId, s);
    }
    return s;
  }

  onStreamStart(stream: StreamDescriptor): void {
    const s = this.#state(stream);
    s.ended = null;
    this.#out.streamStart(stream);
  }

  onWindow(w: WindowView): void {
    this.#windowsIn++;
    const s = this.#state(w.stream);
    const card = this.#engine.card;
    if (w.length !== card.input.shape[1] || w.sampleRate !== card.input.sampleRate) {
      if (!s.badWindowLogged) {
        s.badWindowLogged = true;
        this.#log.error(
          { streamId: w.stream.streamId, callId: w.stream.callId, length: w.length, sampleRate: w.sampleRate, expectedLength: card.input.shape[1], expectedSampleRate: card.input.sampleRate },
          'window does not match the model input: shed (media output rate / window length misconfigured)',
        );
      }
      this.#shed++;
      this.#out.shed(w.stream, w.seq, 'invalid_window', 0);
      return;
    }
    this.#batcher.push(w, s);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    const s = this.#streams.get(stream.streamId);
    if (!s) {
      this.#out.drained(stream, reason);
      return;
    }
    s.ended = reason;
    this.#maybeDrained(s);
  }

  #maybeDrained(s: StreamState): void {
    if (s.ended === null || s.queued > 0) return;
    this.#streams.delete(s.stream.streamId);
    const p = this.#principals.get(s.principalKey);
    if (p && --p.streams <= 0) this.#principals.delete(s.principalKey);
    this.#out.drained(s.stream, s.ended);
  }

  #emitScore(w: QueuedWindow, score: number, b: BatchInfo, row: number): void {
    this.#scored++;
    // A fresh object per window: consumers (verdicts, publisher buffers) may keep it.
    const ws: WindowScore = {
      stream: w.stream,
      seq: w.seq,
      score,
      speechRatio: w.speechRatio,
      rmsDbfs: w.rmsDbfs,
      lostRatio: w.lostRatio,
      mediaStartSec: w.mediaStartSec,
      mediaEndSec: w.mediaEndSec,
      arrivalMs: w.arrivalMs,
      readyMs: w.readyMs,
      scoredMs: b.scoredMs,
      batchSize: b.size,
      modelVersion: b.modelVersion,
    };
    // A view into the batch's own embedding array (fresh per batch): no copy per window.
    if (b.embeddings) ws.embedding = b.embeddings.subarray(row * b.embeddingDim, (row + 1) * b.embeddingDim);
    this.#out.score(ws);
    this.#maybeDrained(w.owner as StreamState);
  }

  #emitShed(w: QueuedWindow, reason: ShedReason, waitMs: number): void {
    this.#shed++;
    if (reason !== 'inference_error') {
      this.#log.debug({ streamId: w.stream.streamId, seq: w.seq, reason, waitMs }, 'window shed');
    }
    this.#out.shed(w.stream, w.seq, reason, waitMs);
    this.#maybeDrained(w.owner as StreamState);
  }

  /** The batcher's inference: whatever engine is current when the batch launches scores it. */
  async #run(buffer: ArrayBuffer, rows: number): Promise<RunOutcome> {
    let engine = this.#engine;
    if (engine.dead) {
      try {
        engine = await this.#restart(engine);
      } catch (err) {
        const error = new InferenceError(engine.modelVersion, rows, { cause: err });
        return { ok: false, error, buffer, modelVersion: engine.modelVersion };
      }
    }
    const out = await engine.run(buffer, rows);
    return { ...out, modelVersion: engine.modelVersion };
  }

  #restart(dead: InferenceEngine): Promise<InferenceEngine> {
    this.#restarting ??= (async () => {
      this.#log.warn({ modelDir: dead.modelDir, modelVersion: dead.modelVersion }, 'restarting inference worker');
      try {
        const engine = await InferenceEngine.start(dead.modelDir, this.#engineOptions);
        if (this.#engine === dead) this.#engine = engine;
        else await engine.close(); // a swap happened meanwhile
        this.#retire(dead);
        return this.#engine;
      } finally {
        this.#restarting = null;
      }
    })();
    return this.#restarting;
  }

  #retire(engine: InferenceEngine): void {
    const p = engine.close().finally(() => this.#retiring.delete(p));
    this.#retiring.add(p);
  }

  /**
   * Loads and verifies another model version, then makes it score every batch launched from now
   * on; the batch in flight finishes on the old version, which is then released. No window is
   * dropped. The new card must keep the input contract (sample rate, window length).
   * On ModelLoadError the current model stays active. Swaps are serialised.
   */
  swapModel(dir: string): Promise<void> {
    const p = this.#swapping.then(() => this.#swap(dir));
    this.#swapping = p.catch(() => undefined);
    return p;
  }

  async #swap(dir: string): Promise<void> {
    if (this.#closed) throw new DetectorClosedError();
    const next = await InferenceEngine.start(dir, this.#engineOptions);
    const cur = this.#engine.card;
    if (next.card.input.sampleRate !== cur.input.sampleRate || next.card.input.shape[1] !== cur.input.shape[1]) {
      await next.close();
      throw new ModelLoadError(
        'card_mismatch',
        next.modelDir,
        `cannot swap: input ${next.card.input.sampleRate} Hz × ${next.card.input.shape[1]} samples differs from the running model's ${cur.input.sampleRate} Hz × ${cur.input.shape[1]}`,
        { field: 'input' },
      );
    }
    if (Math.abs(next.card.input.windowSec - this.#opts.windowSec) > 1e-9) {
      await next.close();
      throw new ModelLoadError(
        'card_mismatch',
        next.modelDir,
        `cannot swap: the model scores ${next.card.input.windowSec}-s windows (card input.windowSec) but config window.lengthSec is ${this.#opts.windowSec}`,
        { field: 'input.windowSec' },
      );
    }
    if (next.card.version === cur.version && (next.card.sha256 !== cur.sha256 || !sameThresholds(next.card, cur))) {
      // Scores, events and the verdict engine tell models apart by version.
      await next.close();
      throw new ModelLoadError(
        'card_mismatch',
        next.modelDir,
        `cannot swap: a different model (sha256 or thresholds) under the running version ${JSON.stringify(cur.version)}; give it a new version`,
        { field: 'version' },
      );
    }
    if (this.#closed) {
      await next.close();
      throw new DetectorClosedError();
    }
    const old = this.#engine;
    this.#engine = next;
    this.#log.info({ from: old.modelVersion, to: next.modelVersion, modelDir: next.modelDir }, 'model swapped');
    this.#announce(next);
    this.#retire(old); // closes after its batch in flight, if any
    await Promise.all(this.#retiring);
  }

  /** Scores everything queued now without waiting for maxBatchWaitMs; resolves when idle. */
  flush(): Promise<void> {
    return this.#batcher.flush();
  }

  /** The batcher can take a window now without shedding one. */
  get hasRoom(): boolean {
    return this.#batcher.hasRoom;
  }

  /** Resolves when the batcher can take a window without shedding (offline feeders: analyze, eval, bench). */
  whenRoom(): Promise<void> {
    return this.#batcher.whenRoom();
  }

  /** Scores what is queued, ends the worker. Idempotent; windows pushed afterwards are shed as `closed`. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#swapping;
      await this.#batcher.close();
      await this.#restarting?.catch(() => undefined);
      await this.#engine.close();
      await Promise.all(this.#retiring);
    })();
    return this.#closed;
  }
}

/** The inference engine's options from the detector's: built once per detector. */
function engineOptions(o: DetectorOptions): EngineOptions {
  return {
    executionProviders: o.detect.executionProviders,
    intraOpThreads: o.detect.intraOpThreads,
    inferenceTimeoutMs: o.detect.inferenceTimeoutMs,
    log: o.log,
    embeddings: o.embeddings ?? false,
  };
}
