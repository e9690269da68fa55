/**
 * Against a real nats-server: an integrator's durable consumer replays what it missed
 * while offline; NATS killed and restarted mid-call loses no verdict (the server buffers
 * and flushes); wrong credentials stop `devox serve` at start-up with a clear error.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { StreamDescriptor } from '../../src/media/types.js';
import type { DevoxEvent, Evidence, VerdictLabel } from '../../src/verdicts/types.js';
import { NatsPublisherError } from '../../src/verdicts/publisher.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { spawnDevox } from '../helpers/child-process.js';
import { eventValidator, readStoredEvents, toStored } from '../helpers/events.js';
import { metricValue, scrape, sendFile, startTestServer, testModelDir } from '../helpers/devox-server.js';
import { GENUINE_FILE, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

/** Every test here needs a real nats-server: skipped loudly, with the reason, where there is none. */
const needsNats = { skip: NEEDS_NATS };

const validate = eventValidator();

t.test('durable consumer replays the events it missed while offline', needsNats, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const server = await startTestServer({ nats: { servers: [nats.url] } });
  t.teardown(() => server.close());

  // The integrator sets up a durable consumer on every call's verdicts and ends.
  const nc1 = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc1);
  await jsm.consumers.add('DEVOX', {
    durable_name: 'call-control',
    ack_policy: AckPolicy.Explicit,
    // One filter: the Debian nats-server (2.9) predates multi-subject filters.
    filter_subject: 'devox.call.>',
  });
  const runCall = async (callId: string) => {
    const s = await server.openStream({ callId, leg: 'caller' });
    await sendFile(s, GENUINE_FILE, { maxSec: 2.5 });
    server.releaseStream(s.streamId);
    await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'call finished');
    t.equal(await server.publisher.flush(10_000), true);
  };

  await runCall('replay-1');
  const c1 = await jetstream(nc1).consumers.get('DEVOX', 'call-control');
  const first: DevoxEvent[] = [];
  for (;;) {
    const m = await c1.next({ expires: 1000 });
    if (!m) break;
    first.push(toStored(m).event);
    m.ack();
  }
  t.ok(first.length >= 4 && first.every((e) => e.callId === 'replay-1'), `got call 1 (${first.length} events)`);
  t.equal(first.at(-1)!.type, 'call.ended');
  await nc1.close(); // the integrator goes offline

  await runCall('replay-2'); // ... while this call happens

  const nc2 = await connect({ servers: nats.url });
  t.teardown(() => nc2.close());
  const c2 = await jetstream(nc2).consumers.get('DEVOX', 'call-control');
  const replayed: DevoxEvent[] = [];
  for (;;) {
    const m = await c2.next({ expires: 1000 });
    if (!m) break;
    replayed.push(toStored(m).event);
    m.ack();
  }
  t.ok(replayed.length >= 4, `replayed ${replayed.length} events after reconnecting`);
  t.ok(replayed.every((e) => e.callId === 'replay-2'), 'exactly what was missed: call 2, nothing of call 1 again');
  t.equal(replayed[0]!.type, 'call.started', 'replay starts at the first missed event');
  t.equal(replayed.at(-1)!.type, 'call.ended');
  t.same(replayed.map((e) => e.seq), replayed.map((_, k) => k), 'no gap, no duplicate');
  for (const e of replayed) t.equal(validate(e), null);
  // An ordered consumer from the start sees both calls too.
  const all = await readStoredEvents(nats.url, 'DEVOX', 'devox.call.*.started');
  t.same(all.map((s) => s.event.callId), ['replay-1', 'replay-2']);
});

