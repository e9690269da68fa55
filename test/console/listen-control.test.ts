/**
 * The console's listen-in rules (listen-control.ts) against a real call board fed with real
 * events and a stand-in audio path: refusals with their status and audit line, the leg picked
 * when none is named, one listen-in per listener slot, answers and stops only by the session
 * that started them, and every way one ends (stopped, leg ended, max duration, signed out,
 * page gone, shutdown), each audited once and told to the page's event stream.
 */
import t from 'tap';
import type { WindowScore } from '../../src/detect/types.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import type { AuditRecord } from '../../src/console/audit.js';
import { CallBoard } from '../../src/console/call-board.js';
import { ListenControl, type ListenBackend } from '../../src/console/listen-control.js';
import type { Session } from '../../src/console/sessions.js';
import { callEnded, callStarted, verdictChanged, windowScored } from '../../src/verdicts/events.js';
import type { CallVerdictSummary, Evidence } from '../../src/verdicts/types.js';
import { waitFor } from '../helpers/wait.js';

const T0 = Date.now();
const ev: Evidence = { speechSec: 1, windows: 4, speechWindows: 4, score: 0.5 };

function leg(callId: string, streamId: string, name: string): StreamDescriptor {
  return { streamId, callId, leg: name, transport: 'rtp' };
}
function win(stream: StreamDescriptor, seq: number, score: number): WindowScore {
  return { stream, seq, score, speechRatio: 1, rmsDbfs: -20, lostRatio: 0, mediaStartSec: seq * 0.25, mediaEndSec: seq * 0.25 + 1, arrivalMs: T0, readyMs: T0, scoredMs: T0, batchSize: 1, modelVersion: 'm-1' };
}

/** Call c1: caller genuine, callee synthetic (both live), agent ended, and a live leg another node holds. */
function board(): CallBoard {
  const b = new CallBoard({ sparklinePoints: 8, timelineWindows: 100, endedRetentionSec: 60, maxCalls: 10 });
  const caller = leg('c1', 's-caller', 'caller');
  const callee = leg('c1', 's-callee', 'callee');
  const agent = leg('c1', 's-agent', 'agent');
  const remote = leg('c1', 's-elsewhere', 'remote');
  b.apply(callStarted(remote, 0, T0, 'm-1', 'n2'));
  const call: CallVerdictSummary = { label: 'synthetic', suspectLeg: 'callee', suspectStreamId: 's-callee', score: 0.9 };
  for (const s of [caller, callee, agent]) b.apply(callStarted(s, 0, T0, 'm-1', 'n1'));
  b.apply(windowScored(win(caller, 0, 0.1), 1, 'genuine', ev, T0, 'n1'));
  b.apply(windowScored(win(callee, 0, 0.9), 1, 'synthetic', ev, T0, 'n1'));
  b.apply(verdictChanged(win(callee, 0, 0.9), 2, 'synthetic', 'listening', ev, call, T0, 'n1'));
  b.apply(callEnded(agent, 1, { label: 'genuine', evidence: ev, reason: 'bye', mediaTimeSec: 2, call, lastLeg: false, wallTimeMs: T0, modelVersion: 'm-1', node: 'n1' }));
  return b;
}

class FakeBackend implements ListenBackend {
  why: string | undefined;
  n = 0;
  readonly live = new Map<string, (reason: string) => void>();
  readonly closes: string[] = [];
  unavailable(): string | undefined {
    return this.why;
  }
  async open(streamId: string, onEnded: (reason: string) => void) {
    if (streamId === 's-elsewhere') return { ok: false as const, code: 'not_found' as const, message: 'no such live leg on this DevoX node' };
    const id = `L${++this.n}`;
    this.live.set(id, onEnded);
    return { ok: true as const, id, offer: 'v=0 offer', stream: { streamId, callId: 'c1', leg: streamId.slice(2) } };
  }
  async answer(id: string, sdp: string) {
    if (!this.live.has(id)) return { ok: false as const, code: 'not_found' as const, message: 'gone' };
    return sdp.startsWith('v=0') ? { ok: true as const } : { ok: false as const, code: 'bad_request' as const, message: 'answer is not parseable SDP' };
  }
  close(id: string, reason: string): void {
    this.end(id, reason);
  }
  /** The audio path ends a session by itself (leg ended, DTLS closed...). */
  end(id: string, reason: string): void {
    const cb = this.live.get(id);
    if (!cb) return;
    this.live.delete(id);
    this.closes.push(`${id}:${reason}`);
    cb(reason);
  }
}

