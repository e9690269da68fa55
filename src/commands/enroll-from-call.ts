/**
 * devox enroll --id ACCOUNT --from-call CALL_ID [--leg LEG]: the client side of enrolment from a
 * live leg (src/speaker/enrol-from-call-api.ts). It asks the server that carries the call, over
 * NATS (the speaker.enrolSubject request subject, progress on) or over HTTP (`--server URL`, the
 * authenticated /speaker/enrolments endpoint, NDJSON progress), prints each progress report on
 * stderr as it comes and the result (the enrolment's summary, or the refusal) as one JSON line.
 *
 * In a fleet every node gets the NATS request and those without the call answer 404
 * unknown_call; the node that has it answers with progress at once, so a 404 is taken as the
 * answer only when no progress came within UNKNOWN_CALL_GRACE_MS of it.
 */
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import { connectNats } from '../verdicts/nats-connection.js';

const NDJSON = 'application/x-ndjson';
const UNKNOWN_CALL_GRACE_MS = 1500;

export interface FromCallArgs {
  account: string;
  callId: string;
  leg?: string;
  timeoutSec?: number;
}

/** The last message of a request: `ok`, an HTTP-style status, and the summary or the refusal. */
export type FinalAnswer = { ok: boolean; status: number; code?: string; error?: string } & Record<string, unknown>;

/** A progress message's body (enrol-from-call-api.ts). */
export type ProgressReport = { speechSec: number; minSpeechSec: number; segments: number; minSegments: number; leg: string; callId: string } & Record<string, unknown>;

type OnProgress = (p: ProgressReport) => void;

export class EnrolClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnrolClientError';
  }
}

function body(a: FromCallArgs): Record<string, unknown> {
  return {
    account: a.account,
    fromCall: { callId: a.callId, ...(a.leg !== undefined ? { leg: a.leg } : {}) },
    ...(a.timeoutSec !== undefined ? { timeoutSec: a.timeoutSec } : {}),
  };
}

/** Over HTTP: POST /speaker/enrolments asking for NDJSON progress. */
export async function enrolFromCallOverHttp(server: string, token: string, a: FromCallArgs, onProgress: OnProgress): Promise<FinalAnswer> {
  const url = `${server.replace(/\/+$/, '')}/speaker/enrolments`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: NDJSON },
      body: JSON.stringify(body(a)),
    });
  } catch (err) {
    throw new EnrolClientError(`cannot reach ${url}: ${(err as Error).message}`, { cause: err });
  }
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith(NDJSON) || !res.body) {
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { error: text.trim() || res.statusText };
    }
    return { ...parsed, ok: res.status < 300, status: res.status };
  }
  let buffered = '';
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new EnrolClientError(`${url}: not a JSON line in the answer: ${line.slice(0, 200)}`);
      }
      if (m.progress) onProgress(m.progress as ProgressReport);
      else if (typeof m.ok === 'boolean') {
        await reader.cancel().catch(() => undefined);
        return m as FinalAnswer;
      }
    }
  }
  throw new EnrolClientError(`${url}: the answer ended without a result`);
}

/** Over NATS: a request on the enrolment subject with progress, followed until its result. */
export async function enrolFromCallOverNats(config: Readonly<Config>, subject: string, a: FromCallArgs, onProgress: OnProgress): Promise<FinalAnswer> {
  let nc: NatsConnection;
  try {
    nc = await connectNats(config.nats);
  } catch (err) {
    throw new EnrolClientError(`cannot connect to ${config.nats.servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox);
    // The server's own limit (speaker.enrol.maxCaptureSec) ends a capture; this only guards against a silent server.
    const waitMs = ((a.timeoutSec ?? config.speaker.enrol.maxCaptureSec) + 30) * 1000;
    return await new Promise<FinalAnswer>((resolve, reject) => {
      // The node that reported progress first: its answers are the ones followed.
      let following = false;
      let node: unknown;
      let unknownCall: FinalAnswer | null = null;
      let grace: NodeJS.Timeout | undefined;
      const done = (fn: () => void): void => {
        clearTimeout(guard);
        clearTimeout(grace);
        sub.unsubscribe();
        fn();
      };
      const guard = setTimeout(() => done(() => reject(new EnrolClientError(`no answer on ${subject} within ${waitMs / 1000} s`))), waitMs);
      const onMessage = (m: Msg): void => {
        if (m.headers?.code === 503 && m.data.length === 0) {
          return done(() => reject(new EnrolClientError(`no DevoX server answers enrolment requests on ${subject} (is speaker.enabled true on the server, and nats.subjectPrefix / speaker.enrolSubject the same here?)`)));
        }
        const msg = m.json<Record<string, unknown>>();
        const progress = msg.progress as ProgressReport | undefined;
        if (progress) {
          if (!following) {
            following = true;
            node = progress.node;
          }
          if (progress.node === node) {
            clearTimeout(grace);
            onProgress(progress);
          }
          return;
        }
        const answer = msg as FinalAnswer;
        if (answer.code === 'unknown_call' && !following) {
          // Another node may carry the call: give it a moment to say so.
          unknownCall ??= answer;
          grace ??= setTimeout(() => done(() => resolve(unknownCall!)), UNKNOWN_CALL_GRACE_MS);
          return;
        }
        if (following && answer.node !== node) return; // another node's 404
        done(() => resolve(answer));
      };
      void (async () => {
        for await (const m of sub) onMessage(m);
      })().catch((err: unknown) => done(() => reject(new EnrolClientError(`reading answers on ${subject}: ${(err as Error).message}`, { cause: err }))));
      nc.publish(subject, JSON.stringify({ op: 'enrol', ...body(a), progress: true }), { reply: inbox });
    });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** One progress line for a person watching. */
export function progressLine(p: ProgressReport): string {
  return `capturing call ${p.callId} leg ${p.leg}: ${p.speechSec.toFixed(1)} / ${p.minSpeechSec} s of speech, ${p.segments} / ${p.minSegments} segments`;
}
