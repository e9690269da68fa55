/**
 * The console's live call-state model: DevoX events (this process's, or every node's from
 * JetStream) folded into calls, legs, window timelines, verdict history and alerts. Changes are
 * collected per call and taken by the push hub a few times a second (takeDelta), so a call
 * scored 4 times a second costs one update per push, not four. Ended calls stay for
 * console.endedRetentionSec.
 */
import type { DevoxEvent, VerdictLabel } from '../verdicts/types.js';
import type { FeedbackEvent } from '../verdicts/feedback.js';
import { Ring } from './ring.js';
import type { Alert, CallDetail, CallSummary, ConsoleDelta, FeedbackSummary, Ingress, LegSummary, LegTimeline, VerdictStep } from './types.js';

export interface CallBoardOptions {
  sparklinePoints: number;
  timelineWindows: number;
  endedRetentionSec: number;
  maxCalls: number;
  /** Thresholds of a model by version, when this process knows its card. */
  thresholds?: (modelVersion: string) => { suspicious: number; synthetic: number } | undefined;
  /** Media counters of a stream living in this process. */
  media?: (streamId: string) => Record<string, number | string> | undefined;
}

const MAX_ALERTS = 500;
const MAX_VERDICTS = 200;
const MAX_EVENTS = 120;
const KEPT_WINDOW_EVENTS = 8;

/** A leg as the board keeps it: its summary's fields, with rings in place of the sparkline array. */
interface LegState extends Omit<LegSummary, 'spark' | 'sparkTail'> {
  /** `windows` at the last delta taken: the sparkline points browsers already have. */
  pushedWindows: number;
  lastSeq: number;
  spark: Ring;
  tl: { t: Ring; s: Ring; e: Ring; sp: Ring; lost: Ring; rms: Ring };
}

interface CallState {
  callId: string;
  node: string;
  identity: Record<string, string>;
  ingress: Ingress;
  startedMs: number;
  lastMs: number;
  endedMs: number | null;
  label: VerdictLabel;
  score: number;
  suspectLeg: string | null;
  legs: Map<string, LegState>;
  verdicts: VerdictStep[];
  events: DevoxEvent[];
  windowEvents: DevoxEvent[];
  feedback: FeedbackSummary[];
}

const SHOWN_PARAMS = new Set(['param.caller', 'param.from', 'param.callee', 'param.to', 'param.tenant']);

const RANK: Record<VerdictLabel, number> = { listening: 0, insufficient_speech: 1, genuine: 2, suspicious: 3, synthetic: 4 };

export class CallBoard {
  readonly #opts: CallBoardOptions;
  readonly #calls = new Map<string, CallState>();
  readonly #alerts: Alert[] = [];
  #alertSeq = 0;
  readonly #dirty = new Set<string>();
  readonly #removed = new Set<string>();
  readonly #dirtyAlerts = new Set<Alert>();

  constructor(opts: CallBoardOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#calls.size;
  }

