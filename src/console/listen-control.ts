/**
 * The console's side of listen-in: who may listen to what, for how long, and the audit trail.
 * The audio path itself is the ListenBackend's (signaling/webrtc/listen-in.ts, wired by
 * server.ts; the console imports nothing of it). Supervisors only (the routes check the role);
 * at most console.listen.maxListeners at once on this node; each ends after
 * console.listen.maxSec, when its leg ends, when the supervisor stops it, signs out or leaves
 * (no event stream of the session for LEAVE_GRACE_MS: the page was closed), or when ICE/DTLS
 * end. Every start, refusal and end is audited (`listen_started`, `listen_refused`,
 * `listen_stopped` with why and how long); the page hears of an end on its event stream
 * (`listen` event). Nothing of the audio is kept.
 */
import type { AuditLog, AuditRecord } from './audit.js';
import type { CallBoard } from './call-board.js';
import type { PushHub } from './push-hub.js';
import type { Session, Sessions } from './sessions.js';
import type { CallSummary, LegSummary } from './types.js';

/** Why the console ends a listen-in (the backend adds its own: leg_ended, dtls_closed...). */
export type ListenStopReason = 'stopped' | 'max_duration' | 'signed_out' | 'left' | 'shutdown';

/** The audio path (signaling/webrtc/listen-in.ts implements it). */
export interface ListenBackend {
  /** Why listen-in cannot start now, or undefined. */
  unavailable(): string | undefined;
  open(
    streamId: string,
    onEnded: (reason: string) => void,
  ): Promise<{ ok: true; id: string; offer: string; stream: { streamId: string; callId: string; leg: string } } | { ok: false; code: 'not_found' | 'unavailable'; message: string }>;
  answer(id: string, sdp: string): Promise<{ ok: true } | { ok: false; code: 'not_found' | 'bad_request'; message: string }>;
  close(id: string, reason: ListenStopReason): void;
}

/** A page whose event stream has been gone this long has left (EventSource reconnects within 2 s). */
const LEAVE_GRACE_MS = 10_000;
const CHECK_MS = 1000;
const RANK: Record<string, number> = { listening: 0, insufficient_speech: 1, genuine: 2, suspicious: 3, synthetic: 4 };

export type ListenReply = { status: number; body: Record<string, unknown> };

interface Listening {
  id: string;
  sessionId: string;
  operator: string;
  role: string;
  remote: string;
  callId: string;
  leg: string;
  streamId: string;
  startedMs: number;
  timer: NodeJS.Timeout;
  /** When the session was last seen without an event stream (0: it has one). */
  goneSinceMs: number;
}

export interface ListenControlOptions {
  backend: ListenBackend | undefined;
  /** Why there is no backend (no listen-in in this process). */
  missing: () => string;
  board: Pick<CallBoard, 'call'>;
  sessions: Pick<Sessions, 'isLive'>;
  push: Pick<PushHub, 'sendTo' | 'clientsOf'>;
  audit: Pick<AuditLog, 'record'>;
  maxListeners: number;
  maxSec: number;
  /** Default LEAVE_GRACE_MS and CHECK_MS (tests shorten them). */
  leaveGraceMs?: number;
  checkMs?: number;
}

export class ListenControl {
  readonly #o: ListenControlOptions;
  readonly #live = new Map<string, Listening>();
  readonly #sweep: NodeJS.Timeout;
  /** Opens under way (they count against maxListeners). */
  #opening = 0;

  constructor(o: ListenControlOptions) {
    this.#o = o;
    this.#sweep = setInterval(() => this.#check(), o.checkMs ?? CHECK_MS);
    this.#sweep.unref();
  }

  /** Why listen-in cannot be offered now, or undefined. */
  unavailable(): string | undefined {
    return this.#o.backend ? this.#o.backend.unavailable() : this.#o.missing();
  }

  get size(): number {
    return this.#live.size;
  }

