/**
 * The soak's arithmetic and judgement (bench/soak/window-ledger.ts, verdict.ts), without a server:
 * windows expected from frames sent, the RSS drift window, and which checks fail on a lost window
 * or event.
 */
import t from 'tap';
import { windowsFor, WindowLedger } from '../../bench/soak/window-ledger.js';
import { judge, rssDrift, type FinalState, type Sample } from '../../bench/soak/verdict.js';
import type { ServerSample } from '../../bench/soak/server-metrics.js';
import { awaitRespawn } from '../../bench/soak/faults.js';

const shape = { lengthMs: 1000, hopMs: 250 };

t.test('windows from media time: the first at one window length, then one per hop', async (t) => {
  t.equal(windowsFor(0, shape), 0);
  t.equal(windowsFor(49, shape), 0, '980 ms: no window yet');
  t.equal(windowsFor(50, shape), 1, '1 s: the first window');
  t.equal(windowsFor(62, shape), 1, '1.24 s');
  t.equal(windowsFor(63, shape), 2, '1.26 s: 1.25 s cut');
  t.equal(windowsFor(400, shape), 29, '8 s: windows end at 1.0, 1.25 ... 8.0 s');
  const l = new WindowLedger(shape);
  l.begin(1);
  l.begin(2);
  l.progress(1, 100);
  l.progress(2, 400);
  l.end(1, 150);
  l.progress(3, 999); // unknown call: ignored
  t.equal(l.expected, windowsFor(150, shape) + windowsFor(400, shape));
  t.equal(l.mediaSec, 11);
});

function server(over: Partial<ServerSample> = {}): ServerSample {
  return {
    rssBytes: 100 * 2 ** 20, heapUsedBytes: 0, loopP50Ms: 0, loopP99Ms: 0, loopMaxMs: 0,
    windowsReceived: 100, windowsScored: 90, windowsQueued: 0, shed: { queue_delay: 10 },
    eventsPublished: 120, eventsDropped: { buffer_full: 0 }, eventsBuffered: 0, activeStreams: { rtp: 0 },
    natsConnected: 1, rtpPacketsReceived: 0, rtpPacketsLost: 0, rtpPacketsLate: 0, wsClosed: {}, streamsRefused: 0,
    webrtcWorkers: 0, webrtcWorkersLive: 0,
    ...over,
  };
}

const sample = (tSec: number, rssMiB: number): Sample => ({
  tSec, server: server({ rssBytes: rssMiB * 2 ** 20 }), jetstream: 0, expected: 0, liveCalls: 0, sendLateP99Ms: { rtp: null, ws: null },
});

function final(over: Partial<FinalState> = {}): FinalState {
  return {
    drained: true, expected: 100, server: server(), jetstream: 120,
    calls: { started: { rtp: 1, ws: 1 }, ended: { rtp: 1, ws: 1 }, live: { rtp: 0, ws: 0 }, failed: {}, abnormalCloses: {}, goneBeforeDelete: 0 },
    faults: [], skipped: [], serverExit: { exitCode: 0, killed: false, diedDuringRun: false },
    ...over,
  };
}

t.test('RSS drift: from the first sample at or after the start to the last, judged over two intervals', async (t) => {
  const samples = [sample(60, 200), sample(120, 100), sample(180, 102), sample(240, 104)];
  const d = rssDrift(samples, 120, 60);
  t.ok(typeof d !== 'string' && Math.abs(d.pct - 4) < 1e-9 && d.from.tSec === 120 && d.to.tSec === 240);
  t.match(rssDrift(samples, 200, 60) as string, /^not judged/);
  const v = judge(samples, final(), { driftFromSec: 120, sampleS: 60, rssDriftMaxPct: 3 });
  t.equal(v.checks.find((c) => c.name === 'RSS drift after warm-up')!.ok, false, '4 % > 3 %');
  t.equal(v.pass, false);
});

t.test('every window and event accounted for passes; one missing fails its check', async (t) => {
  const o = { driftFromSec: 0, sampleS: 60, rssDriftMaxPct: 5 };
  const ok = judge([], final(), o);
  t.equal(ok.pass, true, JSON.stringify(ok.checks.filter((c) => c.ok === false)));
  const failed = (f: FinalState) => judge([], f, o).checks.filter((c) => c.ok === false).map((c) => c.name);
  t.strictSame(failed(final({ expected: 101 })), ['windows: expected = received']);
  t.strictSame(failed(final({ server: server({ windowsScored: 89 }) })), ['windows: received = scored + shed']);
  t.strictSame(failed(final({ jetstream: 119 })), ['events: published = in JetStream']);
  t.strictSame(failed(final({ server: server({ eventsDropped: { buffer_full: 3 } }) })), ['events: none dropped or left buffered']);
  t.strictSame(failed(final({ serverExit: { exitCode: 1, killed: false, diedDuringRun: false } })), ['server: up throughout, clean shutdown']);
});

t.test('worker kill: the fault holds only once the metrics show the death and then every worker alive again', async (t) => {
  const seq = (states: Array<[number, number] | undefined>) => {
    let i = 0;
    return async () => {
      const s = states[Math.min(i++, states.length - 1)];
      return s ? { webrtcWorkers: s[0], webrtcWorkersLive: s[1] } : undefined;
    };
  };
  const back = await awaitRespawn(seq([[2, 1], undefined, [2, 1], [2, 2]]), 5_000);
  t.ok(back.ok, back.detail);
  t.match(back.detail, /2 of 2 workers alive again/);
  const never = await awaitRespawn(seq([[2, 1]]), 600);
  t.notOk(never.ok);
  t.match(never.detail, /not respawned within 0\.6 s: 1 of 2 workers alive/);
  const unseen = await awaitRespawn(seq([[2, 2]]), 600);
  t.notOk(unseen.ok, 'all alive without a death seen is no respawn');
  t.match(unseen.detail, /never showed the death/);
});
