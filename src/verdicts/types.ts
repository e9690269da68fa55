/**
 * What other folders may import from verdicts/: verdict labels, the evidence a
 * verdict rests on, and the event payloads published on NATS (or stdout).
 * The JSON Schema in schema/events.schema.json describes the same payloads.
 */
import type { WindowScore } from '../detect/types.js';
import type { StreamDescriptor, WindowMeasures } from '../media/types.js';

export type VerdictLabel = 'listening' | 'insufficient_speech' | 'genuine' | 'suspicious' | 'synthetic';

export const VERDICT_LABELS: readonly VerdictLabel[] = [
  'listening',
  'insufficient_speech',
  'genuine',
  'suspicious',
  'synthetic',
];

/** Accumulated evidence behind a stream's current label. */
export interface Evidence {
  /** Seconds of speech seen so far (new media time of speech windows, weighted by their speech ratio). */
  speechSec: number;
  /** Windows seen so far (speech or not). */
  windows: number;
  /** Windows that counted as evidence (speechRatio >= verdict.minWindowSpeechRatio). */
  speechWindows: number;
  /** Smoothed probability of "synthetic" over speech windows (0..1); 0 until the first speech window. */
  score: number;
}

export interface VerdictUpdate {
  label: VerdictLabel;
  /** True when this update moved the stream to a new label. */
  changed: boolean;
  evidence: Evidence;
}

export const EVENT_SCHEMA_VERSION = 1 as const;

export type IdentityEventType = 'identity.verified' | 'identity.mismatch' | 'identity.insufficient_speech';

export type EventType = 'call.started' | 'window.scored' | 'verdict.changed' | 'stream.silence' | 'call.ended' | IdentityEventType;

/** Subject token of each event type: `<prefix>.call.<callId>.<token>`. */
export const SUBJECT_TOKEN: Readonly<Record<EventType, string>> = {
  'call.started': 'started',
  'window.scored': 'window',
  'verdict.changed': 'verdict',
  'stream.silence': 'silence',
  'call.ended': 'ended',
  'identity.verified': 'identity',
  'identity.mismatch': 'identity',
  'identity.insufficient_speech': 'identity',
};

/** Call-level verdict: the worst leg wins. */
export interface CallVerdictSummary {
  label: VerdictLabel;
  /** Leg whose label decided a suspicious/synthetic call verdict; null otherwise. */
  suspectLeg: string | null;
  suspectStreamId: string | null;
  score: number;
}

interface EventBase {
  schemaVersion: typeof EVENT_SCHEMA_VERSION;
  /** The DevoX process that saw the stream (config node.id, default its host name); absent from older nodes. */
  node?: string;
  /** Deterministic from call / stream / seq / type: doubles as the NATS Nats-Msg-Id for de-duplication. */
  eventId: string;
  type: EventType;
  callId: string;
  streamId: string;
  leg: string;
  /** Stream transport: rtp / websocket / webrtc / file. */
  transport: string;
  /** Pass-through identity fields from signaling (SIP Call-ID, callSid, custom parameters...). */
  identity: Record<string, string>;
  /** Per-stream event sequence number (0, 1, 2, ...), the order of events of one stream. */
  seq: number;
  /** Media time (seconds since the stream's first sample) the event refers to. */
  mediaTimeSec: number;
  /** Wall clock when the event was built, ISO 8601. */
  wallTime: string;
  /** Same instant, ms since the epoch. */
  wallTimeMs: number;
  modelVersion: string;
}

export interface CallStartedEvent extends EventBase {
  type: 'call.started';
  label: 'listening';
}

export interface WindowScoredEvent extends EventBase, WindowMeasures {
  type: 'window.scored';
  /** Window sequence number within the stream. */
  windowSeq: number;
  /** This window's probability of "synthetic". */
  score: number;
  batchSize: number;
  /** Stream label after this window. */
  label: VerdictLabel;
  evidence: Evidence;
  timestamps: WindowTimestamps;
  /** Window ready (cut) → event published, ms. */
  latencyMs: number;
}

