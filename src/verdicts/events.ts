/**
 * Event payloads and NATS subjects. The payload shapes are in ./types.ts and, for
 * integrators, in schema/events.schema.json (tested against each other); subjects and
 * wildcard subscriptions are documented in docs/events.md.
 *
 *   <prefix>.call.<callToken>.started   call.started     (one per stream/leg)
 *   <prefix>.call.<callToken>.window    window.scored    (one per scored window, if enabled)
 *   <prefix>.call.<callToken>.verdict   verdict.changed  (a stream's label changed)
 *   <prefix>.call.<callToken>.silence   stream.silence   (a SIP leg's RTP stopped / resumed)
 *   <prefix>.call.<callToken>.ended     call.ended       (one per stream/leg)
 *   <prefix>.call.<callToken>.identity  identity.verified / identity.mismatch / identity.insufficient_speech
 */
import type { StreamDescriptor } from '../media/types.js';
import type { WindowScore } from '../detect/types.js';
import {
  EVENT_SCHEMA_VERSION,
  SUBJECT_TOKEN,
  type CallEndedEvent,
  type CallStartedEvent,
  type CallVerdictSummary,
  type EventType,
  type Evidence,
  type StreamSilenceEvent,
  type IdentityEvent,
  type IdentityEventType,
  type VerdictChangedEvent,
  type VerdictLabel,
  type WindowScoredEvent,
} from './types.js';

export type * from './types.js';
export { EVENT_SCHEMA_VERSION, SUBJECT_TOKEN } from './types.js';

/** Characters kept as-is in a subject token; everything else is escaped. */
const SAFE_TOKEN_CHAR = /[A-Za-z0-9_-]/;

/**
 * Makes a call id usable as one NATS subject token: characters other than A–Z a–z 0–9 _ -
 * (dots, wildcards, whitespace, '@', non-ASCII...) become `~XX` per UTF-8 byte (hex, upper case).
 * The mapping is reversible (see `callIdFromToken`), so two call ids never share a subject.
 * Hand-written because NATS has no standard escaping; the `~` is legal in subjects.
 */
