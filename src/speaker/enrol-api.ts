/**
 * The two remote doors to enrolment, both answering JSON:
 *
 * HTTP (on the server's HTTP port, bearer token from speaker.httpTokens, constant-time check):
 *   POST   /speaker/enrolments  {"account": "...", "audio": ["<base64 audio file>", ...]}  201 summary | 422 refusal
 *   POST   /speaker/enrolments  {"account": "...", "fromCall": {"callId", "leg"?}, "timeoutSec"?}  from a live leg
 *          (enrol-from-call-api.ts: 201 | 404 unknown call/leg | 409 capture running | 422 refusal; NDJSON progress on request)
 *   GET    /speaker/enrolments?account=...   200 summary (never the embedding) | 404
 *   DELETE /speaker/enrolments?account=...   200 {"account", "deleted"}
 * NATS request/reply on speaker.enrolSubject (default <prefix>-speaker.enrol: outside the event
 * stream's <prefix>.>, which would store the audio), access governed by
 * the NATS server's permissions:
 *   {"op": "enrol", "account", "audio": [...]} | {"op": "enrol", "account", "fromCall": {...}, "timeoutSec"?, "progress"?}
 *   | {"op": "delete", "account"} | {"op": "get", "account"}
 *   -> {"ok": true, ...} | {"ok": false, "code", "error"}
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { sendJson, type HttpServer } from '../http/http-server.js';
import type { CallEnrolments, FromCallRequest } from './call-enrolment.js';
import { enrolFromCallHttp, enrolFromCallNats } from './enrol-from-call-api.js';
import { badRequest, refusal, type Outcome } from './enrol-outcome.js';
import { summary, type EnrolService } from './enrol-service.js';

const FromCall = z
  .object({
    callId: z.string().min(1).max(256),
    /** The leg's name (caller, callee, a SIPREC label) or its stream id. */
    leg: z.string().min(1).max(256).optional(),
  })
  .strict();
/** Enrol from audio files, or from a live call's leg: exactly one of `audio` and `fromCall`. */
const enrolFields = {
  account: z.string().min(1),
  audio: z.array(z.string().min(1)).min(1).max(32).optional(),
  fromCall: FromCall.optional(),
  timeoutSec: z.number().positive().max(3600).optional(),
};
const oneSource = (r: { audio?: unknown; fromCall?: unknown; timeoutSec?: unknown }, ctx: z.RefinementCtx): void => {
  if ((r.audio === undefined) === (r.fromCall === undefined)) ctx.addIssue({ code: 'custom', path: ['audio'], message: 'give either audio or fromCall' });
  else if (r.timeoutSec !== undefined && r.fromCall === undefined) ctx.addIssue({ code: 'custom', path: ['timeoutSec'], message: 'only with fromCall' });
};
const EnrolRequest = z.object(enrolFields).strict().superRefine(oneSource);
const NatsRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('enrol'), ...enrolFields, progress: z.boolean().optional() }).strict().superRefine(oneSource),
  z.object({ op: z.literal('delete'), account: z.string().min(1) }).strict(),
  z.object({ op: z.literal('get'), account: z.string().min(1) }).strict(),
]);

function fromCallRequest(r: { account: string; fromCall?: z.infer<typeof FromCall> | undefined; timeoutSec?: number | undefined }): FromCallRequest {
  const f = r.fromCall!;
  return { account: r.account, callId: f.callId, ...(f.leg !== undefined ? { leg: f.leg } : {}), ...(r.timeoutSec !== undefined ? { timeoutSec: r.timeoutSec } : {}) };
}

async function enrol(service: EnrolService, account: string, audio: readonly string[]): Promise<Outcome> {
  try {
    const files = audio.map((b64, i) => ({ name: `audio[${i}]`, bytes: new Uint8Array(Buffer.from(b64, 'base64')) }));
    const r = await service.enrolFiles(account, files);
    return { status: 201, body: summary(r) };
  } catch (err) {
    return refusal(err);
  }
}

async function get(service: EnrolService, account: string): Promise<Outcome> {
  try {
    const r = await service.get(account);
    return r ? { status: 200, body: summary(r) } : { status: 404, body: { error: 'not enrolled', code: 'not_enrolled', account } };
  } catch (err) {
    return refusal(err);
  }
}

