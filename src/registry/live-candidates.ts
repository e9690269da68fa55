/**
 * The candidates a serving node runs beside its serving models, switched live (no restart):
 *
 *   shadow, per band: a Detector fed a sampled share of the band's windows by the WindowTee; its
 *     scores are paired with the serving model's by a ShadowComparer (<prefix>.shadow.*), never
 *     judged. Starting one replaces the band's previous shadow once the new one has loaded.
 *   canary, per band: DetectorSet.startCanary: a share of the band's NEW streams is judged by the
 *     candidate; streams it already judges stay with it to their end, also after a stop.
 *
 * start() loads and checks the candidate first (the runtime's own validation: sha256, ONNX
 * contract, head.json; then the input contract and band against the serving model): a refused
 * candidate throws ModelLoadError and leaves whatever ran before running.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { cardBand, type Band } from '../detect/band.js';
import { Detector } from '../detect/detector.js';
import type { DetectorSet } from '../detect/detector-set.js';
import { ModelLoadError } from '../detect/errors.js';
import type { ModelCard, ScoreSink } from '../detect/types.js';
import type { WindowTee } from '../detect/window-tee.js';
import type { Logger } from '../logger.js';
import type { StreamDescriptor } from '../media/types.js';
import { ShadowComparer, type ShadowObserver } from '../verdicts/shadow-comparer.js';
import type { CandidateKind } from './candidates.js';

/** What runs for a (kind, band) now. */
export interface RunningCandidate {
  name: string;
  version: string;
  sha256: string;
  share: number;
}

export interface LiveCandidatesOptions {
  config: Readonly<Config>;
  detector: DetectorSet;
  tee: WindowTee;
  nc: NatsConnection;
  log: Logger;
  shadowObserver?: ShadowObserver;
}

interface Shadow {
  detector: Detector;
  comparer: ShadowComparer;
  share: number;
}

export class LiveCandidates {
  readonly #o: LiveCandidatesOptions;
  readonly #shadows = new Map<Band, Shadow>();
  /** Added once to the serving ScoreFanOut: hands serving scores to the shadows' comparers. */
  readonly servingTap: ScoreSink;

  constructor(o: LiveCandidatesOptions) {
    this.#o = o;
    this.servingTap = {
      onScore: (s) => {
        for (const sh of this.#shadows.values()) sh.comparer.serving.onScore(s);
      },
      onStreamDrained: (stream, reason) => {
        for (const sh of this.#shadows.values()) sh.comparer.serving.onStreamDrained?.(stream, reason);
      },
    };
  }

  current(kind: CandidateKind, band: Band): RunningCandidate | undefined {
    if (kind === 'shadow') {
      const s = this.#shadows.get(band);
      return s ? { name: s.detector.card.name, version: s.detector.card.version, sha256: s.detector.card.sha256, share: s.share } : undefined;
    }
    const c = this.#o.detector.canaryOf(band);
    return c ? { name: c.card.name, version: c.card.version, sha256: c.card.sha256, share: c.share } : undefined;
  }

  /** Loads the candidate in `dir` for `band` and puts it in place of the band's current one; ModelLoadError on refusal. */
  async start(kind: CandidateKind, band: Band, dir: string, share: number): Promise<Readonly<ModelCard>> {
    return kind === 'shadow' ? this.#startShadow(band, dir, share) : this.#startCanary(band, dir, share);
  }

  /** Whether a model of this version runs on this node (serving, canary, retiring canary or shadow). */
  inUse(version: string): boolean {
    if (this.#o.detector.cardOfVersion(version)) return true;
    for (const s of this.#shadows.values()) if (s.detector.modelVersion === version) return true;
    return false;
  }

  setShare(kind: CandidateKind, band: Band, share: number): void {
    if (kind === 'canary') return this.#o.detector.setCanaryShare(band, share);
    const s = this.#shadows.get(band);
    if (!s) return;
    s.share = share;
    // The comparer first: it then keeps the serving half of every window the tee may now sample.
    s.comparer.setShare(share);
    this.#o.tee.setShare(band, share);
  }

  async stop(kind: CandidateKind, band: Band): Promise<void> {
    if (kind === 'canary') return this.#o.detector.stopCanary(band);
    await this.#stopShadow(band);
  }

  async #startCanary(band: Band, dir: string, share: number): Promise<Readonly<ModelCard>> {
    const card = await this.#o.detector.startCanary(dir, share, band);
    this.#o.log.info({ candidate: `${card.name}@${card.version}`, band, share }, 'canary: candidate judges a share of new streams');
    return card;
  }

  async #startShadow(band: Band, dir: string, share: number): Promise<Readonly<ModelCard>> {
    const { config, detector, log } = this.#o;
    let version = '';
    const comparer = new ShadowComparer({
      nc: this.#o.nc,
      subjectPrefix: config.nats.subjectPrefix,
      share,
      eerOf: (v) => (v === version ? shadow.card.thresholds.eer : detector.cardOfVersion(v)?.thresholds.eer),
      ...(this.#o.shadowObserver ? { observer: this.#o.shadowObserver } : {}),
    });
    const shadow = await Detector.create({ detect: config.detect, modelDir: dir, windowSec: config.window.lengthSec, log: log.child({ component: 'shadow' }), sink: comparer.candidate });
    version = shadow.card.version;
    const serving = detector.cardFor(band);
    const problem =
      cardBand(shadow.card) !== band
        ? `its card serves ${cardBand(shadow.card)}, not ${band}`
        : shadow.card.input.sampleRate !== serving.input.sampleRate || shadow.card.input.shape[1] !== serving.input.shape[1]
          ? `its input ${shadow.card.input.sampleRate} Hz × ${shadow.card.input.shape[1]} differs from the serving model's ${serving.input.sampleRate} Hz × ${serving.input.shape[1]}`
          : shadow.card.version === serving.version
            ? `its version ${JSON.stringify(version)} is the one serving ${band}`
            : null;
    if (problem) {
      await shadow.close();
      throw new ModelLoadError('card_mismatch', dir, `shadow refused: ${problem}`, { field: 'version' });
    }
    const old = this.#shadows.get(band);
    this.#shadows.set(band, { detector: shadow, comparer, share });
    const replaced = this.#o.tee.attach(band, { sink: shadow, share });
    log.info({ candidate: `${shadow.card.name}@${version}`, band, share, replaced: old?.detector.modelVersion ?? null }, 'shadow scoring: candidate scores sampled windows, never verdicts');
    if (old && replaced) await retire(old.detector, replaced.started);
    return shadow.card;
  }

  async #stopShadow(band: Band): Promise<void> {
    const s = this.#shadows.get(band);
    if (!s) return;
    this.#shadows.delete(band);
    const detached = this.#o.tee.detach(band);
    this.#o.log.info({ candidate: s.detector.modelVersion, band }, 'shadow scoring stopped');
    await retire(s.detector, detached?.started ?? []);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#shadows.keys()].map((b) => this.#stopShadow(b)));
  }
}

/** Ends the streams a detached shadow was scoring (it drains them) and closes it. */
async function retire(d: Detector, started: readonly StreamDescriptor[]): Promise<void> {
  for (const stream of started) d.onStreamEnd(stream, 'shutdown');
  await d.close();
}