export function callIdToToken(callId: string): string {
  if (callId.length === 0) return '~';
  let out = '';
  for (const ch of callId) {
    if (SAFE_TOKEN_CHAR.test(ch)) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '~' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/** Inverse of callIdToToken. */
export function callIdFromToken(token: string): string {
  if (token === '~') return '';
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    if (token[i] === '~') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function subjectFor(prefix: string, callId: string, type: EventType): string {
  return `${prefix}.call.${callIdToToken(callId)}.${SUBJECT_TOKEN[type]}`;
}

/** Printable ASCII other than space, `|` and `~`: kept as-is in an event id part. */
const PLAIN_ID_PART = /^[\x21-\x7B\x7D]*$/;

/**
 * Makes a call or stream id safe inside an event id: characters other than printable ASCII
 * (controls such as CR/LF, space, DEL, non-ASCII) and the `|` separator and `~` escape become
 * `~XX` per UTF-8 byte (hex, upper case). Ordinary ids (UUIDs, SIP Call-IDs, Twilio SIDs) are
 * unchanged. Injective, so distinct ids never share an event id, and the result is always a
 * legal NATS header value (nats.js refuses CR/LF in headers).
 */
export function eventIdPart(id: string): string {
  if (PLAIN_ID_PART.test(id)) return id;
  let out = '';
  for (const ch of id) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x21 && c <= 0x7e && c !== 0x7c && c !== 0x7e) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '~' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/**
 * Deterministic event id (the Nats-Msg-Id): the same event built twice — e.g. republished
 * after a reconnect — has the same id, so JetStream drops the duplicate. Call and stream ids
 * are escaped by eventIdPart, so the id is header-safe whatever the call id holds.
 */
export function eventIdFor(callId: string, streamId: string, type: EventType, windowSeq: number | null): string {
  const base = `${eventIdPart(callId)}|${eventIdPart(streamId)}|${type}`;
  return windowSeq === null ? base : `${base}|${windowSeq}`;
}

const NO_IDENTITY: Record<string, string> = Object.freeze({}) as Record<string, string>;

function base(stream: StreamDescriptor, seq: number, wallTimeMs: number, modelVersion: string, node: string | undefined) {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    ...(node ? { node } : {}),
    callId: stream.callId,
    streamId: stream.streamId,
    leg: stream.leg,
    transport: stream.transport,
    // Shared, read-only: events are serialised as they are published, never mutated.
    identity: (stream.identity ?? NO_IDENTITY) as Record<string, string>,
    seq,
    wallTime: new Date(wallTimeMs).toISOString(),
    wallTimeMs,
    modelVersion,
  };
}

export function callStarted(
  stream: StreamDescriptor,
  seq: number,
  wallTimeMs: number,
  modelVersion: string,
  node?: string,
): CallStartedEvent {
  return {
    ...base(stream, seq, wallTimeMs, modelVersion, node),
    eventId: eventIdFor(stream.callId, stream.streamId, 'call.started', null),
    type: 'call.started',
    mediaTimeSec: 0,
    label: 'listening',
  };
}

function windowTimestamps(s: WindowScore, publishedMs: number) {
  return { arrivalMs: s.arrivalMs, readyMs: s.readyMs, scoredMs: s.scoredMs, publishedMs };
}

export function windowScored(
  s: WindowScore,
  seq: number,
  label: VerdictLabel,
  evidence: Evidence,
  publishedMs: number,
  node?: string,
): WindowScoredEvent {
  return {
    ...base(s.stream, seq, publishedMs, s.modelVersion, node),
    eventId: eventIdFor(s.stream.callId, s.stream.streamId, 'window.scored', s.seq),
    type: 'window.scored',
    mediaTimeSec: s.mediaEndSec,
    windowSeq: s.seq,
    score: s.score,
    speechRatio: s.speechRatio,
    rmsDbfs: s.rmsDbfs,
    lostRatio: s.lostRatio,
    mediaStartSec: s.mediaStartSec,
    mediaEndSec: s.mediaEndSec,
    batchSize: s.batchSize,
    label,
    evidence,
    timestamps: windowTimestamps(s, publishedMs),
    latencyMs: publishedMs - s.readyMs,
  };
}

export function verdictChanged(
  s: WindowScore,
  seq: number,
  label: VerdictLabel,
  previousLabel: VerdictLabel,
  evidence: Evidence,
  call: CallVerdictSummary,
  publishedMs: number,
  node?: string,
): VerdictChangedEvent {
  return {
    ...base(s.stream, seq, publishedMs, s.modelVersion, node),
    eventId: eventIdFor(s.stream.callId, s.stream.streamId, 'verdict.changed', s.seq),
    type: 'verdict.changed',
    mediaTimeSec: s.mediaEndSec,
    windowSeq: s.seq,
    label,
    previousLabel,
    score: evidence.score,
    evidence,
    call,
    timestamps: windowTimestamps(s, publishedMs),
    latencyMs: publishedMs - s.readyMs,
  };
}

export function streamSilence(
  stream: StreamDescriptor,
  seq: number,
  args: { silent: boolean; silentSec: number; label: VerdictLabel; mediaTimeSec: number; wallTimeMs: number; modelVersion: string; node?: string },
): StreamSilenceEvent {
  return {
    ...base(stream, seq, args.wallTimeMs, args.modelVersion, args.node),
    // A stream may fall silent and resume many times: its event seq tells them apart.
    eventId: eventIdFor(stream.callId, stream.streamId, 'stream.silence', seq),
    type: 'stream.silence',
    mediaTimeSec: args.mediaTimeSec,
    silent: args.silent,
    silentSec: args.silentSec,
    label: args.label,
  };
}

export function callEnded(
  stream: StreamDescriptor,
  seq: number,
  args: {
    label: VerdictLabel;
    evidence: Evidence;
    reason: string;
    mediaTimeSec: number;
    call: CallVerdictSummary;
    lastLeg: boolean;
    wallTimeMs: number;
    modelVersion: string;
    node?: string;
  },
): CallEndedEvent {
  return {
    ...base(stream, seq, args.wallTimeMs, args.modelVersion, args.node),
    eventId: eventIdFor(stream.callId, stream.streamId, 'call.ended', null),
    type: 'call.ended',
    mediaTimeSec: args.mediaTimeSec,
    label: args.label,
    score: args.evidence.score,
    evidence: args.evidence,
    reason: args.reason,
    call: args.call,
    lastLeg: args.lastLeg,
  };
}

/** An identity decision of a leg (speaker/identity-pipeline.ts); `seq` counts the stream's identity events. */
export function identityEvent(
  stream: StreamDescriptor,
  seq: number,
  args: {
    type: IdentityEventType;
    claim: string;
    account: string | null;
    score: number | null;
    threshold: number;
    reason: string;
    windows: number;
    deepVoiceLabel: VerdictLabel;
    final: boolean;
    mediaTimeSec: number;
    wallTimeMs: number;
    modelVersion: string;
    node?: string;
  },
): IdentityEvent {
  const { wallTimeMs, modelVersion, node, ...rest } = args;
  return {
    ...base(stream, seq, wallTimeMs, modelVersion, node),
    eventId: eventIdFor(stream.callId, stream.streamId, args.type, seq),
    ...rest,
  };
}
