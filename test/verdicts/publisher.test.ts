/**
 * EventPublisher against a REAL nats-server with JetStream: stream creation, msgID
 * de-duplication, buffering across a server restart, bounded buffer drop policy,
 * auth refusal at start-up.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { callStarted, callEnded, verdictChanged, windowScored, subjectFor, callIdToToken, callIdFromToken } from '../../src/verdicts/events.js';
import { publisherObserver } from '../../src/observability/observers.js';
import { NatsPublisher } from '../../src/verdicts/nats-publisher.js';
import { NatsPublisherError } from '../../src/verdicts/publisher.js';
import { StdoutPublisher } from '../../src/verdicts/stdout-publisher.js';
import type { WindowScore } from '../../src/detect/types.js';
import type { DevoxEvent } from '../../src/verdicts/types.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { TcpRelay } from '../helpers/tcp-relay.js';
import { eventValidator, readStoredEvents } from '../helpers/events.js';
import { waitFor } from '../helpers/wait.js';

/** Every test here needs a real nats-server: skipped loudly, with the reason, where there is none. */
const needsNats = { skip: NEEDS_NATS };

const log = createLogger('silent');
const validate = eventValidator();
const stream = {
  streamId: 'st-1',
  callId: 'a84b4c76e66710@pc33.atlanta.example',
  leg: 'caller',
  transport: 'rtp' as const,
  identity: { sipCallId: 'a84b4c76e66710@pc33.atlanta.example' },
};

function score(seq: number): WindowScore {
  const now = Date.now();
  return {
    stream, seq, score: 0.9, speechRatio: 0.8, rmsDbfs: -22, lostRatio: 0,
    mediaStartSec: seq * 0.25, mediaEndSec: seq * 0.25 + 1, arrivalMs: now - 2, readyMs: now - 1.5, scoredMs: now - 1,
    batchSize: 4, modelVersion: 'tiny-1',
  };
}

function sampleEvents(n: number): DevoxEvent[] {
  const ev = { speechSec: 1, windows: 1, speechWindows: 1, score: 0.9 };
  const call = { label: 'synthetic' as const, suspectLeg: 'caller', suspectStreamId: 'st-1', score: 0.9 };
  const out: DevoxEvent[] = [callStarted(stream, 0, Date.now(), 'tiny-1')];
  let seq = 1;
  for (let w = 0; w < n; w++) {
    out.push(windowScored(score(w), seq++, 'synthetic', ev, Date.now()));
    if (w === 0) out.push(verdictChanged(score(w), seq++, 'synthetic', 'listening', ev, call, Date.now()));
  }
  out.push(
    callEnded(stream, seq, {
      label: 'synthetic', evidence: ev, reason: 'bye', mediaTimeSec: n * 0.25 + 0.75, call, lastLeg: true,
      wallTimeMs: Date.now(), modelVersion: 'tiny-1',
    }),
  );
  return out;
}

function natsConfig(url: string, over: Record<string, unknown> = {}) {
  return loadConfig({ env: {}, overrides: { nats: { servers: [url], ...over } } }).nats;
}

t.test('subject tokens are escaped reversibly', async (t) => {
  const tok = callIdToToken('a84b.c*d>e f@x~y');
  t.match(tok, /^[A-Za-z0-9_~-]+$/);
  t.equal(callIdFromToken(tok), 'a84b.c*d>e f@x~y');
  t.equal(callIdFromToken(callIdToToken('ünï-😀')), 'ünï-😀');
  t.not(callIdToToken('a.b'), callIdToToken('a_b'));
  t.equal(subjectFor('devox', 'x.y', 'verdict.changed'), 'devox.call.x~2Ey.verdict');
});

t.test('sample events validate against the schema (and bad ones do not)', async (t) => {
  for (const e of sampleEvents(3)) t.equal(validate(e), null, e.type);
  const bad = { ...sampleEvents(1)[1]!, label: 'maybe' };
  t.not(validate(bad), null, 'unknown label refused');
  const extra = { ...sampleEvents(1)[0]!, surprise: 1 };
  t.not(validate(extra), null, 'unknown property refused');
});