t.test('NATS killed and restarted mid-call: no verdict lost, every window delivered', needsNats, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const seen: Array<{ streamId: string; label: VerdictLabel }> = [];
  const decidedAt: number[] = [];
  const server = await startTestServer(
    { nats: { servers: [nats.url] } },
    {
      listener: {
        onVerdict: (s: StreamDescriptor, label: VerdictLabel, _p: VerdictLabel, _e: Evidence) => {
          seen.push({ streamId: s.streamId, label });
          decidedAt.push(Date.now());
        },
      },
    },
  );
  t.teardown(() => server.close());

  const a = await server.openStream({ callId: 'outage-call', leg: 'caller', codec: 'PCMU' });
  const b = await server.openStream({ callId: 'outage-call', leg: 'callee', codec: 'PCMA' });
  const counters = [server.media.get(a.streamId)!.counters, server.media.get(b.streamId)!.counters];
  const sending = Promise.all([sendFile(a, SYNTHETIC_FILE, { maxSec: 5 }), sendFile(b, GENUINE_FILE, { maxSec: 5 })]);

  // call.started of both legs went out before the crash; the first window needs 1 s of audio
  // and the first verdict ~1.5 s, so both legs' first verdicts fall inside the outage: the
  // restart waits for them instead of trusting a timer.
  await waitFor(() => counters.every((c) => c.packetsReceived > 0), 10_000, 'audio flowing');
  t.equal(seen.length, 0, 'no verdict yet when NATS goes down');
  const killedAt = Date.now();
  await nats.stop(); // crash
  await waitFor(() => !server.publisher.connected, 10_000, 'publisher noticed NATS is gone');
  const ready = await fetch(`${server.http.url}/readyz`);
  t.equal(ready.status, 503, '/readyz says not ready while NATS is down');
  t.match(await ready.text(), /NATS not connected/);
  const during = await scrape(server);
  t.equal(metricValue(during, 'devox_nats_connected'), 0, 'metric shows the degradation');
  await waitFor(() => new Set(seen.map((v) => v.streamId)).size === 2, 15_000, 'a verdict on each leg during the outage');
  t.ok(server.publisher.pending > 0, `events buffered while NATS is down (${server.publisher.pending})`);
  const restartedAt = Date.now();
  await nats.restart();
  // ≥: a verdict decided in the same millisecond as the crash is already inside the outage (the check above saw none before it)
  const inOutage = decidedAt.filter((at) => at >= killedAt && at <= restartedAt).length;
  t.ok(inOutage >= 2, `${inOutage} verdicts decided while NATS was down`);
  await sending;
  await new Promise((r) => setTimeout(r, 100));
  server.releaseStream(a.streamId);
  server.releaseStream(b.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'call finished');
  t.equal(await server.publisher.flush(20_000), true, 'buffer flushed after NATS came back');

  const after = await scrape(server);
  t.equal(metricValue(after, 'devox_events_dropped_total', 'reason="buffer_full"'), 0);
  t.ok(metricValue(after, 'devox_nats_disconnects_total') >= 1);
  t.ok(metricValue(after, 'devox_nats_reconnects_total') >= 1);
  t.equal(metricValue(after, 'devox_nats_connected'), 1);

  const stored = (await readStoredEvents(nats.url, 'DEVOX')).map((s) => s.event);
  const verdicts = stored.filter((e) => e.type === 'verdict.changed');
  t.same(
    verdicts.map((e) => ({ streamId: e.streamId, label: (e as { label: VerdictLabel }).label })),
    seen,
    'every verdict the server decided is on JetStream, in order',
  );
  t.ok(seen.length >= 2, `verdicts decided: ${seen.length}`);
  for (const [i, id] of [a.streamId, b.streamId].entries()) {
    const evs = stored.filter((e) => e.streamId === id);
    t.same(evs.map((e) => e.seq), evs.map((_, k) => k), 'per-stream seq complete and ordered (no gap, no duplicate)');
    t.equal(evs.filter((e) => e.type === 'window.scored').length, counters[i]!.windowsEmitted, 'every window delivered');
    t.equal(evs[0]!.type, 'call.started');
    t.equal(evs.at(-1)!.type, 'call.ended');
  }
});