function setup(over: { maxListeners?: number; maxSec?: number } = {}) {
  const audit: AuditRecord[] = [];
  const sent: Array<{ sessionId: string; event: string; data: Record<string, unknown> }> = [];
  const live = new Set(['sess-a', 'sess-b']);
  const streams = new Map([['sess-a', 1], ['sess-b', 1]]);
  const backend = new FakeBackend();
  const control = new ListenControl({
    backend,
    missing: () => 'not here',
    board: board(),
    sessions: { isLive: (id) => live.has(id) },
    push: { sendTo: (sessionId, event, data) => void sent.push({ sessionId, event, data: data as Record<string, unknown> }), clientsOf: (id) => streams.get(id) ?? 0 },
    audit: { record: (r) => void audit.push(r) },
    maxListeners: over.maxListeners ?? 2,
    maxSec: over.maxSec ?? 600,
    leaveGraceMs: 200,
    checkMs: 50,
  });
  const sup = (id: string): Session => ({ id, operator: { name: id === 'sess-a' ? 'ana' : 'bob', role: 'supervisor' }, createdMs: T0, expiresMs: T0 + 3600_000 });
  return { audit, sent, live, streams, backend, control, a: sup('sess-a'), b: sup('sess-b') };
}

t.test('refusals: unavailable, no call, no such leg, an ended leg, another node, over the cap', async (t) => {
  const { control, backend, audit, a } = setup({ maxListeners: 1 });
  t.teardown(() => control.close());
  backend.why = 'no mediasoup worker: mediasoup worker not found: set MEDIASOUP_WORKER_BIN';
  t.match(control.hello(), { available: false, reason: /no mediasoup worker/, maxSec: 600 });
  t.match(await control.start(a, '10.0.0.9', { callId: 'c1' }), { status: 503, body: { error: /^listen-in unavailable: no mediasoup worker/ } });
  backend.why = undefined;
  t.match(control.hello(), { available: true });
  t.match(await control.start(a, '', {}), { status: 400 });
  t.match(await control.start(a, '', { callId: 'zz' }), { status: 404, body: { error: /no such call/ } });
  t.match(await control.start(a, '', { callId: 'c1', streamId: 's-none' }), { status: 404, body: { error: /no leg with that streamId/ } });
  t.match(await control.start(a, '', { callId: 'c1', streamId: 's-agent' }), { status: 409, body: { error: /that leg has ended/ } });
  const ok = await control.start(a, '', { callId: 'c1' });
  t.match(ok, { status: 200, body: { sdp: 'v=0 offer', callId: 'c1', leg: 'callee', streamId: 's-callee', maxSec: 600 } }, 'no leg named: the most suspect live one');
  t.match(await control.start(a, '', { callId: 'c1', streamId: 's-caller' }), { status: 429, body: { error: /at most 1 listen-ins at once/ } });
  t.equal(audit.filter((r) => r.action === 'listen_refused').length, 6, 'every refusal audited');
  t.match(audit[0], { action: 'listen_refused', operator: 'ana', role: 'supervisor', remote: '10.0.0.9', callId: 'c1', detail: /no mediasoup worker/ });
  t.match(audit.at(-1), { action: 'listen_refused', callId: 'c1', leg: 'caller', detail: /at most 1/ });
  t.match(audit.filter((r) => r.action === 'listen_started'), [{ operator: 'ana', callId: 'c1', leg: 'callee', detail: /stream s-callee, at most 600 s/ }]);
});

