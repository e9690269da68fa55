/**
 * NatsPublisher edge cases against a REAL nats-server with JetStream: call ids with CR/LF
 * (header-safe event ids), events NATS refuses (dropped and counted, never thrown, never
 * blocking later events, also across a reconnect), memory bounded through a long outage,
 * publish after close, and devox_nats_connected exported only when NATS is configured.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { callStarted, callEnded, eventIdFor, eventIdPart, verdictChanged, windowScored } from '../../src/verdicts/events.js';
import { publisherObserver } from '../../src/observability/observers.js';
import { NatsPublisher } from '../../src/verdicts/nats-publisher.js';
import { StdoutPublisher } from '../../src/verdicts/stdout-publisher.js';
import type { WindowScore } from '../../src/detect/types.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import type { DevoxEvent } from '../../src/verdicts/types.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';

/** Every test here needs a real nats-server: skipped loudly, with the reason, where there is none. */
const needsNats = { skip: NEEDS_NATS };

const log = createLogger('silent');
const validate = eventValidator();
const ev = { speechSec: 1, windows: 1, speechWindows: 1, score: 0.9 };
const summary = { label: 'synthetic' as const, suspectLeg: 'caller', suspectStreamId: 's', score: 0.9 };

function descriptor(callId: string, streamId = 'st-1'): StreamDescriptor {
  return { streamId, callId, leg: 'caller', transport: 'rtp' };
}

function score(stream: StreamDescriptor, seq: number): WindowScore {
  const now = Date.now();
  return {
    stream, seq, score: 0.9, speechRatio: 0.8, rmsDbfs: -22, lostRatio: 0,
    mediaStartSec: seq * 0.25, mediaEndSec: seq * 0.25 + 1, arrivalMs: now, readyMs: now, scoredMs: now,
    batchSize: 1, modelVersion: 'tiny-1',
  };
}

function ended(stream: StreamDescriptor, seq: number): DevoxEvent {
  return callEnded(stream, seq, {
    label: 'synthetic', evidence: ev, reason: 'bye', mediaTimeSec: 3, call: summary, lastLeg: true,
    wallTimeMs: Date.now(), modelVersion: 'tiny-1',
  });
}

function natsConfig(url: string, over: Record<string, unknown> = {}) {
  return loadConfig({ env: {}, overrides: { nats: { servers: [url], ...over } } }).nats;
}

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

t.test('event ids are header-safe and unambiguous whatever the call id holds', async (t) => {
  t.equal(eventIdFor('a84b4c76e66710@pc33.atlanta.example', 'st-1', 'call.started', null), 'a84b4c76e66710@pc33.atlanta.example|st-1|call.started', 'ordinary ids unchanged');
  t.equal(eventIdFor('CA123', '5d1c:caller', 'window.scored', 7), 'CA123|5d1c:caller|window.scored|7');
  const id = eventIdFor('evil\r\nid', 'st-1', 'call.started', null);
  t.equal(id, 'evil~0D~0Aid|st-1|call.started');
  t.notMatch(id, /[\x00-\x20\x7f]/, 'no control characters or spaces');
  t.equal(eventIdPart('a b|c~d\u0000ü'), 'a~20b~7Cc~7Ed~00~C3~BC');
  t.not(eventIdFor('a|b', 'c', 'call.started', null), eventIdFor('a', 'b|c', 'call.started', null), "'|' in a call id cannot forge another id");
  t.not(eventIdPart('a~0D'), eventIdPart('a\r'), "'~' is escaped too");
  t.equal(eventIdFor('x\ny', 's', 'verdict.changed', 3), eventIdFor('x\ny', 's', 'verdict.changed', 3), 'deterministic');
});

