/**
 * What `devox learn` and `devox model report` read back from JetStream (never audio):
 * exported window features (features stream), analyst feedback (events stream,
 * `<prefix>.feedback.*`) and shadow pairs (`<prefix>.shadow.*`), each with an ordered consumer
 * from the start (or from a time), validated, the bad ones counted and skipped.
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { decodeEmbedding, type FeatureRecord } from '../verdicts/feature-exporter.js';
import { parseFeedback, type FeedbackEvent } from '../verdicts/feedback.js';
import type { ShadowRecord } from '../verdicts/shadow-comparer.js';

/** Every message of `stream` on `filter` (optionally since a time), payloads as parsed JSON. Missing stream: []. */
export async function readJson(nc: NatsConnection, stream: string, filter: string, sinceMs?: number): Promise<unknown[]> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  try {
    const info = await jsm.streams.info(stream, { subjects_filter: filter });
    if (Object.keys(info.state.subjects ?? {}).length === 0) return [];
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
    throw err;
  }
  const js = jetstream(nc, { timeout: 10_000 });
  const c = await js.consumers.get(stream, {
    filter_subjects: filter,
    ...(sinceMs !== undefined ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(sinceMs).toISOString() } : {}),
  });
  const out: unknown[] = [];
  for (;;) {
    const batch = await c.fetch({ max_messages: 1000, expires: 2000 });
    let got = 0;
    let pending = -1;
    for await (const m of batch) {
      got++;
      pending = m.info.pending;
      try {
        out.push(m.json());
      } catch {
        out.push(undefined);
      }
    }
    if (got === 0 || pending === 0) break;
  }
  return out;
}

export interface FeatureWindow {
  callId: string;
  leg: string;
  seq: number;
  modelVersion: string;
  score: number;
  embedding: Float32Array;
}

function isFeatureRecord(r: unknown): r is FeatureRecord {
  const o = r as FeatureRecord;
  return typeof o === 'object' && o !== null && o.type === 'window.features' && typeof o.callId === 'string' && typeof o.embedding === 'string' && Number.isInteger(o.dim);
}

/** Exported windows by call id; duplicates (same stream + seq) kept once. */
export async function readFeatures(nc: NatsConnection, stream: string, prefix: string, sinceMs?: number): Promise<{ calls: Map<string, FeatureWindow[]>; invalid: number; windows: number }> {
  const calls = new Map<string, FeatureWindow[]>();
  const seen = new Set<string>();
  let invalid = 0;
  let windows = 0;
  for (const r of await readJson(nc, stream, `${prefix}.>`, sinceMs)) {
    if (!isFeatureRecord(r)) {
      invalid++;
      continue;
    }
    const key = `${r.streamId}|${r.seq}|${r.modelVersion}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let embedding: Float32Array;
    try {
      embedding = decodeEmbedding(r.embedding, r.dim);
    } catch {
      invalid++;
      continue;
    }
    let list = calls.get(r.callId);
    if (!list) calls.set(r.callId, (list = []));
    list.push({ callId: r.callId, leg: r.leg, seq: r.seq, modelVersion: r.modelVersion, score: r.score, embedding });
    windows++;
  }
  return { calls, invalid, windows };
}

/** The latest feedback per call (and leg when given): later feedback overrides earlier. */
export async function readFeedback(nc: NatsConnection, eventsStream: string, subjectPrefix: string, sinceMs?: number): Promise<{ byCall: Map<string, FeedbackEvent>; invalid: number }> {
  const byCall = new Map<string, FeedbackEvent>();
  let invalid = 0;
  for (const r of await readJson(nc, eventsStream, `${subjectPrefix}.feedback.*`, sinceMs)) {
    let f: FeedbackEvent;
    try {
      f = parseFeedback(r);
    } catch {
      invalid++;
      continue;
    }
    const prev = byCall.get(f.callId);
    if (!prev || prev.wallTimeMs <= f.wallTimeMs) byCall.set(f.callId, f);
  }
  return { byCall, invalid };
}

export async function readShadow(nc: NatsConnection, eventsStream: string, subjectPrefix: string, sinceMs?: number): Promise<ShadowRecord[]> {
  const out: ShadowRecord[] = [];
  for (const r of await readJson(nc, eventsStream, `${subjectPrefix}.shadow.*`, sinceMs)) {
    const o = r as ShadowRecord;
    if (o && o.type === 'window.shadow' && typeof o.callId === 'string' && o.serving && o.candidate) out.push(o);
  }
  return out;
}

/** How a learned version names the calls it learned from without keeping their ids. */
export function callHash(callId: string): string {
  return createHash('sha256').update(`devox-learn|${callId}`).digest('hex').slice(0, 24);
}

/** 1 = synthetic, 0 = genuine, null = unsure. */
export function feedbackLabel(f: FeedbackEvent): 0 | 1 | null {
  return f.verdict === 'confirmed_synthetic' ? 1 : f.verdict === 'confirmed_genuine' ? 0 : null;
}