t.test('stdout publisher writes one JSON line per event', async (t) => {
  const lines: string[] = [];
  const out = new Writable({ write(chunk, _enc, cb) { lines.push(...chunk.toString().split('\n').filter(Boolean)); cb(); } });
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new StdoutPublisher('devox', publisherObserver(metrics), out);
  await p.start();
  for (const e of sampleEvents(2)) p.publish(e);
  t.equal(lines.length, 5);
  const first = JSON.parse(lines[0]!);
  t.equal(first.subject, `devox.call.${callIdToToken(stream.callId)}.started`);
  t.equal(validate(first.event), null);
  await p.close();
});

t.test('stdout publisher survives a reader that goes away (EPIPE)', async (t) => {
  const out = new Writable({ write(_chunk, _enc, cb) { cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); } });
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new StdoutPublisher('devox', publisherObserver(metrics), out, log);
  const events = sampleEvents(3);
  p.publish(events[0]!);
  await new Promise((r) => setImmediate(r));
  t.equal(p.connected, false, 'marked broken');
  for (const e of events.slice(1)) p.publish(e); // no throw
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="rejected"\} 5/);
  await p.close();
});

t.test('JetStream: stream created, events stored once per msgID, metrics counted', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  t.teardown(() => p.close());
  await p.start();
  t.equal(p.connected, true);
  const events = sampleEvents(5);
  for (const e of events) p.publish(e);
  // Re-publishing the same events (same eventId → Nats-Msg-Id) must not store duplicates.
  for (const e of events) p.publish(e);
  t.equal(await p.flush(5000), true);
  await p.close();
  await p.close(); // idempotent

  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.equal(stored.length, events.length, 'duplicates were de-duplicated by JetStream');
  t.same(stored.map((s) => s.event.eventId), events.map((e) => e.eventId), 'stored in publish order');
  for (const s of stored) {
    t.equal(s.msgId, s.event.eventId, 'Nats-Msg-Id is the eventId');
    t.equal(s.subject, subjectFor('devox', stream.callId, s.event.type));
    t.equal(validate(s.event), null);
  }
  const verdicts = await readStoredEvents(srv.url, 'DEVOX', 'devox.call.*.verdict');
  t.equal(verdicts.length, 1, 'wildcard filter devox.call.*.verdict selects verdict events');
  const text = await metrics.text();
  t.match(text, /devox_events_published_total\{type="window.scored"\} 10/);
  t.match(text, /devox_nats_connected 0/, 'disconnected after close');
});

t.test('NATS killed mid-stream: events buffer and flush in order on restart, none lost', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  t.teardown(() => p.close());
  await p.start();
  const events = sampleEvents(60);
  for (const e of events.slice(0, 20)) p.publish(e);
  t.equal(await p.flush(5000), true);
  await srv.stop();
  await waitFor(() => !p.connected, 5_000, 'the publisher to notice NATS is gone');
  t.equal(p.connected, false, 'publisher knows NATS is gone');
  for (const e of events.slice(20)) p.publish(e); // must not throw
  t.ok(p.pending > 0, 'events are buffered');
  t.match(await metrics.text(), /devox_nats_connected 0/);
  await srv.restart();
  t.equal(await p.flush(15_000), true, 'buffer flushed after restart');
  t.equal(p.connected, true);
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((s) => s.event.eventId), events.map((e) => e.eventId), 'every event stored exactly once, in order');
  const text = await metrics.text();
  t.match(text, /devox_events_dropped_total\{reason="buffer_full"\} 0/);
  t.match(text, /devox_nats_disconnects_total [1-9]/);
  t.match(text, /devox_nats_reconnects_total [1-9]/);
});

t.test('lost acks (server frozen) are re-sent and de-duplicated: each event stored once', needsNats, async (t) => {
  const srv = await NatsServer.start();
  const relay = await TcpRelay.start(srv.port); // the publisher talks to NATS through a relay we can freeze
  t.teardown(async () => {
    await relay.close();
    await srv.close();
  });
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(relay.url), publisherObserver(metrics), log);
  t.teardown(() => p.close());
  await p.start();
  const events = sampleEvents(30);
  for (const e of events.slice(0, 10)) p.publish(e);
  t.equal(await p.flush(5000), true);
  relay.freeze(); // acks stop; the TCP connection stays up
  for (const e of events.slice(10)) p.publish(e);
  await new Promise((r) => setTimeout(r, 2600)); // past the 2 s ack timeout: re-sends queued
  t.ok(p.pending > 0, 'still pending while the server is frozen');
  t.equal(p.connected, true, 'the connection is still up');
  relay.thaw();
  t.equal(await p.flush(15_000), true, 'delivered once the server answers again');
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((s) => s.event.eventId), events.map((e) => e.eventId), 'stored exactly once each, in order');
  const published = [...(await metrics.text()).matchAll(/^devox_events_published_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  t.equal(published, events.length, 'each event counted as published once');
});

