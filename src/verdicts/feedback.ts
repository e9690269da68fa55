/**
 * Analyst feedback on a call: "confirmed synthetic", "confirmed genuine" or "unsure", from
 * the console, a CRM or `devox feedback`. Published on `<prefix>.feedback.<callToken>` into
 * the same JetStream stream as the call events (it captures `<prefix>.>`), where continuous
 * learning (`devox learn`) and `devox model report` read it back. The payload is described for
 * integrators in schema/feedback.schema.json (tested against parseFeedback).
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { z } from 'zod';
import { callIdToToken } from './events.js';

export const FEEDBACK_SCHEMA_VERSION = 1 as const;

export type FeedbackVerdict = 'confirmed_synthetic' | 'confirmed_genuine' | 'unsure';
export const FEEDBACK_VERDICTS: readonly FeedbackVerdict[] = ['confirmed_synthetic', 'confirmed_genuine', 'unsure'];

/** What a caller supplies; the rest (schemaVersion, type, eventId, times) is filled in. */
export interface FeedbackInput {
  callId: string;
  /** The leg the feedback is about; absent: the whole call. */
  leg?: string;
  verdict: FeedbackVerdict;
  /** Who gave it (operator login, CRM user, ...). */
  operator: string;
  /** Where it came from: console, cli, crm, api, ... */
  source: string;
  /** Free text, at most 1,000 characters. */
  note?: string;
  /** The model version whose verdict the analyst saw, when known. */
  modelVersion?: string;
}

export interface FeedbackEvent extends FeedbackInput {
  schemaVersion: typeof FEEDBACK_SCHEMA_VERSION;
  type: 'call.feedback';
  /** Unique per feedback (the Nats-Msg-Id): a re-sent feedback is stored once. */
  eventId: string;
  wallTime: string;
  wallTimeMs: number;
}

export class FeedbackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedbackError';
  }
}

const text = (max: number) => z.string().min(1).max(max);

const inputSchema = z
  .object({
    callId: text(512),
    leg: text(64).optional(),
    verdict: z.enum(['confirmed_synthetic', 'confirmed_genuine', 'unsure']),
    operator: text(128),
    source: text(64),
    note: z.string().max(1000).optional(),
    modelVersion: text(128).optional(),
  })
  .strict();

const eventSchema = inputSchema
  .extend({
    schemaVersion: z.literal(FEEDBACK_SCHEMA_VERSION),
    type: z.literal('call.feedback'),
    eventId: text(128),
    wallTime: z.iso.datetime(),
    wallTimeMs: z.number().min(0),
  })
  .strict();

function describe(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** A validated feedback event from what a caller supplied (FeedbackError naming the bad field otherwise). */
export function buildFeedback(input: unknown, nowMs: number = Date.now()): FeedbackEvent {
  const r = inputSchema.safeParse(input);
  if (!r.success) throw new FeedbackError(`invalid feedback: ${describe(r.error)}`);
  return {
    schemaVersion: FEEDBACK_SCHEMA_VERSION,
    type: 'call.feedback',
    eventId: `feedback|${randomUUID()}`,
    ...r.data,
    wallTime: new Date(nowMs).toISOString(),
    wallTimeMs: nowMs,
  };
}

/** Validates a received feedback event (e.g. read back from JetStream). */
export function parseFeedback(raw: unknown): FeedbackEvent {
  const r = eventSchema.safeParse(raw);
  if (!r.success) throw new FeedbackError(`invalid feedback event: ${describe(r.error)}`);
  return r.data as FeedbackEvent;
}

export function feedbackSubject(prefix: string, callId: string): string {
  return `${prefix}.feedback.${callIdToToken(callId)}`;
}

/** Wildcard over every call's feedback. */
export function feedbackWildcard(prefix: string): string {
  return `${prefix}.feedback.*`;
}

/**
 * Publishes one feedback event to JetStream and waits for the stream's ack, so the caller
 * knows it is stored (no stream over the subject: the error says so).
 */
export async function publishFeedback(nc: NatsConnection, prefix: string, event: FeedbackEvent): Promise<{ stream: string; seq: number }> {
  const js = jetstream(nc);
  try {
    const ack = await js.publish(feedbackSubject(prefix, event.callId), JSON.stringify(event), {
      msgID: event.eventId,
      timeout: 5000,
    });
    return { stream: ack.stream, seq: ack.seq };
  } catch (err) {
    throw new FeedbackError(
      `feedback for call ${event.callId} not stored: ${(err as Error).message} (is a JetStream stream capturing ${prefix}.>? devox serve creates it)`,
    );
  }
}
