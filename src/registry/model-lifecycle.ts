/**
 * The edge side of the model lifecycle, started by server.ts when NATS is configured:
 *
 *   registry (KV serving.<channel>) ──watch──▶ ModelWatcher ──pull/verify──▶ DetectorSet.swapModel
 *   registry.shadow  NAME@VERSION ──pull──▶ shadow Detector ◀── WindowTee (sampled windows) ◀── media
 *                                                   └──▶ ShadowComparer ──▶ <prefix>.shadow.<callToken>
 *   registry.canary  NAME@VERSION ──pull──▶ DetectorSet.startCanary (a share of new streams)
 *   features.export ──▶ FeatureExporter (a ScoreSink) ──▶ <featuresPrefix>.<callToken> (own stream)
 *
 * Its own NATS connection (the event publisher's buffering and reconnect policy stay its own).
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { cardBand } from '../detect/band.js';
import { Detector } from '../detect/detector.js';
import type { DetectorSet } from '../detect/detector-set.js';
import type { ScoreFanOut } from '../detect/score-fan-out.js';
import { WindowTee } from '../detect/window-tee.js';
import type { WindowSink } from '../media/types.js';
import type { Logger } from '../logger.js';
import type { LifecycleObservers } from '../observability/registry-metrics.js';
import { ensureFeatureStream, FeatureExporter, featuresPrefix } from '../verdicts/feature-exporter.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { ShadowComparer } from '../verdicts/shadow-comparer.js';
import { ModelRegistry, parseRef, type Channel } from './registry.js';
import { ModelWatcher } from './model-watcher.js';

export interface ModelLifecycleOptions {
  config: Readonly<Config>;
  detector: DetectorSet;
  scores: ScoreFanOut;
  /** Swaps a channel's model (DevoxServer.swapModel: counted in devox_model_swaps_total). */
  swap(dir: string): Promise<void>;
  log: Logger;
  observers: LifecycleObservers;
}

export class ModelLifecycle {
  /** What media feeds: the detector set, or a tee that also feeds the shadow candidate. */
  readonly windowSink: WindowSink;
  readonly watcher: ModelWatcher | undefined;
  /** Undefined when nothing asks for it (registry.watch off, no shadow or canary version). */
  readonly registry: ModelRegistry | undefined;
  readonly #nc: NatsConnection;
  readonly #shadow: Detector | undefined;

  private constructor(parts: { nc: NatsConnection; registry: ModelRegistry | undefined; watcher: ModelWatcher | undefined; windowSink: WindowSink; shadow: Detector | undefined }) {
    this.#nc = parts.nc;
    this.registry = parts.registry;
    this.watcher = parts.watcher;
    this.windowSink = parts.windowSink;
    this.#shadow = parts.shadow;
  }

  static cacheDir(config: Readonly<Config>): string {
    return resolve(config.registry.cacheDir || join(tmpdir(), 'devox-model-cache'));
  }

  /** Connects, opens the registry, starts what the config asks; the first registry check is done when it resolves. */
  static async start(o: ModelLifecycleOptions): Promise<ModelLifecycle> {
    const { config, detector, log } = o;
    const nc = await connectNats(config.nats);
    try {
      // Opened only when something needs it: an edge allowed only its events (no registry watch,
      // shadow or canary) must not need the registry's permissions.
      const needsRegistry = config.registry.watch || config.registry.shadow.version !== '' || config.registry.canary.version !== '';
      const registry = needsRegistry
        ? await ModelRegistry.open(nc, {
            objectBucket: config.registry.objectBucket,
            kvBucket: config.registry.kvBucket,
            subjectPrefix: config.nats.subjectPrefix,
            log,
          })
        : undefined;
      const cacheDir = ModelLifecycle.cacheDir(config);
      if (config.features.export) {
        await ensureFeatureStream(nc, config, log);
        o.scores.add(new FeatureExporter(nc, config, o.observers.features));
        log.info({ subjects: `${featuresPrefix(config)}.>`, stream: config.features.stream }, 'exporting speech-window embeddings (features, never audio)');
      }
      let windowSink: WindowSink = detector;
      let shadow: Detector | undefined;
      if (config.registry.shadow.version) {
        const { name, version } = parseRef(config.registry.shadow.version);
        const dir = await registry!.pull(name, version, resolve(cacheDir, name, version));
        const cards = new Map<string, number>();
        const comparer = new ShadowComparer({
          nc,
          subjectPrefix: config.nats.subjectPrefix,
          share: config.registry.shadow.share,
          eerOf: (v) => cards.get(v) ?? detector.cardOfVersion(v)?.thresholds.eer,
          observer: o.observers.shadow,
        });
        shadow = await Detector.create({
          detect: config.detect,
          modelDir: dir,
          windowSec: config.window.lengthSec,
          log: log.child({ component: 'shadow' }),
          sink: comparer.candidate,
        });
        cards.set(shadow.card.version, shadow.card.thresholds.eer);
        o.scores.add(comparer.serving);
        windowSink = new WindowTee(detector, shadow, cardBand(shadow.card), config.registry.shadow.share);
        log.info({ candidate: `${name}@${version}`, band: cardBand(shadow.card), share: config.registry.shadow.share }, 'shadow scoring: candidate scores sampled windows, never verdicts');
      }
      if (config.registry.canary.version && config.registry.canary.share > 0) {
        const { name, version } = parseRef(config.registry.canary.version);
        const dir = await registry!.pull(name, version, resolve(cacheDir, name, version));
        const card = await detector.startCanary(dir, config.registry.canary.share);
        log.info({ candidate: `${name}@${version}`, band: cardBand(card), share: config.registry.canary.share }, 'canary: candidate judges a share of new streams');
      }
      let watcher: ModelWatcher | undefined;
      if (config.registry.watch && registry) {
        const channels: Channel[] = detector.models.map((m) => m.band);
        watcher = new ModelWatcher({
          registry,
          nc,
          channels,
          cacheDir,
          pollMs: config.registry.pollSec * 1000,
          current: (c) => detector.cardFor(c),
          swap: (_channel, dir) => o.swap(dir),
          log: log.child({ component: 'registry' }),
          observer: o.observers.watcher,
        });
        watcher.start();
        await watcher.check();
      }
      return new ModelLifecycle({ nc, registry, watcher, windowSink, shadow });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    await this.#shadow?.close();
    await this.#nc.drain().catch(() => undefined);
  }
}
