/**
 * The model lifecycle's metrics (registry hot swaps, shadow scoring, features export), in the
 * server's one registry, fed through the observers of registry/ and verdicts/ (which never
 * import prom-client). The serving version itself is devox_model_info{name,version,band}.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ModelWatcherObserver } from '../registry/model-watcher.js';
import type { FeatureExporterObserver } from '../verdicts/feature-exporter.js';
import type { ShadowObserver } from '../verdicts/shadow-comparer.js';

export interface LifecycleObservers {
  watcher: ModelWatcherObserver;
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