t.test('wrong NATS credentials: clear start-up error (library and `devox serve`)', needsNats, async (t) => {
  const nats = await NatsServer.start({ user: 'devox', pass: 'right-pass' });
  t.teardown(() => nats.close());
  const err = await startTestServer({ nats: { servers: [nats.url], user: 'devox', pass: 'wrong-pass' } }).then(
    (s) => s.close().then(() => null),
    (e: unknown) => e,
  );
  t.ok(err instanceof NatsPublisherError, 'NatsPublisherError');
  t.equal((err as NatsPublisherError).code, 'auth');

  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-port', '0', '--model', testModelDir()], {
    DEVOX_NATS_SERVERS: nats.url, DEVOX_NATS_USER: 'devox', DEVOX_NATS_PASS: 'wrong-pass', DEVOX_LOG_LEVEL: 'error',
  });
  const code = await Promise.race([run.exited, new Promise<string>((r) => setTimeout(r, 30_000, 'still running after 30 s'))]);
  const stderr = run.stderr();
  t.equal(code, 1, 'devox serve exits 1');
  t.match(stderr, /cannot start: NATS nats:\/\/127\.0\.0\.1:\d+: the server refused our credentials/, 'one clear line on stderr (the fatal log line; issue 14: said once)');
  t.equal(stderr.split('\n').filter((l) => l.includes('refused our credentials')).length, 1, 'and only once');
  t.notMatch(stderr, /DEVOX_NATS_PASS=wrong-pass|wrong-pass/, 'the password is not printed');
});

t.test('model swap under load drops no window', needsNats, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  // A second version of the served model: same network, different card version.
  const modelDir = testModelDir();
  const dir = mkdtempSync(join(tmpdir(), 'devox-model-b-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(modelDir, dir, { recursive: true });
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8'));
  card.version = `${card.version}-b`;
  writeFileSync(join(dir, 'card.json'), JSON.stringify(card, null, 2));

  const server = await startTestServer({ nats: { servers: [nats.url] }, detect: { modelDir } });
  t.teardown(() => server.close());
  const legs = await Promise.all(
    Array.from({ length: 12 }, (_, i) => server.openStream({ callId: `swap-${i >> 1}`, leg: i % 2 ? 'callee' : 'caller', codec: i % 3 === 0 ? 'opus' : 'PCMU' })),
  );
  const counters = legs.map((l) => server.media.get(l.streamId)!.counters);
  const sending = Promise.all(legs.map((l, i) => sendFile(l, i % 2 ? GENUINE_FILE : SYNTHETIC_FILE, { maxSec: 4 })));
  await new Promise((r) => setTimeout(r, 1500));
  await server.swapModel(dir);
  await new Promise((r) => setTimeout(r, 1000));
  await server.swapModel(modelDir);
  await sending;
  await new Promise((r) => setTimeout(r, 100));
  const emitted = counters.reduce((a, c) => a + c.windowsEmitted, 0);
  for (const l of legs) server.releaseStream(l.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'calls finished');
  t.equal(await server.publisher.flush(10_000), true);

  const stats = server.pipeline.stats;
  t.equal(stats.shed, 0, 'no window shed');
  t.equal(stats.scored, emitted, `windows scored (${stats.scored}) == windows media emitted (${emitted})`);
  const windows = (await readStoredEvents(nats.url, 'DEVOX', 'devox.call.*.window')).map((s) => s.event);
  t.equal(windows.length, emitted, 'one window.scored event per emitted window');
  const versions = new Set(windows.map((e) => e.modelVersion));
  t.ok(versions.has(card.version), `windows scored by the swapped-in version (${[...versions].join(', ')})`);
  t.ok(versions.has(card.version.slice(0, -2)), 'and by the original');
  const text = await scrape(server);
  t.equal(metricValue(text, 'devox_model_swaps_total', 'result="ok"'), 2);
  const original = String(card.version).slice(0, -2).replace(/[.+]/g, '\\$&');
  t.match(text, new RegExp(`devox_model_info\\{name="[^"]+",version="${original}",band="[^"]+"\\} 1`), 'model info follows the swap');
});
