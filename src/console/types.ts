/**
 * What the console's server parts and its page exchange: the call board's views of calls,
 * legs and alerts (JSON over SSE and the detail API). The page (web/console/console.js) reads
 * these shapes; keep them in step.
 */
import type { VerdictLabel } from '../verdicts/types.js';

/** How a call reached DevoX, as the console names it. */
export type Ingress = 'sip' | 'siprec' | 'rtp' | 'twilio' | 'telnyx' | 'fork' | 'jambonz' | 'websocket' | 'webrtc' | 'file';

export interface LegSummary {
  streamId: string;
  leg: string;
  node: string;
  transport: string;
  label: VerdictLabel;
  /** Smoothed score behind the label (what the thresholds judge). */
  score: number;
  /** Latest window's raw score, null before the first window. */
  lastWindowScore: number | null;
  speechSec: number;
  windows: number;
  mediaTimeSec: number;
  modelVersion: string;
  ended: boolean;
  endReason: string | null;
  /**
   * Window scores for the sparkline, oldest first: the last console.sparklinePoints in a snapshot
   * and a call detail; in a delta (`sparkTail`) only those scored since the previous push, to be
   * appended (the browser keeps the last sparklinePoints, using `windows` to skip any it has).
   */
  spark: number[];
  sparkTail: boolean;
}

export interface CallSummary {
  callId: string;
  node: string;
  ingress: Ingress;
  caller: string;
  callee: string;
  tenant: string;
  /** Custom parameters (identity keys `param.*`, prefix dropped). */
  params: Record<string, string>;
  identity: Record<string, string>;
  startedMs: number;
  /** Last event's wall time. */
  lastMs: number;
  /** Every leg ended: when the last one did; else null. */
  endedMs: number | null;
  label: VerdictLabel;
  score: number;
  suspectLeg: string | null;
  modelVersion: string;
  legs: LegSummary[];
  feedback: FeedbackSummary[];
}

export interface FeedbackSummary {
  verdict: string;
  operator: string;
  wallTimeMs: number;
  leg: string | null;
}

export interface Alert {
  id: number;
  callId: string;
  streamId: string;
  leg: string;
  node: string;
  label: VerdictLabel;
  previousLabel: VerdictLabel;
  score: number;
  wallTimeMs: number;
  ack: { by: string; atMs: number } | null;
  assignee: string | null;
}

export interface VerdictStep {
  leg: string;
  label: VerdictLabel;
  previousLabel: VerdictLabel;
  score: number;
  speechSec: number;
  mediaTimeSec: number;
  wallTimeMs: number;
}

/** One leg's window timeline, column-wise (index i is one window). */
export interface LegTimeline {
  streamId: string;
  leg: string;
  /** Window end, media seconds. */
  t: number[];
  /** Window score. */
  s: number[];
  /** Smoothed score after the window. */
  e: number[];
  /** Speech ratio of the window (0..1). */
  sp: number[];
  /** Lost-media ratio of the window (0..1). */
  lost: number[];
  rms: number[];
  /** The judging model's thresholds, when the console knows its card. */
  thresholds: { suspicious: number; synthetic: number } | null;
  /** Media counters of a stream that lives in this process (RTP loss, jitter...), else null. */
  media: Record<string, number | string> | null;
}

export interface CallDetail {
  call: CallSummary;
  timelines: LegTimeline[];
  verdicts: VerdictStep[];
  /** Events as received (latest last; window events thinned to the last few). */
  events: unknown[];
  alerts: Alert[];
}

/** One push to the browsers: calls changed or gone, alerts new or changed. */
export interface ConsoleDelta {
  calls: CallSummary[];
  removed: string[];
  alerts: Alert[];
}
