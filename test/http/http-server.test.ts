/**
 * HttpServer over real HTTP: /metrics, /healthz, /readyz, routes, and the upgrade router
 * with a real `ws` client (longest prefix wins, unknown paths 404, a throwing handler
 * does not take the server down).
 */
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../../src/logger.js';
import { HttpServer, HttpServerError, readJsonBody, sendJson } from '../../src/http/http-server.js';
import { Metrics } from '../../src/observability/metrics.js';

function openWs(url: string): Promise<{ ws: WebSocket; first: string } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('message', (d) => resolve({ ws, first: d.toString() }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', () => resolve({ status: -1 }));
  });
}

t.test('health, readiness, metrics, routes and upgrade routing', async (t) => {
  let ready = false;
  const metrics = new Metrics({ defaultMetrics: false });
  const http = new HttpServer({
    host: '127.0.0.1',
    port: 0,
    metrics,
    log: createLogger('silent'),
    readiness: () => ({ ready, checks: { model: ready ? true : 'loading' } }),
  });
  const wssA = new WebSocketServer({ noServer: true });
  const wssB = new WebSocketServer({ noServer: true });
  http.onUpgrade('/media', (req, socket, head) => wssA.handleUpgrade(req, socket, head, (ws) => ws.send(`A ${req.url}`)));
  http.onUpgrade('/media/special/', (req, socket, head) => wssB.handleUpgrade(req, socket, head, (ws) => ws.send(`B ${req.url}`)));
  http.onUpgrade('/boom', () => {
    throw new Error('handler bug');
  });
  t.throws(() => http.onUpgrade('/media', () => undefined), HttpServerError, 'one handler per prefix');
  t.throws(() => http.onUpgrade('media', () => undefined), HttpServerError, 'paths start with /');
  http.route('POST', '/echo', async (req, res) => sendJson(res, 200, await readJsonBody(req)));
  t.throws(() => http.route('GET', '/metrics', () => undefined), HttpServerError, 'built-in routes are reserved');
  await http.listen();
  t.teardown(async () => {
    await http.close();
    await http.close(); // idempotent
    wssA.close();
    wssB.close();
  });
  const base = http.url;

  t.equal((await fetch(`${base}/healthz`)).status, 200);
  const r1 = await fetch(`${base}/readyz`);
  t.equal(r1.status, 503);
  t.same(await r1.json(), { ready: false, checks: { model: 'loading' } });
  ready = true;
  t.equal((await fetch(`${base}/readyz`)).status, 200);

  metrics.windowsScored.inc(3);
  metrics.windowToVerdict.observe(0.004);
  const m = await fetch(`${base}/metrics`);
  t.match(m.headers.get('content-type') ?? '', /text\/plain/);
  const text = await m.text();
  t.match(text, /devox_windows_scored_total 3/);
  t.match(text, /devox_window_to_verdict_seconds_bucket\{le="0\.005"\} 1/);
  t.match(text, /devox_window_to_verdict_seconds_bucket\{le="0\.0001"\} 0/, 'buckets start at 0.1 ms');
  t.notMatch(text, /^process_cpu/m, 'no default-registry metrics leak in');

  const echo = await fetch(`${base}/echo`, { method: 'POST', body: '{"a":1}' });
  t.same(await echo.json(), { a: 1 });
  const badJson = await fetch(`${base}/echo`, { method: 'POST', body: '{nope' });
  t.equal(badJson.status, 400, 'a bad body answers 400');
  t.match(await badJson.text(), /not valid JSON/);
  t.equal((await fetch(`${base}/echo`)).status, 405, 'wrong method');
  t.equal((await fetch(`${base}/nothing`)).status, 404);

  const wsBase = base.replace('http', 'ws');
  const a = await openWs(`${wsBase}/media/twilio?x=1`);
  t.same('first' in a ? a.first : a, 'A /media/twilio?x=1', 'prefix /media');
  const b = await openWs(`${wsBase}/media/special/leg`);
  t.same('first' in b ? b.first : b, 'B /media/special/leg', 'the longest prefix wins');
  const c = await openWs(`${wsBase}/mediation`);
  t.same(c, { status: 404 }, 'a prefix matches whole path segments only');
  const d = await openWs(`${wsBase}/boom`);
  t.ok('status' in d, 'a throwing handler closes that socket');
  const e = await openWs(`${wsBase}/media`);
  t.same('first' in e ? e.first : e, 'A /media', 'and the server keeps serving');
  for (const x of [a, b, e]) if ('ws' in x) x.ws.close();
});
