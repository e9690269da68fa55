/**
 * A two-leg call streamed as real RTP over 127.0.0.1 into a real DevoxServer (real ONNX
 * model), events published to a real nats-server with JetStream, read back like an
 * integrator would: started / window / verdict / ended with the documented fields.
 * Also: /metrics over HTTP shows the histograms moving.
 */
import t from 'tap';
import { callIdToToken } from '../../src/verdicts/events.js';
import type { CallEndedEvent, VerdictChangedEvent, WindowScoredEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { metricSum, metricValue, scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

/** Every test here needs a real nats-server: skipped loudly, with the reason, where there is none. */
const needsNats = { skip: NEEDS_NATS };

const validate = eventValidator();

t.test('two-leg RTP call → started/window/verdict/ended on JetStream', needsNats, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const server = await startTestServer({ nats: { servers: [nats.url] } });
  t.teardown(() => server.close());

  const ready = await fetch(`${server.http.url}/readyz`);
  t.equal(ready.status, 200, '/readyz: model loaded and NATS connected');
  const before = await scrape(server);

  const callId = 'e2e-call.1@devox.test';
  const caller = await server.openStream({ callId, leg: 'caller', codec: 'PCMU', identity: { sipCallId: callId, tenant: 'acme' } });
  const callee = await server.openStream({ callId, leg: 'callee', codec: 'opus' });
  const counters = [server.media.get(caller.streamId)!.counters, server.media.get(callee.streamId)!.counters];
  await Promise.all([
    sendFile(caller, SYNTHETIC_FILE, { maxSec: 3.5 }),
    sendFile(callee, GENUINE_FILE, { maxSec: 3.5 }),
  ]);
  // Let the last packets land, then hang up both legs.
  await new Promise((r) => setTimeout(r, 100));
  server.releaseStream(caller.streamId);
  server.releaseStream(callee.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'both legs finished');
  const emitted = counters.map((c) => c.windowsEmitted); // final: both legs are closed
  t.ok(emitted.every((n) => n >= 8), `each leg cut its windows (${emitted.join(', ')})`);
  t.equal(await server.publisher.flush(10_000), true, 'every event acknowledged by JetStream');

  const after = await scrape(server);
  const stored = await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(callId)}.>`);
  for (const s of stored) {
    const err = validate(s.event);
    if (err) t.fail(`schema: ${err}`, { event: s.event });
  }
  t.ok(stored.length > 0, 'events stored');
  t.ok(stored.every((s) => s.msgId === s.event.eventId), 'Nats-Msg-Id = eventId');

  for (const [i, leg] of [caller, callee].entries()) {
    const evs = stored.map((s) => s.event).filter((e) => e.streamId === leg.streamId);
    const types = evs.map((e) => e.type);
    t.equal(types[0], 'call.started', `${leg.leg}: first event is call.started`);
    t.equal(types.at(-1), 'call.ended', `${leg.leg}: last event is call.ended`);
    t.same(evs.map((e) => e.seq), evs.map((_, k) => k), `${leg.leg}: per-stream seq 0..n-1 in storage order`);
    for (const e of evs) {
      t.equal(e.callId, callId);
      t.equal(e.leg, leg.leg);
      t.equal(e.transport, 'rtp');
      t.equal(typeof e.modelVersion, 'string');
    }
    const windows = evs.filter((e): e is WindowScoredEvent => e.type === 'window.scored');
    t.equal(windows.length, emitted[i], `${leg.leg}: one window.scored per window media cut`);
    t.same(windows.map((w) => w.windowSeq), windows.map((_, k) => k), `${leg.leg}: windows 0..n-1, none missing`);
    for (const w of windows) {
      if (!(w.latencyMs >= 0 && w.timestamps.publishedMs >= w.timestamps.scoredMs && w.timestamps.scoredMs >= w.timestamps.readyMs)) {
        t.fail('timestamps ordered arrival ≤ ready ≤ scored ≤ published', { w });
      }
      if (Math.abs(w.mediaEndSec - w.mediaStartSec - 1) > 1e-6) t.fail('1-s windows', { w });
    }
    t.ok(windows.some((w) => w.score !== windows[0]!.score), `${leg.leg}: scores vary window to window (real model)`);
    const verdicts = evs.filter((e): e is VerdictChangedEvent => e.type === 'verdict.changed');
    t.ok(verdicts.length >= 1, `${leg.leg}: at least one verdict.changed`);
    t.equal(verdicts[0]!.previousLabel, 'listening');
    t.not(verdicts[0]!.label, 'listening');
    t.ok(verdicts[0]!.evidence.speechSec >= 1, 'first verdict after ≥ 1 s of speech (verdict.minSpeechSec)');
    const ended = evs.at(-1) as CallEndedEvent;
    t.equal(ended.reason, 'released');
    t.equal(ended.label, verdicts.at(-1)!.label, 'final label = last verdict');
    t.equal(ended.evidence.windows, emitted[i]);
  }
  const callerStart = stored.find((s) => s.event.streamId === caller.streamId)!.event;
  t.same(callerStart.identity, { sipCallId: callId, tenant: 'acme' }, 'identity passed through');
  t.equal(stored[0]!.subject, `devox.call.${callIdToToken(callId)}.started`);
  const endedEvents = stored.map((s) => s.event).filter((e): e is CallEndedEvent => e.type === 'call.ended');
  t.same(endedEvents.map((e) => e.lastLeg), [false, true], 'the second leg to end closes the call');
  const finalCall = endedEvents[1]!.call;
  if (finalCall.label === 'suspicious' || finalCall.label === 'synthetic') t.ok(finalCall.suspectLeg, 'suspect leg named');
  else t.equal(finalCall.suspectLeg, null);

  // Wildcard subscription to verdicts only.
  const verdictOnly = await readStoredEvents(nats.url, 'DEVOX', 'devox.call.*.verdict');
  t.ok(verdictOnly.length >= 2 && verdictOnly.every((s) => s.event.type === 'verdict.changed'), 'devox.call.*.verdict gets verdicts only');

  // Metrics moved.
  const totalWindows = emitted[0]! + emitted[1]!;
  const d = (name: string, labels = '') => metricValue(after, name, labels) - metricValue(before, name, labels);
  t.equal(d('devox_window_to_verdict_seconds_count'), totalWindows, 'latency histogram observed every window');
  t.ok(d('devox_window_to_verdict_seconds_sum') > 0);
  t.equal(d('devox_window_to_verdict_seconds_bucket', 'le="+Inf"'), totalWindows, '+Inf bucket = count (latency figures are in bench/, not here)');
  t.ok(d('devox_inference_batch_duration_seconds_count') >= 1, 'batch duration histogram moved');
  t.equal(d('devox_inference_batch_size_sum'), totalWindows, 'batch sizes add up to the windows');
  t.ok(d('devox_inference_queue_wait_seconds_count') >= 1, 'queue wait histogram moved');
  t.equal(d('devox_windows_scored_total'), totalWindows);
  t.equal(d('devox_windows_received_total'), totalWindows, 'every window media cut reached the models');
  t.equal(metricValue(after, 'devox_windows_queued'), 0, 'none left queued once the streams drained');
  t.equal(metricSum(after, 'devox_windows_shed_total') - metricSum(before, 'devox_windows_shed_total'), 0, 'no window shed, for any reason');
  t.ok(d('devox_rtp_packets_received_total') >= 2 * 170, 'RTP packets counted (ended streams included)');
  t.equal(d('devox_events_published_total', 'type="window.scored"'), totalWindows);
  t.equal(d('devox_events_published_total', 'type="call.ended"'), 2);
  t.equal(metricValue(after, 'devox_active_streams', 'transport="rtp"'), 0);
  t.equal(metricValue(after, 'devox_nats_connected'), 1);
  t.match(after, /devox_model_info\{name="[^"]+",version="[^"]+",band="(narrowband|wideband)"\} 1/);
});
