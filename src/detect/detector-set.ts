/**
 * Channel-aware scoring: one Detector per band, each stream routed to the model of its band.
 *
 *   window (inputRate) ──▶ bandOf ──▶ narrowband Detector (G.711, 8 kHz L16: nothing above 4 kHz)
 *                                 └─▶ wideband Detector   (Opus, 16 kHz and up) = the primary model
 *
 * A G.711 call carries nothing above 4 kHz; a model that learned wideband cues sees only their
 * absence there. The narrowband model's front-end reads the telephone band only and is trained
 * through the telephone channel; the wideband model serves Opus / 16 kHz streams. The primary
 * model (config detect.modelDir) serves every stream whose band has no model of its own, so one
 * model for both bands stays a valid configuration.
 *
 * The band of a stream is fixed at its first window (the rate its audio arrived at, before media
 * resampled it to the models' common input rate). Each band's Detector has its own worker and
 * batcher: a batch is never mixed across models.
 *
 * The set is the WindowSink media is given: media's onStreamStart goes straight on to the
 * ScoreSink (the band is not known yet), scores and drains come from the stream's Detector.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../media/types.js';
import { bandOf, cardBand, type Band } from './band.js';
import { Detector, type DetectorObserver, type DetectorOptions, type DetectorStats } from './detector.js';
import { ModelLoadError } from './errors.js';
import type { ModelCard, ScoreSink, ServingModels } from './types.js';

export { bandOf, cardBand, type Band } from './band.js';

export interface DetectorSetOptions extends Omit<DetectorOptions, 'modelDir' | 'observer'> {
  /** The primary model: serves its own band and every band without a model of its own. */
  modelDir: string;
  /** Optional model for narrowband streams (its card must say band: narrowband). */
  narrowbandModelDir?: string;
  observer?: DetectorSetObserver;
}

/** DetectorObserver for each band's Detector, plus where streams go. All methods optional. */
export interface DetectorSetObserver extends DetectorObserver {
  /** A stream's first window routed it to its band's model (once per stream). */
  streamRouted?(stream: StreamDescriptor, band: Band): void;
  /** Media handed the models a window (each one ends scored or shed: the windows' accounting). */
  windowReceived?(): void;
}

interface Routed {
  detector: Detector;
  band: Band;
}

export class DetectorSet implements WindowSink, ServingModels {
  readonly #primary: Detector;
  readonly #narrow: Detector | null;
  readonly #sink: ScoreSink;
  readonly #observer: DetectorSetObserver | undefined;
  readonly #log: DetectorSetOptions['log'];
  /** What each band's Detector was created with (a canary Detector is created the same way). */
  readonly #detectorOptions: DetectorOptions;
  /** Candidates judging a share of the new streams of their band (registry canary), one per band at most. */
  readonly #canaries = new Map<Band, { detector: Detector; share: number }>();
  /** Canaries replaced or stopped whose streams still run: they judge those to the end, then close. */
  readonly #retired = new Set<Detector>();
  /** Streams routed to a detector (at their first window; before it, no detector knows them). */
  readonly #routed = new Map<string, Routed>();

  private constructor(primary: Detector, narrow: Detector | null, opts: DetectorSetOptions, detectorOptions: DetectorOptions) {
    this.#detectorOptions = detectorOptions;
    this.#primary = primary;
    this.#narrow = narrow;
    this.#sink = opts.sink;
    this.#observer = opts.observer;
    this.#log = opts.log;
  }

  static async create(opts: DetectorSetOptions): Promise<DetectorSet> {
    const { narrowbandModelDir, sink, ...common } = opts;
    // The set starts streams on the sink itself (at media's start, before any band is known);
    // its Detectors only score, shed and drain.
    const rest = { ...common, sink: scoresOnly(sink) };
    const primary = await Detector.create(rest);
    if (!narrowbandModelDir) return new DetectorSet(primary, null, opts, rest);
    let narrow: Detector;
    try {
      narrow = await Detector.create({ ...rest, modelDir: narrowbandModelDir });
    } catch (err) {
      await primary.close();
      throw err;
    }
    const a = primary.card;
    const b = narrow.card;
    const problem =
      cardBand(b) !== 'narrowband'
        ? `its card serves band ${JSON.stringify(b.band ?? 'wideband')}, not narrowband`
        : a.input.sampleRate !== b.input.sampleRate || a.input.shape[1] !== b.input.shape[1]
          ? `its input ${b.input.sampleRate} Hz × ${b.input.shape[1]} differs from the primary model's ${a.input.sampleRate} Hz × ${a.input.shape[1]} (media cuts one window format)`
          : a.version === b.version
            ? `its version ${JSON.stringify(b.version)} is the primary model's too: scores and events tell models apart by version`
            : null;
    if (problem) {
      await Promise.all([primary.close(), narrow.close()]);
      throw new ModelLoadError('card_mismatch', narrowbandModelDir, `detect.narrowbandModelDir: ${problem}`, { field: 'band' });
    }
    return new DetectorSet(primary, narrow, opts, rest);
  }