  /** Calls with a live leg. */
  get liveCount(): number {
    let n = 0;
    for (const c of this.#calls.values()) if (c.endedMs === null) n++;
    return n;
  }

  /** Folds in one event; duplicates and stale re-deliveries (seq not after the leg's last) are ignored. */
  apply(e: DevoxEvent): void {
    let call = this.#calls.get(e.callId);
    if (!call) {
      call = this.#newCall(e);
      this.#calls.set(e.callId, call);
      this.#evict();
    }
    let leg = call.legs.get(e.streamId);
    if (!leg) {
      leg = this.#newLeg(e);
      call.legs.set(e.streamId, leg);
      if (call.endedMs !== null && e.type !== 'call.ended') call.endedMs = null;
      // identity of later legs adds to the call's (SIPREC: one participant per leg)
      for (const [k, v] of Object.entries(e.identity)) if (!(k in call.identity)) call.identity[k] = v;
    }
    if (e.type.startsWith('identity.')) {
      // Identity events number their own seq per stream (docs/events.md): listed, not ordered with the verdicts.
      call.events.push(e);
      if (call.events.length > MAX_EVENTS) call.events.shift();
      this.#dirty.add(call.callId);
      return;
    }
    if (e.seq <= leg.lastSeq) return;
    leg.lastSeq = e.seq;
    leg.modelVersion = e.modelVersion;
    call.lastMs = Math.max(call.lastMs, e.wallTimeMs);
    switch (e.type) {
      case 'call.started':
      case 'stream.silence': // listed with the call's events in the detail view
        break;
      case 'window.scored': {
        leg.windows++;
        leg.label = e.label;
        leg.score = e.evidence.score;
        leg.lastWindowScore = e.score;
        leg.speechSec = e.evidence.speechSec;
        leg.mediaTimeSec = e.mediaEndSec;
        leg.spark.push(e.score);
        const tl = leg.tl;
        tl.t.push(e.mediaEndSec);
        tl.s.push(e.score);
        tl.e.push(e.evidence.score);
        tl.sp.push(e.speechRatio);
        tl.lost.push(e.lostRatio);
        tl.rms.push(e.rmsDbfs);
        call.windowEvents.push(e);
        if (call.windowEvents.length > KEPT_WINDOW_EVENTS) call.windowEvents.shift();
        break;
      }
      case 'verdict.changed': {
        leg.label = e.label;
        leg.score = e.score;
        leg.speechSec = e.evidence.speechSec;
        leg.mediaTimeSec = Math.max(leg.mediaTimeSec, e.mediaTimeSec);
        call.label = e.call.label;
        call.score = e.call.score;
        call.suspectLeg = e.call.suspectLeg;
        call.verdicts.push({ leg: e.leg, label: e.label, previousLabel: e.previousLabel, score: e.score, speechSec: e.evidence.speechSec, mediaTimeSec: e.mediaTimeSec, wallTimeMs: e.wallTimeMs });
        if (call.verdicts.length > MAX_VERDICTS) call.verdicts.shift();
        if (e.label === 'suspicious' || e.label === 'synthetic') this.#alert(call, leg, e.label, e.previousLabel, e.score, e.wallTimeMs);
        break;
      }
      case 'call.ended': {
        leg.label = e.label;
        leg.score = e.score;
        leg.speechSec = e.evidence.speechSec;
        leg.ended = true;
        leg.endReason = e.reason;
        call.label = e.call.label;
        call.score = e.call.score;
        call.suspectLeg = e.call.suspectLeg;
        if ([...call.legs.values()].every((l) => l.ended)) call.endedMs = e.wallTimeMs;
        break;
      }
    }
    if (e.type !== 'window.scored') {
      call.events.push(e);
      if (call.events.length > MAX_EVENTS) call.events.shift();
    }
    // The call label between verdict events: the worst live leg.
    if (e.type === 'window.scored' && RANK[leg.label] > RANK[call.label]) call.label = leg.label;
    this.#dirty.add(call.callId);
  }

  /** Folds in analyst feedback on a call (from this console or read back from NATS). */
  applyFeedback(f: FeedbackEvent): void {
    const call = this.#calls.get(f.callId);
    if (!call) return;
    if (call.feedback.some((x) => x.wallTimeMs === f.wallTimeMs && x.operator === f.operator && x.verdict === f.verdict)) return;
    call.feedback.push({ verdict: f.verdict, operator: f.operator, wallTimeMs: f.wallTimeMs, leg: f.leg ?? null });
    this.#dirty.add(call.callId);
  }

  acknowledge(alertId: number, by: string, nowMs = Date.now()): Alert | undefined {
    const a = this.#alerts.find((x) => x.id === alertId);
    if (!a) return undefined;
    a.ack = { by, atMs: nowMs };
    this.#dirtyAlerts.add(a);
    return a;
  }

  assign(alertId: number, to: string | null): Alert | undefined {
    const a = this.#alerts.find((x) => x.id === alertId);
    if (!a) return undefined;
    a.assignee = to;
    this.#dirtyAlerts.add(a);
    return a;
  }

  has(callId: string): boolean {
    return this.#calls.has(callId);
  }

  /** One call as the table shows it. */
  call(callId: string): CallSummary | undefined {
    const c = this.#calls.get(callId);
    return c ? this.#summary(c) : undefined;
  }

  /** Everything on screen now (a new browser's first message). */
  snapshot(nowMs = Date.now()): { calls: CallSummary[]; alerts: Alert[] } {
    this.#expire(nowMs);
    return { calls: [...this.#calls.values()].map((c) => this.#summary(c)), alerts: [...this.#alerts] };
  }

  /** What changed since the last call (and ended calls past retention, removed); undefined when nothing did. */
  takeDelta(nowMs = Date.now()): ConsoleDelta | undefined {
    this.#expire(nowMs);
    if (this.#dirty.size === 0 && this.#removed.size === 0 && this.#dirtyAlerts.size === 0) return undefined;
    const calls: CallSummary[] = [];
    for (const id of this.#dirty) {
      const c = this.#calls.get(id);
      if (!c) continue;
      calls.push(this.#summary(c, true));
      for (const l of c.legs.values()) l.pushedWindows = l.windows;
    }
    const delta = { calls, removed: [...this.#removed], alerts: [...this.#dirtyAlerts] };
    this.#dirty.clear();
    this.#removed.clear();
    this.#dirtyAlerts.clear();
    return delta;
  }

  detail(callId: string): CallDetail | undefined {
    const c = this.#calls.get(callId);
    if (!c) return undefined;
    const timelines: LegTimeline[] = [...c.legs.values()].map((l) => ({
      streamId: l.streamId,
      leg: l.leg,
      t: l.tl.t.toArray(2),
      s: l.tl.s.toArray(),
      e: l.tl.e.toArray(),
      sp: l.tl.sp.toArray(2),
      lost: l.tl.lost.toArray(3),
      rms: l.tl.rms.toArray(1),
      thresholds: this.#opts.thresholds?.(l.modelVersion) ?? null,
      media: this.#opts.media?.(l.streamId) ?? null,
    }));
    const events = [...c.events, ...c.windowEvents].sort((a, b) => a.wallTimeMs - b.wallTimeMs);
    return { call: this.#summary(c), timelines, verdicts: [...c.verdicts], events, alerts: this.#alerts.filter((a) => a.callId === callId) };
  }

  #newCall(e: DevoxEvent): CallState {
    return {
      callId: e.callId,
      node: e.node ?? 'unknown',
      identity: { ...e.identity },
      ingress: ingressOf(e.transport, e.identity),
      startedMs: e.wallTimeMs,
      lastMs: e.wallTimeMs,
      endedMs: null,
      label: 'listening',
      score: 0,
      suspectLeg: null,
      legs: new Map(),
      verdicts: [],
      events: [],
      windowEvents: [],
      feedback: [],
    };
  }

  #newLeg(e: DevoxEvent): LegState {
    const n = this.#opts.timelineWindows;
    return {
      streamId: e.streamId,
      leg: e.leg,
      node: e.node ?? 'unknown',
      transport: e.transport,
      label: 'listening',
      score: 0,
      lastWindowScore: null,
      speechSec: 0,
      windows: 0,
      pushedWindows: 0,
      mediaTimeSec: 0,
      modelVersion: e.modelVersion,
      ended: false,
      endReason: null,
      lastSeq: -1,
      spark: new Ring(this.#opts.sparklinePoints),
      tl: { t: new Ring(n), s: new Ring(n), e: new Ring(n), sp: new Ring(n), lost: new Ring(n), rms: new Ring(n) },
    };
  }

  #alert(call: CallState, leg: LegState, label: VerdictLabel, previousLabel: VerdictLabel, score: number, wallTimeMs: number): void {
    const a: Alert = { id: ++this.#alertSeq, callId: call.callId, streamId: leg.streamId, leg: leg.leg, node: leg.node, label, previousLabel, score, wallTimeMs, ack: null, assignee: null };
    this.#alerts.push(a);
    if (this.#alerts.length > MAX_ALERTS) this.#alerts.shift();
    this.#dirtyAlerts.add(a);
  }

  /** A call as browsers see it; `tail`: sparklines hold only the windows since the last delta. */
  #summary(c: CallState, tail = false): CallSummary {
    const legs: LegSummary[] = [...c.legs.values()].map((l) => ({
      streamId: l.streamId,
      leg: l.leg,
      node: l.node,
      transport: l.transport,
      label: l.label,
      score: round(l.score),
      lastWindowScore: l.lastWindowScore === null ? null : round(l.lastWindowScore),
      speechSec: round(l.speechSec, 1),
      windows: l.windows,
      mediaTimeSec: round(l.mediaTimeSec, 2),
      modelVersion: l.modelVersion,
      ended: l.ended,
      endReason: l.endReason,
      spark: tail ? l.spark.tail(l.windows - l.pushedWindows) : l.spark.toArray(),
      sparkTail: tail,
    }));
    const id = c.identity;
    return {
      callId: c.callId,
      node: c.node,
      ingress: c.ingress,
      caller: pick(id, ['from', 'caller', 'param.caller', 'param.from', 'participantAor', 'From']),
      callee: pick(id, ['to', 'callee', 'param.callee', 'param.to', 'receiverAors', 'To']),
      tenant: pick(id, ['tenant', 'param.tenant', 'tenantId', 'X-Tenant', 'x-tenant']),
      // custom parameters, less those already shown as caller / callee / tenant
      params: Object.fromEntries(Object.entries(id).filter(([k]) => k.startsWith('param.') && !SHOWN_PARAMS.has(k)).map(([k, v]) => [k.slice(6), v])),
      identity: id,
      startedMs: c.startedMs,
      lastMs: c.lastMs,
      endedMs: c.endedMs,
      label: c.label,
      score: round(c.score),
      suspectLeg: c.suspectLeg,
      modelVersion: legs[0]?.modelVersion ?? '',
      legs,
      feedback: c.feedback,
    };
  }

  /** Drops ended calls past retention. */
  #expire(nowMs: number): void {
    const keepMs = this.#opts.endedRetentionSec * 1000;
    for (const c of this.#calls.values()) {
      if (c.endedMs !== null && nowMs - c.endedMs >= keepMs) this.#remove(c.callId);
    }
  }

  /** Over console.maxCalls: the oldest ended calls go first, then the oldest. */
  #evict(): void {
    while (this.#calls.size > this.#opts.maxCalls) {
      let victim: CallState | undefined;
      for (const c of this.#calls.values()) {
        if (c.endedMs !== null && (!victim || c.endedMs < victim.endedMs!)) victim = c;
      }
      victim ??= this.#calls.values().next().value;
      if (!victim) return;
      this.#remove(victim.callId);
    }
  }

  #remove(callId: string): void {
    this.#calls.delete(callId);
    this.#dirty.delete(callId);
    this.#removed.add(callId);
  }
}

/** How a call reached DevoX, from its transport and identity. */
export function ingressOf(transport: string, identity: Readonly<Record<string, string>>): Ingress {
  if (transport === 'webrtc') return 'webrtc';
  if (transport === 'file') return 'file';
  if (transport === 'websocket') {
    const p = identity.protocol;
    return p === 'twilio' || p === 'telnyx' || p === 'fork' || p === 'jambonz' ? p : 'websocket';
  }
  if (identity.siprecStreamId !== undefined) return 'siprec';
  if (identity.participantAor !== undefined) return 'sip';
  return 'rtp';
}

function pick(id: Readonly<Record<string, string>>, keys: readonly string[]): string {
  for (const k of keys) {
    const v = id[k];
    if (v) return v;
  }
  return '';
}

function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
