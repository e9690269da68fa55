/**
 * The control API's bearer token over real HTTP: an in-process DevoxServer with http.controlToken
 * refuses POST/GET/DELETE /streams without it (401, WWW-Authenticate: Bearer, a JSON reason) and
 * with a wrong or malformed one, serves them with it; /metrics and /healthz /readyz follow their own
 * settings. A real `devox serve` bound to a non-loopback address refuses to start without a token and
 * starts with one read from a file; `devox send --bye` passes the token from the environment.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runDevoxCli, spawnDevox } from '../helpers/child-process.js';
import { metricValue, startTestServer, testModelDir } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'c0ntrol-' + 'a'.repeat(24);
const METRICS_TOKEN = 'metr1cs-' + 'b'.repeat(24);
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function expect401(t: Test, res: Response, reason: string, challenge: RegExp): Promise<void> {
  t.equal(res.status, 401, `401 (${reason})`);
  t.match(res.headers.get('www-authenticate') ?? '', challenge, 'WWW-Authenticate: Bearer challenge');
  t.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: string; reason: string; message: string };
  t.equal(body.error, 'unauthorized');
  t.equal(body.reason, reason);
  t.ok(body.message.length > 0, `says why: ${body.message}`);
}

t.test('control routes need the control token; metrics and health stay open by default', async (t) => {
  const server = await startTestServer({ http: { controlToken: TOKEN }, media: { streamTimeoutMs: 60_000 } });
  t.teardown(() => server.close());
  const api = server.http.url;
  const body = JSON.stringify({ codec: 'PCMU', callId: 'auth-call', leg: 'caller' });

  await expect401(t, await fetch(`${api}/streams`, { method: 'POST', body }), 'missing_token', /^Bearer realm="devox"$/);
  await expect401(t, await fetch(`${api}/streams`, { method: 'POST', body, headers: bearer('x'.repeat(32)) }), 'invalid_token', /error="invalid_token"/);
  await expect401(t, await fetch(`${api}/streams`, { method: 'POST', body, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }),
    'malformed_authorization', /error="invalid_request"/);
  await expect401(t, await fetch(`${api}/streams`, { method: 'POST', body, headers: bearer(TOKEN.slice(0, -1)) }), 'invalid_token', /invalid_token/);
  await expect401(t, await fetch(`${api}/streams`, { method: 'POST', body, headers: bearer(TOKEN + 'a') }), 'invalid_token', /invalid_token/);
  t.equal([...server.media.streams()].length, 0, 'no refused request opened a stream');
  await expect401(t, await fetch(`${api}/streams`), 'missing_token', /Bearer/);

  const opened = await fetch(`${api}/streams`, { method: 'POST', body, headers: bearer(TOKEN) });
  t.equal(opened.status, 201, 'with the token: opened');
  const { streamId } = (await opened.json()) as { streamId: string };
  const lower = await fetch(`${api}/streams`, { headers: { authorization: `bearer  ${TOKEN}` } });
  t.equal(lower.status, 200, 'the scheme is case-insensitive (RFC 7235)');
  const listed = (await lower.json()) as { streams: Array<{ streamId: string }> };
  t.same(listed.streams.map((s) => s.streamId), [streamId]);

  await expect401(t, await fetch(`${api}/streams?streamId=${streamId}`, { method: 'DELETE' }), 'missing_token', /Bearer/);
  t.equal([...server.media.streams()].length, 1, 'an unauthenticated DELETE ended nothing');
  const del = await fetch(`${api}/streams?streamId=${streamId}`, { method: 'DELETE', headers: bearer(TOKEN) });
  t.equal(del.status, 200);
  await waitFor(() => [...server.media.streams()].length === 0, 5000, 'the stream released');

  const metrics = await fetch(`${api}/metrics`);
  t.equal(metrics.status, 200, '/metrics open without http.metricsToken');
  const text = await metrics.text();
  t.equal(metricValue(text, 'devox_http_unauthorized_total', 'access="control",reason="missing_token"'), 3, 'refusals counted by reason');
  t.equal(metricValue(text, 'devox_http_unauthorized_total', 'access="control",reason="invalid_token"'), 3);
  t.equal(metricValue(text, 'devox_http_unauthorized_total', 'access="control",reason="malformed_authorization"'), 1);
  t.equal((await fetch(`${api}/healthz`)).status, 200, '/healthz open by default');
  t.equal((await fetch(`${api}/readyz`)).status, 200, '/readyz open by default');
  t.equal((await fetch(`${api}/webrtc`)).status !== 401, true, 'the WebRTC page is public (its signaling socket authenticates)');
});

t.test('http.metricsToken guards /metrics; protectHealth guards /healthz and /readyz; neither opens the control API', async (t) => {
  const server = await startTestServer({ http: { controlToken: TOKEN, metricsToken: METRICS_TOKEN, protectHealth: true } });
  t.teardown(() => server.close());
  const api = server.http.url;
  await expect401(t, await fetch(`${api}/metrics`), 'missing_token', /Bearer/);
  await expect401(t, await fetch(`${api}/metrics`, { headers: bearer('z'.repeat(32)) }), 'invalid_token', /invalid_token/);
  const m = await fetch(`${api}/metrics`, { headers: bearer(METRICS_TOKEN) });
  t.equal(m.status, 200, 'the metrics token opens /metrics');
  t.match(await m.text(), /devox_/);
  t.equal((await fetch(`${api}/metrics`, { headers: bearer(TOKEN) })).status, 200, 'the control token opens /metrics too');
  for (const path of ['/healthz', '/readyz']) {
    await expect401(t, await fetch(`${api}${path}`), 'missing_token', /Bearer/);
    t.equal((await fetch(`${api}${path}`, { headers: bearer(METRICS_TOKEN) })).status, 200, `${path} with the metrics token`);
  }
  await expect401(t, await fetch(`${api}/streams`, { headers: bearer(METRICS_TOKEN) }), 'invalid_token', /invalid_token/);
  t.equal((await fetch(`${api}/streams`, { headers: bearer(TOKEN) })).status, 200);
});

t.test('without a control token on loopback the API stays open (the one-box default)', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const res = await fetch(`${server.http.url}/streams`);
  t.equal(res.status, 200);
});

t.test('devox serve on a non-loopback address: refuses to start without a token, enforces one read from a file', async (t) => {
  const refused = await runDevoxCli(['serve', '--http-host', '0.0.0.0', '--http-port', '0', '--model', testModelDir()], { timeoutMs: 60_000 });
  t.equal(refused.code, 2, 'exit 2: a configuration error');
  t.match(refused.stderr, /http\.controlToken/);
  t.match(refused.stderr, /DEVOX_HTTP_CONTROL_TOKEN/, 'names the variable to set');
  t.match(refused.stderr, /0\.0\.0\.0/, 'and the address');

  const dir = mkdtempSync(join(tmpdir(), 'devox-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'control-token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-host', '0.0.0.0', '--http-port', '0', '--model', testModelDir(), '--log-level', 'info'], {
    DEVOX_HTTP_CONTROL_TOKEN_FILE: tokenFile,
  });
  let port = 0;
  await waitFor(() => {
    port ||= Number(/"port":(\d+)[^\n]*"msg":"HTTP server listening/.exec(run.stderr())?.[1] ?? 0);
    return port > 0 || run.child.exitCode !== null;
  }, 60_000, 'the HTTP port in the log', 50);
  if (port === 0) t.fail(`devox serve did not start:\n${run.stderr().slice(-2000)}`);
  t.match(run.stderr(), /"controlApi":"bearer token"/, 'the log says the control API is protected');
  t.notMatch(run.stderr(), new RegExp(TOKEN), 'the token is not logged');
  const api = `http://127.0.0.1:${port}`;
  await expect401(t, await fetch(`${api}/streams`), 'missing_token', /Bearer/);
  const opened = await fetch(`${api}/streams`, { method: 'POST', headers: bearer(TOKEN), body: JSON.stringify({ codec: 'PCMU', callId: 'cli-auth' }) });
  t.equal(opened.status, 201);
  const { port: rtpPort, streamId } = (await opened.json()) as { port: number; streamId: string };

  // devox send --bye: without the token it says what is missing; with it from the environment it ends the stream.
  const noToken = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${rtpPort}`, '--no-realtime', '--bye', '--api', api], {
    timeoutMs: 60_000, env: { DEVOX_HTTP_CONTROL_TOKEN: '', DEVOX_HTTP_CONTROL_TOKEN_FILE: '' },
  });
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /401: missing_token .*DEVOX_HTTP_CONTROL_TOKEN/);
  const withToken = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${rtpPort}`, '--no-realtime', '--bye', '--api', api], {
    timeoutMs: 60_000, env: { DEVOX_HTTP_CONTROL_TOKEN_FILE: tokenFile },
  });
  t.equal(withToken.code, 0, withToken.stderr);
  t.equal((JSON.parse(withToken.stdout) as { ended: string }).ended, streamId, 'send --bye ended the stream with the token');
  const wrong = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${rtpPort}`, '--no-realtime', '--bye', '--api', api, '--api-token', 'w'.repeat(32)], {
    timeoutMs: 60_000,
  });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /401: invalid_token/);

  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0);
});