t.test('stream deleted under us: re-created, events keep flowing', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  t.teardown(() => p.close());
  await p.start();
  const events = sampleEvents(10);
  for (const e of events.slice(0, 5)) p.publish(e);
  t.equal(await p.flush(5000), true);
  const nc = await connect({ servers: srv.url });
  await (await jetstreamManager(nc)).streams.delete('DEVOX');
  await nc.close();
  for (const e of events.slice(5)) p.publish(e);
  t.equal(await p.flush(10_000), true);
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  t.same(stored.map((s) => s.event.eventId), events.slice(5).map((e) => e.eventId), 'events after the deletion are in the re-created stream');
});

t.test('bounded buffer: window events are dropped first and counted, verdicts kept', needsNats, async (t) => {
  const srv = await NatsServer.start();
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const p = new NatsPublisher(natsConfig(srv.url, { maxBufferedEvents: 5 }), publisherObserver(metrics), log);
  t.teardown(() => p.close());
  await p.start();
  await srv.stop();
  await waitFor(() => !p.connected, 5_000, 'the publisher to notice NATS is gone');
  t.equal(p.connected, false, 'publisher knows NATS is gone');
  const events = sampleEvents(10); // started, window0, verdict, window1..9, ended = 13
  for (const e of events) p.publish(e);
  t.equal(p.pending, 5);
  await srv.restart();
  t.equal(await p.flush(15_000), true);
  await p.close();
  const stored = await readStoredEvents(srv.url, 'DEVOX');
  const types = stored.map((s) => s.event.type);
  t.same(types, ['call.started', 'verdict.changed', 'window.scored', 'window.scored', 'call.ended']);
  t.same(stored.filter((s) => s.event.type === 'window.scored').map((s) => (s.event as { windowSeq: number }).windowSeq), [8, 9], 'newest windows kept');
  t.match(await metrics.text(), /devox_events_dropped_total\{reason="buffer_full"\} 8/);
});

t.test('auth: wrong credentials are a clear start-up error; right ones work', needsNats, async (t) => {
  const srv = await NatsServer.start({ user: 'devox', pass: 's3cret' });
  t.teardown(() => srv.close());
  const metrics = new Metrics({ defaultMetrics: false });
  const bad = new NatsPublisher(natsConfig(srv.url, { user: 'devox', pass: 'wrong' }), publisherObserver(metrics), log);
  t.teardown(() => bad.close());
  const err = await bad.start().then(() => null, (e: unknown) => e);
  t.ok(err instanceof NatsPublisherError, 'NatsPublisherError');
  t.equal((err as NatsPublisherError).code, 'auth');
  t.match((err as Error).message, /refused our credentials/);
  t.ok((err as Error).cause, 'keeps the cause');
  const none = new NatsPublisher(natsConfig(srv.url), publisherObserver(metrics), log);
  t.teardown(() => none.close());
  const err2 = await none.start().then(() => null, (e: unknown) => e);
  t.equal((err2 as NatsPublisherError).code, 'auth', 'no credentials: auth error too');
  const good = new NatsPublisher(natsConfig(srv.url, { user: 'devox', pass: 's3cret' }), publisherObserver(metrics), log);
  t.teardown(() => good.close());
  await good.start();
  good.publish(sampleEvents(1)[0]!);
  t.equal(await good.flush(5000), true);
  await good.close();
  await bad.close();
  await none.close();
});

t.test('unreachable server is a clear start-up error', needsNats, async (t) => {
  const srv = await NatsServer.start();
  const url = srv.url;
  await srv.close();
  const p = new NatsPublisher(natsConfig(url), publisherObserver(new Metrics({ defaultMetrics: false })), log);
  t.teardown(() => p.close());
  const err = await p.start().then(() => null, (e: unknown) => e);
  t.ok(err instanceof NatsPublisherError);
  t.equal((err as NatsPublisherError).code, 'unreachable');
});