async function erase(service: EnrolService, account: string): Promise<Outcome> {
  try {
    return { status: 200, body: { account, deleted: await service.delete(account) } };
  } catch (err) {
    return refusal(err);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

function authorized(req: IncomingMessage, tokens: readonly string[]): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) return false;
  const got = digest(m[1]!);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(got, digest(t)) || ok;
  return ok;
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) return null;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function routeEnrolments(
  http: HttpServer,
  service: EnrolService,
  calls: CallEnrolments,
  opts: { tokens: readonly string[]; maxRequestBytes: number; log: Logger },
): void {
  const path = '/speaker/enrolments';
  const guard = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (opts.tokens.length === 0) {
      sendJson(res, 403, { error: 'the enrolment API is off: set speaker.httpTokens (DEVOX_SPEAKER_HTTP_TOKENS)' });
      return false;
    }
    if (!authorized(req, opts.tokens)) {
      res.setHeader('www-authenticate', 'Bearer');
      sendJson(res, 401, { error: 'missing or wrong bearer token' });
      return false;
    }
    return true;
  };
  const account = (url: URL): string => url.searchParams.get('account') ?? '';
  // 'public' for the HTTP server's control-token check: this API authenticates with speaker.httpTokens itself.
  http.route('POST', path, async (req, res) => {
    if (!guard(req, res)) return;
    const body = await readBody(req, opts.maxRequestBytes);
    if (!body) return sendJson(res, 413, { error: `request body over speaker.maxRequestBytes (${opts.maxRequestBytes})` });
    let parsed;
    try {
      parsed = EnrolRequest.safeParse(JSON.parse(body.toString('utf8')));
    } catch {
      return sendJson(res, 400, { error: 'request body is not valid JSON' });
    }
    if (!parsed.success) return sendJson(res, 400, badRequest(parsed.error.issues[0]!).body);
    if (parsed.data.fromCall) return enrolFromCallHttp(req, res, calls, fromCallRequest(parsed.data), opts.log);
    const out = await enrol(service, parsed.data.account, parsed.data.audio!);
    opts.log.info({ status: out.status, code: out.body.code }, 'enrolment request (HTTP)');
    sendJson(res, out.status, out.body);
  }, 'public');
  http.route('GET', path, async (req, res, url) => {
    if (!guard(req, res)) return;
    const out = await get(service, account(url));
    sendJson(res, out.status, out.body);
  }, 'public');
  http.route('DELETE', path, async (req, res, url) => {
    if (!guard(req, res)) return;
    const out = await erase(service, account(url));
    opts.log.info({ status: out.status, deleted: out.body.deleted }, 'enrolment erase request (HTTP)');
    sendJson(res, out.status, out.body);
  }, 'public');
}

/**
 * Answers enrol / delete / get requests on `subject`; returns the subscription (unsubscribe to
 * stop). `node` (config node.id) is named in the answers about live calls.
 */
export function serveEnrolmentsOverNats(nc: NatsConnection, subject: string, service: EnrolService, calls: CallEnrolments, node: string, log: Logger): Subscription {
  return nc.subscribe(subject, {
    callback: (_err, m) => {
      void (async () => {
        let out: Outcome;
        try {
          const parsed = NatsRequest.safeParse(m.json());
          if (!parsed.success) {
            out = badRequest(parsed.error.issues[0]!);
          } else {
            const r = parsed.data;
            out =
              r.op === 'enrol'
                ? r.fromCall
                  ? await enrolFromCallNats(m, calls, fromCallRequest(r), r.progress === true, node, log)
                  : await enrol(service, r.account, r.audio!)
                : r.op === 'delete'
                  ? await erase(service, r.account)
                  : await get(service, r.account);
          }
        } catch (err) {
          log.error({ err }, 'enrolment request over NATS failed');
          out = { status: 500, body: { error: (err as Error).message ?? String(err), code: 'internal' } };
        }
        log.info({ status: out.status, code: out.body.code }, 'enrolment request (NATS)');
        m.respond(JSON.stringify({ ok: out.status < 300, status: out.status, ...out.body }));
      })();
    },
  });
}

/**
 * Without speaker.enabled: the enrolment routes answer 503 speaker_disabled (not a bare 404), so a
 * client (`devox enroll --from-call --server`) can say why.
 */
export function routeEnrolmentsDisabled(http: HttpServer): void {
  const off = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    sendJson(res, 503, { error: 'speaker verification is off on this server (speaker.enabled is false)', code: 'speaker_disabled' });
  };
  for (const method of ['POST', 'GET', 'DELETE']) http.route(method, '/speaker/enrolments', off, 'public');
}