export interface VerdictChangedEvent extends EventBase {
  type: 'verdict.changed';
  windowSeq: number;
  label: VerdictLabel;
  previousLabel: VerdictLabel;
  /** Smoothed probability of "synthetic" behind the label. */
  score: number;
  evidence: Evidence;
  call: CallVerdictSummary;
  timestamps: WindowTimestamps;
  latencyMs: number;
}

/**
 * A SIP leg's RTP stopped for longer than media.streamTimeoutMs (`silent` true) or came back
 * (`silent` false). The leg stays open for its dialog; speech that starts later is analysed.
 */
export interface StreamSilenceEvent extends EventBase {
  type: 'stream.silence';
  silent: boolean;
  /** How long no RTP had arrived when the change was seen, seconds (0 on a resume). */
  silentSec: number;
  /** Label of the stream at that moment (unchanged by the silence). */
  label: VerdictLabel;
}

export interface CallEndedEvent extends EventBase {
  type: 'call.ended';
  /** Final label of this stream. */
  label: VerdictLabel;
  score: number;
  evidence: Evidence;
  reason: string;
  /** Call-level verdict over every leg seen so far. */
  call: CallVerdictSummary;
  /** True on the call.ended of the call's last live leg: the call verdict is final. */
  lastLeg: boolean;
}

/** Wall-clock milestones of the window behind an event, ms since the epoch. */
export interface WindowTimestamps {
  /** Packet holding the window's last sample arrived. */
  arrivalMs: number;
  /** Window cut by media. */
  readyMs: number;
  /** Model output available. */
  scoredMs: number;
  /** Event handed to the publisher. */
  publishedMs: number;
}

/**
 * Who is speaking (speaker/identity-pipeline.ts, docs/speaker.md): the leg's voice against the
 * claimed account's enrolment. `modelVersion` is the speaker model's; identity events number
 * their own `seq` per stream (0, 1, ...), apart from the deep-voice events.
 */
export interface IdentityEvent extends EventBase {
  type: IdentityEventType;
  /** The claimed account ('' when identifying 1:N without a claim). */
  claim: string;
  /** The account the voice was compared with and matched best (the claim, or the 1:N best); null when none. */
  account: string | null;
  /** Cosine of the leg's mean speaker embedding to the account's enrolment; null when not computed. */
  score: number | null;
  /** The decision threshold on `score`. */
  threshold: number;
  /** Why: voice_matches, voice_differs, synthetic_voice, suspicious_voice, deep_voice_undecided, too_little_speech, not_enrolled, enrolment_model_changed, identified, not_identified. */
  reason: string;
  /** Speaker windows embedded so far. */
  windows: number;
  /** The leg's deep-voice label when the decision was made (identity is never verified while it is synthetic). */
  deepVoiceLabel: VerdictLabel;
  /** True on the decision made when the leg ended. */
  final: boolean;
}

export type DevoxEvent = CallStartedEvent | WindowScoredEvent | VerdictChangedEvent | StreamSilenceEvent | CallEndedEvent | IdentityEvent;

/**
 * What the verdict pipeline reports, without verdicts/ knowing prom-client (observability
 * implements it). All methods optional; called on the scoring path, so keep them cheap.
 */
export interface VerdictObserver {
  /** A stream started; `liveCalls` counts calls with a live stream now. */
  streamStarted?(stream: StreamDescriptor, liveCalls: number): void;
  /** Every scored window the detector handed in (also of streams already finished). */
  scored?(s: WindowScore): void;
  /**
   * A window of a live stream was judged and its events handed to the publisher at
   * `publishedMs`; `speech` when it counted as speech evidence.
   */
  judged?(s: WindowScore, speech: boolean, publishedMs: number): void;
  /** A stream's label changed; `firstDecision` on its first genuine / suspicious / synthetic label. */
  verdictChanged?(label: VerdictLabel, previous: VerdictLabel, firstDecision: boolean, mediaTimeSec: number): void;
  /** A stream ended: its label moved from `before` to the final `label`; `liveCalls` as above. */
  streamEnded?(stream: StreamDescriptor, before: VerdictLabel, label: VerdictLabel, liveCalls: number): void;
}
