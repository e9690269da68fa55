/**
 * call.suspectLeg never changes without an event: two legs of one call both `suspicious`, their
 * scores crossing while both labels hold, then one leg clearing. The VerdictPipeline (thresholds
 * from the real DetectorSet with the tiny real model) publishes to a real nats-server; the events
 * read back from JetStream in publish order must name a new suspect only on an event that changed
 * a label (verdict.changed, or a call.ended whose final label differs), and the call.ended events
 * blame the leg the verdict.changed before them blamed unless their own label changed.
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { DetectorSet } from '../../src/detect/detector-set.js';
import type { WindowScore } from '../../src/detect/types.js';
import { createLogger } from '../../src/logger.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import { Metrics } from '../../src/observability/metrics.js';
import { publisherObserver } from '../../src/observability/observers.js';
import { callIdToToken } from '../../src/verdicts/events.js';
import { NatsPublisher } from '../../src/verdicts/nats-publisher.js';
import { VerdictPipeline } from '../../src/verdicts/pipeline.js';
import type { CallEndedEvent, DevoxEvent, VerdictChangedEvent } from '../../src/verdicts/types.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { TINY_MODEL } from '../helpers/fixture-paths.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';

const validate = eventValidator();

t.test('every change of call.suspectLeg arrives in an event; call.ended blames the leg verdict.changed blamed', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  // evidenceAlpha 0.25: the smoothed scores follow the window scores within a few windows.
  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL }, nats: { servers: [nats.url] }, verdict: { evidenceAlpha: 0.25 } } });
  const log = createLogger('silent');
  const detector = await DetectorSet.create({
    detect: config.detect, modelDir: config.detect.modelDir, narrowbandModelDir: '', windowSec: config.window.lengthSec, log,
    sink: { onScore: () => undefined },
  });
  t.teardown(() => detector.close());
  const { suspicious, synthetic } = detector.card.thresholds;
  t.ok(synthetic - suspicious > 0.15, `room for two suspicious scores between ${suspicious} and ${synthetic}`);
  const publisher = new NatsPublisher(config.nats, publisherObserver(new Metrics({ defaultMetrics: false })), log);
  t.teardown(() => publisher.close());
  await publisher.start();
  const pipeline = new VerdictPipeline({ verdict: config.verdict, models: detector, log, publisher });

  const callId = 'suspect-leg.1@devox.test';
  const legs: StreamDescriptor[] = [
    { streamId: 'sl-caller', callId, leg: 'caller', transport: 'rtp' },
    { streamId: 'sl-callee', callId, leg: 'callee', transport: 'rtp' },
  ];
  const seq = [0, 0];
  const feed = (i: number, score: number, n: number): void => {
    for (let k = 0; k < n; k++) {
      const w = seq[i]!++;
      const s: WindowScore = {
        stream: legs[i]!, seq: w, score, speechRatio: 1, rmsDbfs: -20, lostRatio: 0,
        mediaStartSec: w * 0.25, mediaEndSec: w * 0.25 + 1, arrivalMs: 0, readyMs: 0, scoredMs: 0, batchSize: 1,
        modelVersion: detector.modelVersion,
      };
      pipeline.onScore(s);
    }
  };
  const lo = suspicious + 0.07;
  const hi = suspicious + 0.13;
  for (const l of legs) pipeline.onStreamStart(l);
  feed(0, hi, 12); // caller suspicious first, scoring higher
  feed(1, lo, 12); // callee suspicious, lower
  feed(0, lo, 16); // the scores cross; both labels hold
  feed(1, hi, 16);
  t.equal(pipeline.label('sl-caller'), 'suspicious');
  t.equal(pipeline.label('sl-callee'), 'suspicious', 'both legs still suspicious after the scores crossed');
  pipeline.onStreamDrained(legs[1]!, 'bye'); // callee hangs up, still suspicious, now scoring higher
  feed(0, 0.05, 20); // caller clears: the suspect moves to callee, with caller's verdict.changed
  pipeline.onStreamDrained(legs[0]!, 'bye');
  t.equal(await publisher.flush(10_000), true, 'every event acknowledged by JetStream');

  const events: DevoxEvent[] = (await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(callId)}.>`)).map((s) => s.event);
  for (const e of events) {
    const err = validate(e);
    if (err) t.fail(`schema: ${err}`, { event: e });
  }
  const carrying = events.filter((e): e is VerdictChangedEvent | CallEndedEvent => e.type === 'verdict.changed' || e.type === 'call.ended');
  t.same(carrying.map((e) => `${e.type}:${e.leg}:${e.label}:${e.call.suspectLeg}`), [
    'verdict.changed:caller:suspicious:caller',
    'verdict.changed:callee:suspicious:caller',
    'call.ended:callee:suspicious:caller',
    'verdict.changed:caller:genuine:callee',
    'call.ended:caller:genuine:callee',
  ], 'the events in publish order, with the suspect each names');

  // The invariant, stated generally: a new suspect only on an event that changed a leg's label.
  const lastLabel = new Map<string, string>();
  let suspect: string | null = null;
  for (const e of carrying) {
    const labelChanged = lastLabel.get(e.streamId) !== e.label;
    if (e.call.suspectLeg !== suspect && !labelChanged) {
      t.fail(`suspect moved ${suspect} → ${e.call.suspectLeg} on ${e.type} of ${e.leg}, whose label stayed ${e.label}`);
    }
    suspect = e.call.suspectLeg;
    lastLabel.set(e.streamId, e.label);
  }
  const calleeEnded = carrying.find((e) => e.type === 'call.ended' && e.leg === 'callee')!;
  const before = carrying[carrying.indexOf(calleeEnded) - 1]!;
  t.equal(before.type, 'verdict.changed');
  t.equal(calleeEnded.call.suspectLeg, before.call.suspectLeg,
    'call.ended of the callee (scoring higher once the scores crossed) blames the leg the verdict.changed before it blamed');
  pipeline.close();
});
