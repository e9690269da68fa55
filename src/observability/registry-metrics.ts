/**
 * The model lifecycle's metrics (registry hot swaps, shadow scoring, features export), in the
 * server's one registry, fed through the observers of registry/ and verdicts/ (which never
 * import prom-client). The serving version itself is devox_model_info{name,version,band}.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CandidateWatcherObserver } from '../registry/candidate-watcher.js';
import type { ModelWatcherObserver } from '../registry/model-watcher.js';
import type { FeatureExporterObserver } from '../verdicts/feature-exporter.js';
import type { ShadowObserver } from '../verdicts/shadow-comparer.js';

export interface LifecycleObservers {
  watcher: ModelWatcherObserver;
  candidates: CandidateWatcherObserver;
  shadow: ShadowObserver;
  features: FeatureExporterObserver;
}

export function registerLifecycleMetrics(registry: Registry): LifecycleObservers {
  const swaps = new Counter({
    name: 'devox_registry_swaps_total',
    help: 'Registry promotions acted on by this node: ok, or refused with why (pull_failed, corrupt, mismatch, invalid_model); the old model keeps serving a refused one',
    labelNames: ['channel', 'result'] as const,
    registers: [registry],
  });
  const swapSeconds = new Histogram({
    name: 'devox_registry_swap_seconds',
    help: 'Promotion noticed to new model serving (pull + verify + load + swap), seconds',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  const unreachable = new Counter({
    name: 'devox_registry_unreachable_total',
    help: 'Registry reads or pulls that failed (NATS down); retried at the next poll',
    registers: [registry],
  });
  const candidateChanges = new Counter({
    name: 'devox_registry_candidate_changes_total',
    help: 'Shadow / canary changes from the registry acted on by this node: started, share, stopped, or refused with why (corrupt, mismatch, invalid_model); a refused one leaves the one before running',
    labelNames: ['kind', 'channel', 'result'] as const,
    registers: [registry],
  });
  const candidateShare = new Gauge({
    name: 'devox_candidate_share',
    help: 'The shadow (share of windows) or canary (share of new streams) this node runs per channel, by version',
    labelNames: ['kind', 'channel', 'version'] as const,
    registers: [registry],
  });
  /** The version each (kind, channel) gauge series is labelled with now, to remove it when it changes. */
  const candidateVersion = new Map<string, string>();
  const shadowWindows = new Counter({
    name: 'devox_shadow_windows_total',
    help: 'Windows scored by the shadow candidate next to the serving model, by versions and agreement at each model\'s EER threshold',
    labelNames: ['serving', 'candidate', 'agree'] as const,
    registers: [registry],
  });
  const shadowScore = new Histogram({
    name: 'devox_shadow_score',
    help: 'The shadow candidate\'s window scores',
    labelNames: ['candidate'] as const,
    buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    registers: [registry],
  });
  const featuresExported = new Counter({
    name: 'devox_features_exported_total',
    help: 'Speech-window embeddings published to the features stream',
    registers: [registry],
  });
  const featuresBytes = new Counter({
    name: 'devox_features_bytes_total',
    help: 'Bytes of feature records published (payloads)',
    registers: [registry],
  });
  const featuresSkipped = new Counter({
    name: 'devox_features_skipped_total',
    help: 'Scored windows not exported, by why',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return {
    watcher: {
      swapped: (channel, _version, seconds) => {
        swaps.inc({ channel, result: 'ok' });
        swapSeconds.observe(seconds);
      },
      refused: (channel, _version, reason) => swaps.inc({ channel, result: reason }),
      unreachable: () => unreachable.inc(),
    },
    candidates: {
      applied: (kind, channel, version, share) => {
        const k = `${kind}.${channel}`;
        const before = candidateVersion.get(k);
        if (before !== undefined) candidateShare.remove({ kind, channel, version: before });
        candidateVersion.delete(k);
        if (version !== null) {
          candidateShare.set({ kind, channel, version }, share);
          candidateVersion.set(k, version);
        }
        candidateChanges.inc({ kind, channel, result: version === null ? 'stopped' : before === version ? 'share' : 'started' });
      },
      refused: (kind, channel, _version, reason) => candidateChanges.inc({ kind, channel, result: reason }),
      unreachable: () => unreachable.inc(),
    },
    shadow: {
      compared: (serving, candidate, agree, score) => {
        shadowWindows.inc({ serving, candidate, agree: agree ? 'yes' : 'no' });
        shadowScore.observe({ candidate }, score);
      },
    },
    features: {
      exported: (bytes) => {
        featuresExported.inc();
        featuresBytes.inc(bytes);
      },
      skipped: (reason) => featuresSkipped.inc({ reason }),
    },
  };
}
