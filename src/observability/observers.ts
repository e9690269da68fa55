/**
 * The observers the lower folders report through, turned into the metrics of metrics.ts:
 * detect/ (DetectorObserver), verdicts/ (VerdictObserver) and the event publisher
 * (PublisherObserver) never import prom-client or this folder.
 */
import type { PublisherObserver } from '../verdicts/publisher.js';
import type { Metrics } from './metrics.js';

/** Event output, delivery, drops, buffering and NATS connection metrics. */
export function publisherObserver(metrics: Metrics): PublisherObserver {
  return {
    output: (output) => metrics.addEventOutput(output),
    outputUp: (output, up) => {
      if (output === 'nats') metrics.natsConnected.set(up ? 1 : 0);
      metrics.eventsOutputUp.set({ output }, up ? 1 : 0);
    },
    published: (type) => metrics.eventsPublished.inc({ type }),
    dropped: (reason, count) => metrics.eventsDropped.inc({ reason }, count),
    buffered: (queued) => metrics.eventsBuffered.set(queued),
    disconnected: () => metrics.natsDisconnects.inc(),
    reconnected: () => metrics.natsReconnects.inc(),
  };
}
