/**
 * The console's HTTP routes, all under console.path (default /console):
 *
 *   GET  /console                 the page (web/console/index.html; it signs in first)
 *   GET  /console/<module>.js|css its script modules and style (CONSOLE_ASSETS)
 *   POST /console/api/login       {"name","password"} → 204 + session cookie | 401 | 429 (5 failures
 *                                 from one address within 5 min lock it out for a minute)
 *   POST /console/api/logout      → 204, cookie cleared
 *   GET  /console/api/me          → {"name","role"} | 401
 *   GET  /console/api/stream      server-sent events: hello, snapshot, delta...
 *   GET  /console/api/call?id=    one call's detail (timeline, verdicts, events) | 404
 *   POST /console/api/alerts/ack     {"id"}                 supervisor
 *   POST /console/api/alerts/assign  {"id","to"}            supervisor
 *   POST /console/api/feedback    {"callId","verdict","leg"?,"note"?} supervisor → NATS
 *   POST /console/api/listen      {"callId","streamId"?}    supervisor → {listenId, sdp (offer)} | 404 | 409 | 429 | 503
 *   POST /console/api/listen/answer {"listenId","sdp"}      supervisor: the page's SDP answer
 *   POST /console/api/listen/stop   {"listenId"}            supervisor (listen-control.ts)
 *
 * POSTs must be JSON (a cross-site form cannot send it) with the SameSite=Strict cookie.
 * Every sign-in, refusal and action goes to the audit log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpServerError, readJsonBody, sendJson, type HttpServer } from '../http/http-server.js';
import type { Session } from './sessions.js';
import { CONSOLE_ASSETS, type ConsoleCore } from './console.js';

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

export function routeConsole(http: HttpServer, core: ConsoleCore): void {
  const p = core.path;
  // The console authenticates its own operators (session cookie, roles), not with the control-API token.
  const route = (method: string, path: string, handler: Parameters<HttpServer['route']>[2]): void => http.route(method, path, handler, 'public');
  const asset = (name: string, type: string) => (_req: IncomingMessage, res: ServerResponse) => {
    const body = core.assets[name]!;
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  route('GET', p, asset('index.html', 'text/html; charset=utf-8'));
  for (const name of CONSOLE_ASSETS) {
    if (name === 'index.html') continue;
    route('GET', `${p}/${name}`, asset(name, name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8'));
  }

  route('POST', `${p}/api/login`, async (req, res) => {
    const wait = core.throttle.retryAfterSec(remote(req));
    if (wait > 0) {
      core.audit.record({ action: 'login_refused', operator: '', remote: remote(req), detail: `throttled: too many failed sign-ins (${wait} s left)` });
      res.setHeader('retry-after', String(wait));
      return sendJson(res, 429, { error: `too many failed sign-ins from this address: try again in ${wait} s` });
    }
    const body = await jsonBody(req);
    const name = typeof body.name === 'string' ? body.name.slice(0, 64) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const op = name && password ? await core.accounts.authenticate(name, password) : undefined;
    if (!op) {
      core.throttle.failed(remote(req));
      core.audit.record({ action: 'login_refused', operator: name, remote: remote(req), detail: core.accounts.size === 0 ? 'no operators configured' : 'bad name or password' });
      return sendJson(res, 401, { error: core.accounts.size === 0 ? 'no operator accounts are configured (console.operators, see docs/console.md)' : 'wrong name or password' });
    }
    core.throttle.succeeded(remote(req));
    const s = core.sessions.create(op);
    core.audit.record({ action: 'login', operator: op.name, role: op.role, remote: remote(req) });
    res.writeHead(204, { 'set-cookie': core.sessions.cookie(s), 'cache-control': 'no-store' });
    res.end();
  });

  route('POST', `${p}/api/logout`, (req, res) => {
    const s = core.sessions.fromRequest(req);
    if (s) {
      core.sessions.end(s.id);
      core.push.endSession(s.id);
      core.listen.endSession(s.id);
      core.audit.record({ action: 'logout', operator: s.operator.name, role: s.operator.role, remote: remote(req) });
    }
    res.writeHead(204, { 'set-cookie': core.sessions.clearCookie(), 'cache-control': 'no-store' });
    res.end();
  });

  route('GET', `${p}/api/me`, (req, res) => {
    const s = signedIn(core, req, res);
    if (s) sendJson(res, 200, { name: s.operator.name, role: s.operator.role, expiresMs: s.expiresMs });
  });

  route('GET', `${p}/api/stream`, (req, res) => {
    const s = signedIn(core, req, res);
    if (s) core.push.add(res, s, core.hello(s));
  });

  route('GET', `${p}/api/call`, (req, res, url) => {
    if (!signedIn(core, req, res)) return;
    const d = core.board.detail(url.searchParams.get('id') ?? '');
    if (!d) return sendJson(res, 404, { error: 'no such call on the console (ended calls stay for console.endedRetentionSec)' });
    sendJson(res, 200, d);
  });

  route('POST', `${p}/api/alerts/ack`, async (req, res) => {
    const s = supervisor(core, req, res, 'alert_ack');
    if (!s) return;
    const body = await jsonBody(req);
    const a = core.board.acknowledge(Number(body.id), s.operator.name);
    if (!a) return sendJson(res, 404, { error: 'no such alert' });
    core.audit.record({ action: 'alert_ack', operator: s.operator.name, role: s.operator.role, remote: remote(req), callId: a.callId, leg: a.leg, detail: `alert ${a.id} ${a.label}` });
    core.push.push();
    sendJson(res, 200, a);
  });

  route('POST', `${p}/api/alerts/assign`, async (req, res) => {
    const s = supervisor(core, req, res, 'alert_assign');
    if (!s) return;
    const body = await jsonBody(req);
    const to = typeof body.to === 'string' && body.to.trim() !== '' ? body.to.trim().slice(0, 64) : null;
    const a = core.board.assign(Number(body.id), to);
    if (!a) return sendJson(res, 404, { error: 'no such alert' });
    core.audit.record({ action: 'alert_assign', operator: s.operator.name, role: s.operator.role, remote: remote(req), callId: a.callId, leg: a.leg, detail: `alert ${a.id} to ${to ?? '(nobody)'}` });
    core.push.push();
    sendJson(res, 200, a);
  });

  route('POST', `${p}/api/feedback`, async (req, res) => {
    const s = supervisor(core, req, res, 'feedback');
    if (!s) return;
    const body = await jsonBody(req);
    const r = await core.feedback(s, body);
    core.audit.record({
      action: r.ok ? 'feedback' : 'feedback_failed',
      operator: s.operator.name,
      role: s.operator.role,
      remote: remote(req),
      ...(typeof body.callId === 'string' ? { callId: body.callId } : {}),
      ...(typeof body.leg === 'string' ? { leg: body.leg } : {}),
      detail: r.ok ? `${String(body.verdict)} stored ${r.body.stream}#${r.body.seq}` : r.body.error,
    });
    sendJson(res, r.status, r.body);
  });

  route('POST', `${p}/api/listen`, async (req, res) => {
    const s = supervisor(core, req, res, 'listen_in');
    if (!s) return;
    const r = await core.listen.start(s, remote(req), await jsonBody(req));
    sendJson(res, r.status, r.body);
  });

  route('POST', `${p}/api/listen/answer`, async (req, res) => {
    const s = supervisor(core, req, res, 'listen_in');
    if (!s) return;
    const r = await core.listen.answer(s, await jsonBody(req));
    sendJson(res, r.status, r.body);
  });

  route('POST', `${p}/api/listen/stop`, async (req, res) => {
    const s = supervisor(core, req, res, 'listen_in');
    if (!s) return;
    const r = core.listen.stop(s, await jsonBody(req));
    sendJson(res, r.status, r.body);
  });
}

function remote(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

function signedIn(core: ConsoleCore, req: IncomingMessage, res: ServerResponse): Session | undefined {
  const s = core.sessions.fromRequest(req);
  if (!s) sendJson(res, 401, { error: 'sign in first' });
  return s;
}

function supervisor(core: ConsoleCore, req: IncomingMessage, res: ServerResponse, action: string): Session | undefined {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    sendJson(res, 415, { error: 'send JSON (content-type: application/json)' });
    return undefined;
  }
  const s = signedIn(core, req, res);
  if (!s) return undefined;
  if (s.operator.role !== 'supervisor') {
    core.audit.record({ action: 'forbidden', operator: s.operator.name, role: s.operator.role, remote: remote(req), detail: `${action} needs the supervisor role` });
    sendJson(res, 403, { error: `${action.replace('_', ' ')} needs the supervisor role` });
    return undefined;
  }
  return s;
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const b = await readJsonBody(req);
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new HttpServerError('request body must be a JSON object');
  return b as Record<string, unknown>;
}