  /** The primary model's card (its input contract is every model's). */
  get card(): Readonly<ModelCard> {
    return this.#primary.card;
  }

  get modelVersion(): string {
    return this.#primary.modelVersion;
  }

  get executionProvider(): string {
    return this.#primary.executionProvider;
  }

  /** The card of the model that serves `band` now. */
  cardFor(band: Band): Readonly<ModelCard> {
    return this.#detectorFor(band).card;
  }

  /** The card of a model serving now, by version (a score names the version that made it). */
  cardOfVersion(version: string): Readonly<ModelCard> | undefined {
    if (this.#primary.modelVersion === version) return this.#primary.card;
    if (this.#narrow?.modelVersion === version) return this.#narrow.card;
    for (const c of this.#canaries.values()) if (c.detector.modelVersion === version) return c.detector.card;
    for (const d of this.#retired) if (d.modelVersion === version) return d.card;
    return undefined;
  }

  /** The models serving now, one per band that has its own. */
  get models(): { band: Band; card: Readonly<ModelCard> }[] {
    const out: { band: Band; card: Readonly<ModelCard> }[] = [{ band: cardBand(this.#primary.card), card: this.#primary.card }];
    if (this.#narrow) out.push({ band: 'narrowband', card: this.#narrow.card });
    return out;
  }

  get stats(): DetectorStats {
    const a = this.#primary.stats;
    const b = [...this.#canaries.values()].map((c) => c.detector).concat([...this.#retired]).reduce((acc, d) => sumStats(acc, d.stats), this.#narrow?.stats);
    if (!b) return a;
    return {
      windowsIn: a.windowsIn + b.windowsIn,
      scored: a.scored + b.scored,
      shed: a.shed + b.shed,
      queued: a.queued + b.queued,
      inFlight: a.inFlight + b.inFlight,
      streams: a.streams + b.streams,
    };
  }

  #detectorFor(band: Band): Detector {
    return band === 'narrowband' && this.#narrow ? this.#narrow : this.#primary;
  }

  onStreamStart(stream: StreamDescriptor): void {
    try {
      this.#sink.onStreamStart?.(stream);
    } catch (err) {
      this.#log.error({ err, callback: 'onStreamStart' }, 'detector callback threw; continuing');
    }
    // The band is known at the first window, which starts the stream on its detector (onWindow).
    this.#routed.get(stream.streamId)?.detector.onStreamStart(stream);
  }

  onWindow(w: WindowView): void {
    try {
      this.#observer?.windowReceived?.();
    } catch (err) {
      this.#log.error({ err, callback: 'observer.windowReceived' }, 'detector callback threw; continuing');
    }
    let r = this.#routed.get(w.stream.streamId);
    if (!r) {
      const band = bandOf(w.inputRate);
      const c = this.#canaries.get(band);
      // A canary judges a share of the NEW streams of its band; a stream stays with its detector to the end.
      const detector = c && Math.random() < c.share ? c.detector : this.#detectorFor(band);
      r = { detector, band };
      this.#routed.set(w.stream.streamId, r);
      r.detector.onStreamStart(w.stream);
      try {
        this.#observer?.streamRouted?.(w.stream, band);
      } catch (err) {
        this.#log.error({ err, callback: 'observer.streamRouted' }, 'detector callback threw; continuing');
      }
    }
    r.detector.onWindow(w);
  }

  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    const r = this.#routed.get(stream.streamId);
    this.#routed.delete(stream.streamId);
    // A stream that never sent a window is unknown to every detector: the primary reports it drained.
    (r?.detector ?? this.#primary).onStreamEnd(stream, reason);
    if (r && this.#retired.has(r.detector)) this.#closeIfIdle(r.detector);
  }

  /**
   * Swaps the model of the band the new card declares (the primary one when no narrowband model
   * is configured and the card is wideband, or when it is the primary's band).
   */
  async swapModel(dir: string): Promise<void> {
    const band = readBand(dir);
    if (band === 'narrowband' && this.#narrow) return this.#narrow.swapModel(dir);
    if (band === cardBand(this.#primary.card) || !this.#narrow) return this.#primary.swapModel(dir);
    throw new ModelLoadError('card_mismatch', dir, `cannot swap: the card serves ${band} but the primary model serves ${cardBand(this.#primary.card)}`, { field: 'band' });
  }

  /**
   * Starts a canary: the model in `dir` (same input contract, its card's band) judges `share`
   * of the new streams of that band, through the same sink as the serving models (its scores
   * carry its version; the verdict engine reads its thresholds through cardOfVersion). A canary
   * already on that band is replaced only once the new one has loaded and passed the checks (a
   * refused one leaves it running); the streams it judges stay with it to their end.
   */
  async startCanary(dir: string, share: number, expectBand?: Band): Promise<Readonly<ModelCard>> {
    const d = await Detector.create({ ...this.#detectorOptions, modelDir: dir });
    const band = cardBand(d.card);
    const serving = this.#detectorFor(band).card;
    const problem =
      expectBand !== undefined && band !== expectBand
        ? `its card serves ${band}, not ${expectBand}`
        : d.card.input.sampleRate !== serving.input.sampleRate || d.card.input.shape[1] !== serving.input.shape[1]
        ? `its input ${d.card.input.sampleRate} Hz × ${d.card.input.shape[1]} differs from the serving model's`
        : d.card.version === this.#primary.modelVersion || d.card.version === this.#narrow?.modelVersion
          ? `its version ${JSON.stringify(d.card.version)} is serving already`
          : [...this.#retired].some((r) => r.modelVersion === d.card.version)
            ? `its version ${JSON.stringify(d.card.version)} is still judging streams of a stopped canary`
            : null;
    if (problem) {
      await d.close();
      throw new ModelLoadError('card_mismatch', dir, `canary refused: ${problem}`, { field: 'version' });
    }
    const old = this.#canaries.get(band);
    this.#canaries.set(band, { detector: d, share });
    if (old) this.#retire(old.detector);
    return d.card;
  }

  /** The canary of a band now (its card and share), if any. */
  canaryOf(band: Band): { card: Readonly<ModelCard>; share: number } | undefined {
    const c = this.#canaries.get(band);
    return c ? { card: c.detector.card, share: c.share } : undefined;
  }

  /** Changes the share of new streams a running canary judges (no-op without one). */
  setCanaryShare(band: Band, share: number): void {
    const c = this.#canaries.get(band);
    if (c) c.share = share;
  }

  /** No new streams go to the band's canary; the ones it judges finish with it, then it closes. */
  stopCanary(band: Band): void {
    const c = this.#canaries.get(band);
    if (!c) return;
    this.#canaries.delete(band);
    this.#retire(c.detector);
  }

  #retire(d: Detector): void {
    this.#retired.add(d);
    this.#closeIfIdle(d);
  }

  /** A retired canary with no routed stream left: scores what it holds and closes. */
  #closeIfIdle(d: Detector): void {
    for (const r of this.#routed.values()) if (r.detector === d) return;
    void d.close().finally(() => this.#retired.delete(d));
  }

  async flush(): Promise<void> {
    await Promise.all([this.#primary.flush(), this.#narrow?.flush(), ...this.#extra().map((d) => d.flush())]);
  }

  get hasRoom(): boolean {
    return this.#primary.hasRoom && (this.#narrow?.hasRoom ?? true);
  }

  async whenRoom(): Promise<void> {
    await Promise.all([this.#primary.whenRoom(), this.#narrow?.whenRoom()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#primary.close(), this.#narrow?.close(), ...this.#extra().map((d) => d.close())]);
  }

  /** Canary detectors, running and retired. */
  #extra(): Detector[] {
    return [...[...this.#canaries.values()].map((c) => c.detector), ...this.#retired];
  }
}

function sumStats(a: DetectorStats | undefined, b: DetectorStats | undefined): DetectorStats | undefined {
  if (!a || !b) return a ?? b;
  return {
    windowsIn: a.windowsIn + b.windowsIn,
    scored: a.scored + b.scored,
    shed: a.shed + b.shed,
    queued: a.queued + b.queued,
    inFlight: a.inFlight + b.inFlight,
    streams: a.streams + b.streams,
  };
}

/** The sink without onStreamStart (bound once, not per call). */
function scoresOnly(sink: ScoreSink): ScoreSink {
  return {
    onScore: (s) => sink.onScore(s),
    ...(sink.onShed ? { onShed: (stream: StreamDescriptor, seq: number) => sink.onShed!(stream, seq) } : {}),
    ...(sink.onStreamDrained ? { onStreamDrained: (stream: StreamDescriptor, reason: StreamEndReason) => sink.onStreamDrained!(stream, reason) } : {}),
  };
}

/** The band a model directory's card declares (the swap target); unreadable cards are left to Detector to refuse. */
function readBand(dir: string): Band {
  try {
    const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')) as ModelCard;
    return cardBand(card);
  } catch {
    return 'wideband';
  }
}