  /** What the page is told in its hello. */
  hello(): { available: boolean; reason?: string; maxSec: number } {
    const why = this.unavailable();
    return why === undefined ? { available: true, maxSec: this.#o.maxSec } : { available: false, reason: why, maxSec: this.#o.maxSec };
  }

  /** POST listen {callId, streamId?}: without streamId, the call's most suspect live leg. */
  async start(s: Session, remote: string, body: Record<string, unknown>): Promise<ListenReply> {
    const callId = typeof body.callId === 'string' ? body.callId : '';
    const who = { operator: s.operator.name, role: s.operator.role, remote, ...(callId ? { callId } : {}) };
    const refuse = (status: number, error: string, leg?: string): ListenReply => {
      this.#audit({ action: 'listen_refused', ...who, ...(leg ? { leg } : {}), detail: error });
      return { status, body: { error } };
    };
    const why = this.unavailable();
    if (why !== undefined || !this.#o.backend) return refuse(503, `listen-in unavailable: ${why ?? 'not built into this process'}`);
    if (!callId) return refuse(400, 'callId is required');
    const call = this.#o.board.call(callId);
    if (!call) return refuse(404, 'no such call on the console');
    const leg = pickLeg(call, typeof body.streamId === 'string' ? body.streamId : undefined);
    if (typeof leg === 'string') return refuse(leg.startsWith('no leg') ? 404 : 409, leg);
    if (this.#live.size + this.#opening >= this.#o.maxListeners) {
      return refuse(429, `at most ${this.#o.maxListeners} listen-ins at once on this node (console.listen.maxListeners)`, leg.leg);
    }
    const backend = this.#o.backend;
    // An end the backend reports before this method has the session (it cannot, but if): kept here.
    const ref: { id?: string; endedEarly?: string } = {};
    this.#opening++;
    let opened: Awaited<ReturnType<ListenBackend['open']>>;
    try {
      opened = await backend.open(leg.streamId, (reason) => (ref.id ? this.#ended(ref.id, reason) : (ref.endedEarly = reason)));
    } finally {
      this.#opening--;
    }
    if (!opened.ok) return refuse(opened.code === 'unavailable' ? 503 : 409, opened.message, leg.leg);
    const id = opened.id;
    if (ref.endedEarly !== undefined) return refuse(409, `listen-in ended at once: ${ref.endedEarly}`, leg.leg);
    if (opened.stream.callId !== callId) {
      backend.close(id, 'stopped');
      return refuse(409, 'that leg belongs to another call', leg.leg);
    }
    ref.id = id;
    const l: Listening = {
      id,
      sessionId: s.id,
      ...who,
      callId,
      leg: opened.stream.leg,
      streamId: leg.streamId,
      startedMs: Date.now(),
      timer: setTimeout(() => backend.close(id, 'max_duration'), this.#o.maxSec * 1000),
      goneSinceMs: 0,
    };
    l.timer.unref();
    this.#live.set(l.id, l);
    this.#audit({ action: 'listen_started', ...who, leg: l.leg, detail: `stream ${l.streamId}, at most ${this.#o.maxSec} s` });
    return { status: 200, body: { listenId: l.id, sdp: opened.offer, callId, leg: l.leg, streamId: l.streamId, maxSec: this.#o.maxSec } };
  }

  /** POST listen/answer {listenId, sdp}: the page's SDP answer. */
  async answer(s: Session, body: Record<string, unknown>): Promise<ListenReply> {
    const l = this.#own(s, body);
    if (!l) return { status: 404, body: { error: 'no such listen-in of yours (it ended)' } };
    if (typeof body.sdp !== 'string' || body.sdp.length > 20000) return { status: 400, body: { error: 'sdp (the SDP answer) is required' } };
    const r = await this.#o.backend!.answer(l.id, body.sdp);
    return r.ok ? { status: 200, body: { listenId: l.id } } : { status: r.code === 'bad_request' ? 400 : 404, body: { error: r.message } };
  }

  /** POST listen/stop {listenId}. */
  stop(s: Session, body: Record<string, unknown>): ListenReply {
    const l = this.#own(s, body);
    if (!l) return { status: 404, body: { error: 'no such listen-in of yours (it ended)' } };
    this.#o.backend!.close(l.id, 'stopped');
    return { status: 200, body: { listenId: l.id, stopped: true } };
  }

  /** A session signed out: its listen-ins end. */
  endSession(sessionId: string): void {
    for (const l of [...this.#live.values()]) if (l.sessionId === sessionId) this.#o.backend?.close(l.id, 'signed_out');
  }

  /** Ends every listen-in (shutdown); their ends are audited before this returns. */
  close(): void {
    clearInterval(this.#sweep);
    for (const l of [...this.#live.values()]) this.#o.backend?.close(l.id, 'shutdown');
  }

  #own(s: Session, body: Record<string, unknown>): Listening | undefined {
    const l = typeof body.listenId === 'string' ? this.#live.get(body.listenId) : undefined;
    return l && l.sessionId === s.id ? l : undefined;
  }

  #ended(id: string, reason: string): void {
    const l = this.#live.get(id);
    if (!l) return;
    this.#live.delete(id);
    clearTimeout(l.timer);
    const sec = (Date.now() - l.startedMs) / 1000;
    this.#audit({ action: 'listen_stopped', operator: l.operator, role: l.role, remote: l.remote, callId: l.callId, leg: l.leg, detail: `${reason} after ${sec.toFixed(1)} s` });
    this.#o.push.sendTo(l.sessionId, 'listen', { listenId: l.id, state: 'ended', reason, callId: l.callId, leg: l.leg });
  }

  /** Sessions that signed out, expired or left end their listen-ins. */
  #check(now = Date.now()): void {
    for (const l of [...this.#live.values()]) {
      if (!this.#o.sessions.isLive(l.sessionId, now)) {
        this.#o.backend?.close(l.id, 'signed_out');
      } else if (this.#o.push.clientsOf(l.sessionId) > 0) {
        l.goneSinceMs = 0;
      } else if (l.goneSinceMs === 0) {
        l.goneSinceMs = now;
      } else if (now - l.goneSinceMs >= (this.#o.leaveGraceMs ?? LEAVE_GRACE_MS)) {
        this.#o.backend?.close(l.id, 'left');
      }
    }
  }

  #audit(r: AuditRecord): void {
    this.#o.audit.record(r);
  }
}

/** The leg to hear: the one named, else the call's most suspect live leg; a string says why none. */
function pickLeg(call: CallSummary, streamId: string | undefined): LegSummary | string {
  if (streamId !== undefined) {
    const leg = call.legs.find((l) => l.streamId === streamId);
    if (!leg) return 'no leg with that streamId in this call';
    return leg.ended ? 'that leg has ended: there is nothing to hear' : leg;
  }
  const live = call.legs.filter((l) => !l.ended);
  if (live.length === 0) return 'every leg of this call has ended: there is nothing to hear';
  return live.reduce((a, b) => ((RANK[b.label] ?? 0) > (RANK[a.label] ?? 0) || ((RANK[b.label] ?? 0) === (RANK[a.label] ?? 0) && b.score > a.score) ? b : a));
}
