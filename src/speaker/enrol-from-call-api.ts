/**
 * Enrolment from a live call's leg over the two remote doors of enrol-api.ts (same routes, same
 * subject, same authentication): a request naming `fromCall: {callId, leg?}` instead of `audio`.
 * The capture takes as long as the leg needs to say enough (speaker.enrol.maxCaptureSec at
 * most), so both doors can report progress before the result:
 *
 *   progress  {"progress": {"callId", "leg", "streamId", "timeoutSec", "speechSec", "minSpeechSec",
 *              "windows", "segments", "minSegments", "mediaSec", "node"}}
 *   result    {"ok": true, "status": 201, ...summary, "fromCall": {"callId", "leg", "streamId"}}
 *           | {"ok": false, "status": 4xx/503, "code", "error", ...details}
 *
 * HTTP: with `Accept: application/x-ndjson` the answer is 200 and one JSON line per progress
 * report, then the result line; otherwise the request waits and answers like file enrolment (201
 * summary, or the refusal's status). Refusals known before the capture starts (unknown call, a
 * capture already running...) always get their own status. A client that hangs up cancels.
 * NATS: `"progress": true` sends the progress messages to the reply subject before the result;
 * without it only the result comes. A node that does not carry the call answers 404 unknown_call
 * (with its `node`): in a fleet, a requester follows the node that reports progress.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Msg } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { sendJson } from '../http/http-server.js';
import type { CallEnrolments, CaptureHandle, FromCallRequest } from './call-enrolment.js';
import { summary } from './enrol-service.js';
import { refusal, type Outcome } from './enrol-outcome.js';

export const NDJSON = 'application/x-ndjson';

type Report = (line: Record<string, unknown>) => void;

/** Starts the capture; a refusal before it starts is an Outcome, else the handle and its final Outcome. */
function begin(calls: CallEnrolments, req: FromCallRequest, report: Report | null, node: string): { refused: Outcome } | { handle: CaptureHandle; done: Promise<Outcome> } {
  const withNode = node ? { node } : {};
  let handle: CaptureHandle;
  try {
    handle = calls.start(req, report ? (p) => report({ progress: { ...p, ...withNode } }) : undefined);
  } catch (err) {
    const out = refusal(err);
    return { refused: { status: out.status, body: { ...out.body, ...withNode } } };
  }
  const { callId, leg, streamId } = handle.target;
  const done = handle.result.then(
    (r): Outcome => ({ status: 201, body: { ...summary(r), fromCall: { callId, leg, streamId } } }),
    (err: unknown): Outcome => refusal(err),
  );
  return { handle, done };
}

/** POST /speaker/enrolments with fromCall (authenticated by the caller). */
export async function enrolFromCallHttp(req: IncomingMessage, res: ServerResponse, calls: CallEnrolments, request: FromCallRequest, log: Logger): Promise<void> {
  const stream = (req.headers.accept ?? '').includes(NDJSON);
  const write: Report = (line) => {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(line) + '\n');
  };
  // Headers go out only once the capture has started: earlier refusals keep their own status.
  let started = false;
  const report: Report | null = stream
    ? (line) => {
        if (!started) {
          started = true;
          res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        }
        write(line);
      }
    : null;
  const begun = begin(calls, request, report, '');
  if ('refused' in begun) {
    log.info({ status: begun.refused.status, code: begun.refused.body.code }, 'enrolment from a call refused (HTTP)');
    return sendJson(res, begun.refused.status, begun.refused.body);
  }
  const onClose = (): void => begun.handle.cancel();
  res.on('close', onClose);
  const out = await begun.done;
  res.off('close', onClose);
  log.info({ status: out.status, code: out.body.code }, 'enrolment from a call (HTTP)');
  if (res.destroyed) return;
  if (stream) {
    write({ ok: out.status < 300, status: out.status, ...out.body });
    res.end();
  } else {
    sendJson(res, out.status, out.body);
  }
}

/** The `op: enrol` NATS request with fromCall: progress (when asked) and the result to m.reply. */
export async function enrolFromCallNats(m: Msg, calls: CallEnrolments, request: FromCallRequest, progress: boolean, node: string, log: Logger): Promise<Outcome> {
  const report: Report | null = progress ? (line) => m.respond(JSON.stringify(line)) : null;
  const begun = begin(calls, request, report, node);
  if ('refused' in begun) return begun.refused;
  const out = await begun.done;
  log.info({ status: out.status, code: out.body.code }, 'enrolment from a call (NATS)');
  return { status: out.status, body: { ...out.body, ...(node ? { node } : {}) } };
}