t.test('call id with CR/LF: published, stored once, Nats-Msg-Id = escaped eventId, call id kept in the payload', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  await p.start();
  const bad = descriptor('evil\r\nid');
  const events: DevoxEvent[] = [callStarted(bad, 0, Date.now(), 'tiny-1'), windowScored(score(bad, 0), 1, 'synthetic', ev, Date.now()), ended(bad, 2)];
  const others = [0, 1, 2].map((i) => callStarted(descriptor(`ok-${i}`), 0, Date.now(), 'tiny-1'));
  t.doesNotThrow(() => {
    for (const e of [...events, ...others]) p.publish(e);
    for (const e of events) p.publish(e); // re-published: de-duplicated by Nats-Msg-Id
  }, 'publish() never throws');
  t.equal(await p.flush(10_000), true, 'flush completes');
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((s) => s.event.eventId), [...events, ...others].map((e) => e.eventId), 'each stored once, in order');
  for (const s of stored) {
    t.equal(s.msgId, s.event.eventId, 'Nats-Msg-Id is the eventId');
    t.equal(validate(s.event), null);
  }
  t.equal(stored[0]!.event.callId, 'evil\r\nid', 'the payload keeps the call id as given');
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="rejected"\} 0/);
});

t.test('an event NATS refuses is dropped and counted, never thrown, never blocks the rest (also across a reconnect)', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  await p.start();
  const s = descriptor('call-1');
  // Built by hand (not by eventIdFor): an id nats.js refuses as a header value.
  const poisoned = (seq: number): DevoxEvent => ({ ...callStarted(descriptor(`x-${seq}`), 0, Date.now(), 'tiny-1'), eventId: `bad\r\n${seq}` });
  const good: DevoxEvent[] = [];
  t.doesNotThrow(() => p.publish(poisoned(1)), 'publish() does not throw while connected');
  for (let i = 0; i < 5; i++) {
    const e = windowScored(score(s, i), i + 1, 'genuine', ev, Date.now());
    good.push(e);
    p.publish(e);
  }
  t.equal(await p.flush(5000), true, 'later events delivered, flush completes');

  // Disconnected: the refused event sits among buffered ones until the reconnect re-sends them.
  await srv.stop();
  await waitFor(() => !p.connected, 5_000, 'the publisher to notice NATS is gone');
  t.equal(p.connected, false);
  for (let i = 5; i < 10; i++) {
    if (i === 7) p.publish(poisoned(2));
    const e = windowScored(score(s, i), i + 1, 'genuine', ev, Date.now());
    good.push(e);
    p.publish(e);
  }
  await srv.restart();
  t.equal(await p.flush(15_000), true, 'buffer flushed after the reconnect: the process is alive and nothing is stuck');
  t.equal(p.pending, 0);
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((x) => x.event.eventId), good.map((e) => e.eventId), 'every sendable event stored once, in order');
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="rejected"\} 2/);
});

