/**
 * The console's call board fed with events made by the real event builders (verdicts/events.ts,
 * what the pipeline publishes): per-call coalescing, duplicate re-deliveries ignored, an alert
 * per transition to suspicious / synthetic, ended calls kept for endedRetentionSec then removed,
 * the oldest ended calls evicted first over maxCalls, ingress names.
 */
import t from 'tap';
import type { WindowScore } from '../../src/detect/types.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import { CallBoard, ingressOf } from '../../src/console/call-board.js';
import { callEnded, callStarted, verdictChanged, windowScored } from '../../src/verdicts/events.js';
import type { CallVerdictSummary, DevoxEvent, Evidence } from '../../src/verdicts/types.js';

const T0 = 1_765_000_000_000;

function leg(callId: string, streamId: string, legName = 'caller'): StreamDescriptor {
  return { streamId, callId, leg: legName, transport: 'rtp', identity: { from: '+15550100', to: '+15550199', tenant: 'acme', 'param.queue': 'vip' } };
}

function win(stream: StreamDescriptor, seq: number, score: number): WindowScore {
  return {
    stream, seq, score, speechRatio: 0.9, rmsDbfs: -20, lostRatio: 0.01,
    mediaStartSec: seq * 0.25, mediaEndSec: seq * 0.25 + 1, arrivalMs: T0, readyMs: T0, scoredMs: T0, batchSize: 8, modelVersion: 'm-1',
  };
}

/** A stream's events: started, n windows (synthetic from window 4, with its verdict change), ended. */
function callEvents(stream: StreamDescriptor, n: number, atMs: number): DevoxEvent[] {
  const ev = (w: number): Evidence => ({ speechSec: w * 0.25, windows: w + 1, speechWindows: w + 1, score: w >= 4 ? 0.8 : 0.3 });
  const call: CallVerdictSummary = { label: 'synthetic', suspectLeg: stream.leg, suspectStreamId: stream.streamId, score: 0.8 };
  const out: DevoxEvent[] = [callStarted(stream, 0, atMs, 'm-1', 'node-1')];
  let seq = 1;
  for (let w = 0; w < n; w++) {
    out.push(windowScored(win(stream, w, w >= 4 ? 0.9 : 0.2), seq++, w >= 4 ? 'synthetic' : 'listening', ev(w), atMs + w * 250, 'node-1'));
    if (w === 4) out.push(verdictChanged(win(stream, w, 0.9), seq++, 'synthetic', 'listening', ev(w), call, atMs + w * 250, 'node-1'));
  }
  out.push(callEnded(stream, seq, { label: 'synthetic', evidence: ev(n - 1), reason: 'bye', mediaTimeSec: n * 0.25 + 0.75, call, lastLeg: true, wallTimeMs: atMs + n * 250, modelVersion: 'm-1', node: 'node-1' }));
  return out;
}

const options = { sparklinePoints: 8, timelineWindows: 100, endedRetentionSec: 60, maxCalls: 3, thresholds: () => ({ suspicious: 0.2, synthetic: 0.6 }) };

