/**
 * The observers the lower folders report through, turned into the metrics of metrics.ts:
 * detect/ (DetectorObserver), verdicts/ (VerdictObserver) and the event publisher
 * (PublisherObserver) never import prom-client or this folder.
 */
import type { BatchInfo } from '../detect/detector.js';
import type { DetectorSetObserver } from '../detect/detector-set.js';
import type { PublisherObserver } from '../verdicts/publisher.js';
import type { VerdictObserver } from '../verdicts/types.js';
import type { Metrics } from './metrics.js';

export interface MetricsObservers {
  detector: DetectorSetObserver;
  verdicts: VerdictObserver;
  publisher: PublisherObserver;
}

/** Every observer, feeding one Metrics. */
export function metricsObservers(metrics: Metrics): MetricsObservers {
  // The last batch's timing, to attribute queue wait to the windows it scored (the detector
  // reports a batch before its scores).
  const lastBatch = { startedMs: 0, scoredMs: -1 };
  const detector: DetectorSetObserver = {
    batch: (b: Readonly<BatchInfo>) => {
      metrics.batchDuration.observe(b.inferenceMs / 1000);
      metrics.batchSize.observe(b.size);
      lastBatch.startedMs = b.startedMs;
      lastBatch.scoredMs = b.scoredMs;
    },
    shed: (_stream, _seq, reason) => metrics.windowsShed.inc({ reason }),
    modelLoaded: (m) => metrics.setModel(m.name, m.version, m.band),
    inferenceError: () => metrics.inferenceErrors.inc(),
    // The stream's RTP counters are picked up while its media session is live.
    streamRouted: (stream) => metrics.noteStream(stream.streamId),
    windowReceived: () => metrics.windowsReceived.inc(),
  };
  const verdicts: VerdictObserver = {
    streamStarted: (stream, liveCalls) => {
      metrics.liveStreamsByLabel.inc({ label: 'listening' });
      metrics.streamsStarted.inc({ transport: stream.transport });
      metrics.activeStreams.inc({ transport: stream.transport });
      metrics.activeCalls.set(liveCalls);
    },
    scored: (s) => {
      metrics.windowsScored.inc();
      if (s.scoredMs === lastBatch.scoredMs) metrics.queueWait.observe(Math.max(0, lastBatch.startedMs - s.readyMs) / 1000);
    },
    judged: (s, speech, publishedMs) => {
      if (speech) metrics.speechWindows.inc();
      metrics.windowToVerdict.observe((publishedMs - s.readyMs) / 1000);
    },
    verdictChanged: (label, previous, firstDecision, mediaTimeSec) => {
      metrics.verdicts.inc({ label });
      metrics.liveStreamsByLabel.dec({ label: previous });
      metrics.liveStreamsByLabel.inc({ label });
      if (firstDecision) metrics.firstVerdict.observe(mediaTimeSec);
      if (label === 'insufficient_speech') metrics.insufficientSpeech.inc();
    },
    streamEnded: (stream, before, label, liveCalls) => {
      metrics.liveStreamsByLabel.dec({ label: before });
      if (label !== before) metrics.insufficientSpeech.inc();
      metrics.activeStreams.dec({ transport: stream.transport });
      metrics.activeCalls.set(liveCalls);
      metrics.retireStream(stream.streamId);
    },
  };
  return { detector, verdicts, publisher: publisherObserver(metrics) };
}

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