t.test('answer and stop: only the session that started it; each end audited once and pushed', async (t) => {
  const { control, backend, audit, sent, a, b } = setup();
  t.teardown(() => control.close());
  const r = await control.start(a, '', { callId: 'c1', streamId: 's-caller' });
  const listenId = r.body.listenId as string;
  t.match(await control.answer(b, { listenId, sdp: 'v=0 answer' }), { status: 404 }, "another supervisor cannot answer ana's");
  t.match(await control.answer(a, { listenId, sdp: 'garbage' }), { status: 400, body: { error: /not parseable/ } });
  t.match(await control.answer(a, { listenId }), { status: 400 });
  t.match(await control.answer(a, { listenId, sdp: 'v=0 answer' }), { status: 200 });
  t.match(control.stop(b, { listenId }), { status: 404 }, 'nor stop it');
  t.match(control.stop(a, { listenId }), { status: 200, body: { stopped: true } });
  t.match(control.stop(a, { listenId }), { status: 404 }, 'stopped once');
  t.same(backend.closes, [`${listenId}:stopped`]);
  t.match(audit.filter((x) => x.action === 'listen_stopped'), [{ operator: 'ana', callId: 'c1', leg: 'caller', detail: /^stopped after \d+\.\d s$/ }]);
  t.same(sent, [{ sessionId: 'sess-a', event: 'listen', data: { listenId, state: 'ended', reason: 'stopped', callId: 'c1', leg: 'caller' } }]);
  t.equal(control.size, 0);

  // The audio path ends one by itself (the leg ended).
  const r2 = await control.start(a, '', { callId: 'c1', streamId: 's-callee' });
  backend.end(r2.body.listenId as string, 'leg_ended');
  t.match(audit.at(-1), { action: 'listen_stopped', leg: 'callee', detail: /^leg_ended after/ });
  t.match(sent.at(-1), { data: { reason: 'leg_ended' } });
  // A live leg another node handles: not here.
  t.match(await control.start(a, '', { callId: 'c1', streamId: 's-elsewhere' }), { status: 409, body: { error: /not on this DevoX node|no such live leg/ } });
});

t.test('ends: max duration, signed out, page gone, sign-out, shutdown', async (t) => {
  const { control, backend, a, b } = setup({ maxListeners: 4, maxSec: 0.3 });
  const first = (await control.start(a, '', { callId: 'c1', streamId: 's-caller' })).body.listenId as string;
  await waitFor(() => backend.closes.includes(`${first}:max_duration`), 5000, 'the max duration');
  const { control: c2, backend: b2, live: live2, streams: streams2, a: a2, b: bb2 } = setup();
  t.teardown(() => c2.close());
  const x = (await c2.start(a2, '', { callId: 'c1', streamId: 's-caller' })).body.listenId as string;
  const y = (await c2.start(bb2, '', { callId: 'c1', streamId: 's-callee' })).body.listenId as string;
  live2.delete('sess-a'); // expired
  await waitFor(() => b2.closes.includes(`${x}:signed_out`), 5000, 'an expired session ends its listen-in');
  streams2.set('sess-b', 0); // the page went away: no event stream
  await waitFor(() => b2.closes.includes(`${y}:left`), 5000, 'a page gone ends its listen-in');
  t.pass('max duration, expiry and a page gone each end the listen-in');
  const s1 = (await control.start(a, '', { callId: 'c1', streamId: 's-caller' })).body.listenId as string;
  const s2 = (await control.start(b, '', { callId: 'c1', streamId: 's-callee' })).body.listenId as string;
  control.endSession('sess-a');
  t.ok(backend.closes.includes(`${s1}:signed_out`), 'sign-out ends that session’s listen-ins');
  t.notOk(backend.closes.some((c) => c.startsWith(`${s2}:`)), 'not the others');
  control.close();
  t.ok(backend.closes.includes(`${s2}:shutdown`), 'shutdown ends the rest');
  t.equal(control.size, 0);
});