t.test('long NATS outage: memory stays bounded by maxBufferedEvents; windows evicted first, verdicts and lifecycle kept', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const max = 200;
  const p = new NatsPublisher(natsConfig(srv.url, { maxBufferedEvents: max }), publisherObserver(metrics), log);
  await p.start();
  await srv.stop();
  await waitFor(() => !p.connected, 5_000, 'the publisher to notice NATS is gone');
  t.equal(p.connected, false);

  const s = descriptor('call-outage');
  const kept: DevoxEvent[] = [callStarted(s, 0, Date.now(), 'tiny-1')];
  p.publish(kept[0]!);
  const windows = 30_000;
  let seq = 1;
  let maxRetained = 0;
  const lastWindows: DevoxEvent[] = [];
  for (let w = 0; w < windows; w++) {
    const win = windowScored(score(s, w), seq++, 'genuine', ev, Date.now());
    p.publish(win);
    lastWindows.push(win);
    if (lastWindows.length > max) lastWindows.shift();
    if (w % 1000 === 500) {
      // A verdict behind which evicted windows used to stay in memory.
      const v = verdictChanged(score(s, w), seq++, w % 2000 === 500 ? 'synthetic' : 'genuine', 'listening', ev, summary, Date.now());
      kept.push(v);
      p.publish(v);
    }
    maxRetained = Math.max(maxRetained, p.retained);
    if (p.pending > max) t.fail(`pending ${p.pending} over maxBufferedEvents`);
  }
  const end = ended(s, seq++);
  kept.push(end);
  p.publish(end);
  t.equal(p.pending, max, 'pending is at the bound');
  // Held entries (pending + released-later garbage) stay within a constant of the bound —
  // they would be ~30 000 if evicted windows were kept behind the verdicts.
  t.ok(maxRetained <= 2 * max + 1024 + 2, `at most ${maxRetained} entries held while ${windows + kept.length} were published`);

  await srv.restart();
  t.equal(await p.flush(15_000), true);
  t.equal(p.retained, 0, 'released once delivered');
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((x) => x.event.seq), [...stored].map((x) => x.event.seq).sort((a, b) => a - b), 'per-stream order kept');
  const storedIds = new Set(stored.map((x) => x.event.eventId));
  for (const e of kept) t.ok(storedIds.has(e.eventId), `kept: ${e.type} seq ${e.seq}`);
  const storedWindows = stored.filter((x) => x.event.type === 'window.scored');
  t.equal(storedWindows.length, max - kept.length, 'the rest of the bound is windows');
  t.same(storedWindows.map((x) => x.event.eventId), lastWindows.slice(-storedWindows.length).map((e) => e.eventId), 'the newest windows');
  const dropped = windows + kept.length - max;
  t.match(await metrics.text(), new RegExp(`devox_events_dropped_total\\{reason="buffer_full"\\} ${dropped}\\n`), 'every eviction counted');
});

t.test('publish after close: dropped and counted as closed, nothing left pending', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="closed"\} 0/, 'label present from start-up');
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  await p.start();
  const s = descriptor('call-closed');
  p.publish(callStarted(s, 0, Date.now(), 'tiny-1'));
  await p.close();
  t.doesNotThrow(() => p.publish(ended(s, 1)));
  t.equal(p.pending, 0);
  t.equal(await p.flush(100), true);
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="closed"\} 1/);
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((x) => x.event.type), ['call.started'], 'what came before close() was delivered');
});

t.test('devox_nats_connected only exists when NATS is configured; devox_events_output_up names the output', async (t) => {
  const none = new Metrics({ defaultMetrics: false });
  t.equal(sample(await none.text(), 'devox_nats_connected'), undefined, 'absent from a fresh registry');
  t.notMatch(await none.text(), /devox_nats_connected/);

  const stdoutMetrics = new Metrics({ defaultMetrics: false });
  const out = new Writable({ write(_c, _e, cb) { cb(); } });
  const sp = new StdoutPublisher('devox', publisherObserver(stdoutMetrics), out);
  await sp.start();
  const text = await stdoutMetrics.text();
  t.notMatch(text, /devox_nats_connected/, 'stdout mode: no NATS gauge (was a misleading 0)');
  t.match(text, /devox_events_output_up\{output="stdout"\} 1/);
  t.notMatch(text, /devox_events_output_up\{output="nats"\}/);
  await sp.close();

  t.test('with NATS', needsNats, async (t) => {
    const srv = await NatsServer.start();
    t.teardown(() => srv.close());
    const metrics = new Metrics({ defaultMetrics: false });
    const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
    t.equal(sample(await metrics.text(), 'devox_nats_connected'), 0, 'registered as soon as the publisher exists');
    await p.start();
    const up = await metrics.text();
    t.equal(sample(up, 'devox_nats_connected'), 1);
    t.match(up, /devox_events_output_up\{output="nats"\} 1/);
    t.notMatch(up, /devox_events_output_up\{output="stdout"\}/);
    // A second publisher on the same registry (tests do this) does not register it twice.
    const again = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
    await again.close();
    await p.close();
    t.equal(sample(await metrics.text(), 'devox_nats_connected'), 0);
  });
});