t.test('coalesces, de-duplicates, alerts and keeps ended calls for a while', async (t) => {
  const board = new CallBoard(options);
  const events = callEvents(leg('c1', 's1'), 10, T0);
  for (const e of events) board.apply(e);
  for (const e of events.slice(0, 5)) board.apply(e); // re-delivered (a JetStream consumer restarting)
  const d = board.takeDelta(T0 + 5000)!;
  t.equal(d.calls.length, 1, 'one update for the call, however many events');
  const c = d.calls[0]!;
  t.match(c, { callId: 'c1', node: 'node-1', ingress: 'rtp', caller: '+15550100', callee: '+15550199', tenant: 'acme', params: { queue: 'vip' }, label: 'synthetic', modelVersion: 'm-1' });
  t.equal(c.endedMs, T0 + 10 * 250, 'ended');
  t.equal(c.legs[0]!.windows, 10, 're-delivered windows not counted twice');
  t.same(c.legs[0]!.spark, [0.2, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 'a first delta: the last sparklinePoints window scores, oldest first');
  t.equal(c.legs[0]!.sparkTail, true);
  t.same(board.snapshot(T0 + 5000).calls[0]!.legs[0]!.spark.length, 8, 'a snapshot: the full sparkline');
  t.equal(d.alerts.length, 1, 'one alert for the transition');
  t.match(d.alerts[0], { callId: 'c1', leg: 'caller', label: 'synthetic', previousLabel: 'listening', node: 'node-1', ack: null });
  t.equal(board.takeDelta(T0 + 5000), undefined, 'nothing new');

  const detail = board.detail('c1')!;
  t.equal(detail.timelines[0]!.t.length, 10);
  t.same(detail.timelines[0]!.thresholds, { suspicious: 0.2, synthetic: 0.6 });
  t.equal(detail.verdicts.length, 1);
  t.ok(detail.events.some((e) => (e as DevoxEvent).type === 'call.ended'));

  t.match(board.acknowledge(d.alerts[0]!.id, 'ana', T0 + 6000), { ack: { by: 'ana', atMs: T0 + 6000 } });
  t.match(board.assign(d.alerts[0]!.id, 'carla'), { assignee: 'carla' });
  t.same(board.takeDelta(T0 + 6000)!.alerts.map((a) => a.assignee), ['carla'], 'alert changes pushed');

  t.equal(board.takeDelta(T0 + 2500 + 59_000), undefined, 'still shown within endedRetentionSec');
  t.same(board.takeDelta(T0 + 2500 + 60_000)!.removed, ['c1'], 'then removed');
  t.equal(board.size, 0);
});

t.test('deltas carry only the window scores since the previous push', async (t) => {
  const board = new CallBoard(options);
  const events = callEvents(leg('c1', 's1'), 10, T0);
  const sent: number[] = [];
  for (const e of events) {
    board.apply(e);
    const d = board.takeDelta(T0);
    if (d?.calls[0]) sent.push(...d.calls[0].legs[0]!.spark);
  }
  t.same(sent, [0.2, 0.2, 0.2, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], 'every window score pushed once, in order');
});

t.test('over maxCalls the oldest ended call goes first; a second leg joins its call', async (t) => {
  const board = new CallBoard(options);
  const a = callEvents(leg('a', 'sa'), 6, T0);
  for (const e of a) board.apply(e);
  for (const e of callEvents(leg('b', 'sb'), 6, T0 + 1000).slice(0, 3)) board.apply(e);
  for (const e of callEvents(leg('b', 'sb2', 'callee'), 6, T0 + 1000).slice(0, 3)) board.apply(e);
  for (const e of callEvents(leg('c', 'sc'), 6, T0 + 2000).slice(0, 3)) board.apply(e);
  t.same(board.snapshot(T0 + 3000).calls.find((c) => c.callId === 'b')!.legs.map((l) => l.leg), ['caller', 'callee']);
  for (const e of callEvents(leg('d', 'sd'), 6, T0 + 3000).slice(0, 1)) board.apply(e);
  t.same(board.snapshot(T0 + 3000).calls.map((c) => c.callId).sort(), ['b', 'c', 'd'], 'the ended call a evicted, live ones kept');
});

t.test('ingress names', async (t) => {
  t.equal(ingressOf('websocket', { protocol: 'twilio' }), 'twilio');
  t.equal(ingressOf('websocket', { protocol: 'fork' }), 'fork');
  t.equal(ingressOf('websocket', {}), 'websocket');
  t.equal(ingressOf('rtp', { siprecStreamId: 'x', participantAor: 'sip:a@b' }), 'siprec');
  t.equal(ingressOf('rtp', { participantAor: 'sip:a@b' }), 'sip');
  t.equal(ingressOf('rtp', {}), 'rtp');
  t.equal(ingressOf('webrtc', {}), 'webrtc');
});
