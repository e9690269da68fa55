/**
 * The edge side of the model lifecycle, started by server.ts when NATS is configured:
 *
 *   registry (KV serving.<channel>) ──watch──▶ ModelWatcher ──pull/verify──▶ DetectorSet.swapModel
 *   registry (KV shadow.<channel>, canary.<channel>; config defaults) ──watch──▶ CandidateWatcher
 *        ──pull/verify──▶ LiveCandidates ─┬─ shadow Detector ◀── WindowTee (sampled windows) ◀── media
 *                                         │        └──▶ ShadowComparer ──▶ <prefix>.shadow.<callToken>
 *                                         └─ DetectorSet.startCanary / stopCanary (a share of new streams)
 *   features.export ──▶ FeatureExporter (a ScoreSink) ──▶ <featuresPrefix>.<callToken> (own stream)
 *
 * Its own NATS connection (the event publisher's buffering and reconnect policy stay its own).
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import type { DetectorSet } from '../detect/detector-set.js';
import type { ScoreFanOut } from '../detect/score-fan-out.js';
import { WindowTee } from '../detect/window-tee.js';
import type { WindowSink } from '../media/types.js';
import type { Logger } from '../logger.js';
import type { LifecycleObservers } from '../observability/registry-metrics.js';
import { ensureFeatureStream, FeatureExporter, featuresPrefix } from '../verdicts/feature-exporter.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { CandidateWatcher } from './candidate-watcher.js';
import { LiveCandidates } from './live-candidates.js';
import { ModelRegistry, type Channel } from './registry.js';
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

interface Parts {
  nc: NatsConnection;
  registry: ModelRegistry | undefined;
  watcher: ModelWatcher | undefined;
  candidateWatcher: CandidateWatcher | undefined;
  candidates: LiveCandidates | undefined;
  windowSink: WindowSink;
}

export class ModelLifecycle {
  /** What media feeds: the detector set, or a tee that also feeds the shadow candidates. */
  readonly windowSink: WindowSink;
  readonly watcher: ModelWatcher | undefined;
  /** Follows the shadow / canary keys (and applies the config defaults). */
  readonly candidateWatcher: CandidateWatcher | undefined;
  /** The shadows and canaries running on this node. */
  readonly candidates: LiveCandidates | undefined;
  /** Undefined when nothing asks for it (registry.watch off, no shadow or canary version). */
  readonly registry: ModelRegistry | undefined;
  readonly #nc: NatsConnection;

  private constructor(p: Parts) {
    this.#nc = p.nc;
    this.registry = p.registry;
    this.watcher = p.watcher;
    this.candidateWatcher = p.candidateWatcher;
    this.candidates = p.candidates;
    this.windowSink = p.windowSink;
  }

  static cacheDir(config: Readonly<Config>): string {
    return resolve(config.registry.cacheDir || join(tmpdir(), 'devox-model-cache'));
  }

  /** Connects, opens the registry, starts what the config asks; the first registry checks are done when it resolves. */
  static async start(o: ModelLifecycleOptions): Promise<ModelLifecycle> {
    const { config, detector, log } = o;
    const reg = config.registry;
    const nc = await connectNats(config.nats);
    let candidates: LiveCandidates | undefined;
    let candidateWatcher: CandidateWatcher | undefined;
    let watcher: ModelWatcher | undefined;
    try {
      // Opened only when something needs it: an edge allowed only its events (no registry watch,
      // shadow or canary) must not need the registry's permissions.
      const hasDefaults = (reg.shadow.version !== '' && reg.shadow.share > 0) || (reg.canary.version !== '' && reg.canary.share > 0);
      const registry = reg.watch || hasDefaults ? await ModelRegistry.open(nc, { objectBucket: reg.objectBucket, kvBucket: reg.kvBucket, subjectPrefix: config.nats.subjectPrefix, log }) : undefined;
      const cacheDir = ModelLifecycle.cacheDir(config);
      if (config.features.export) {
        await ensureFeatureStream(nc, config, log);
        o.scores.add(new FeatureExporter(nc, config, o.observers.features));
        log.info({ subjects: `${featuresPrefix(config)}.>`, stream: config.features.stream }, 'exporting speech-window embeddings (features, never audio)');
      }
      // The serving versions first: a candidate is checked against what serves its channel.
      if (reg.watch && registry) {
        const channels: Channel[] = detector.models.map((m) => m.band);
        watcher = new ModelWatcher({
          registry,
          nc,
          channels,
          cacheDir,
          pollMs: reg.pollSec * 1000,
          current: (c) => detector.cardFor(c),
          swap: (_channel, dir) => o.swap(dir),
          log: log.child({ component: 'registry' }),
          observer: o.observers.watcher,
        });
        watcher.start();
        await watcher.check();
      }
      let windowSink: WindowSink = detector;
      if (registry) {
        // Shadows and canaries can start at any time: media feeds a tee (a pass-through while no shadow runs).
        const tee = new WindowTee(detector);
        windowSink = tee;
        candidates = new LiveCandidates({ config, detector, tee, nc, log, shadowObserver: o.observers.shadow });
        o.scores.add(candidates.servingTap);
        candidateWatcher = new CandidateWatcher({
          registry,
          nc,
          slots: candidates,
          cacheDir,
          pollMs: reg.pollSec * 1000,
          followKeys: reg.watch,
          defaults: [
            { kind: 'shadow', version: reg.shadow.version, share: reg.shadow.share },
            { kind: 'canary', version: reg.canary.version, share: reg.canary.share },
          ],
          log: log.child({ component: 'registry' }),
          observer: o.observers.candidates,
        });
        candidateWatcher.start();
        await candidateWatcher.check();
      }
      return new ModelLifecycle({ nc, registry, watcher, candidateWatcher, candidates, windowSink });
    } catch (err) {
      await watcher?.close();
      await candidateWatcher?.close();
      await candidates?.close();
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    await this.candidateWatcher?.close();
    await this.candidates?.close();
    await this.#nc.drain().catch(() => undefined);
  }
}
