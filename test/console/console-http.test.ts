/**
 * The console's sign-in, roles, audit and push over real HTTP against a real DevoX without NATS
 * (the one-box default): `devox console-hash` as a real process, refused and accepted sign-ins,
 * cookie flags, 401 / 403 / 415, feedback refused with a clear message while NATS is off,
 * listen-in answering 503 with its reason, `audit: true` log lines, and the server-sent events
 * of a real RTP call (hello, snapshot, then coalesced deltas at most console.maxPushPerSec).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { projectRoot, ConfigError } from '../../src/config.js';
import { DevoxServer } from '../../src/server.js';
import { verifyPassword } from '../../src/console/accounts.js';
import { Sessions } from '../../src/console/sessions.js';
import { CONSOLE_ASSETS } from '../../src/console/console.js';
import type { CallSummary, ConsoleDelta } from '../../src/console/types.js';
import { captureLog, LineCapture } from '../helpers/capture.js';
import { sendFile, testConfig } from '../helpers/devox-server.js';
import { SUPERVISOR, testOperators, VIEWER } from '../helpers/console.js';
import { waitFor } from '../helpers/wait.js';

function consoleHash(stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'src/cli.ts'), 'console-hash'], { cwd: projectRoot });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => done({ code, stdout, stderr }));
    p.stdin.end(stdin);
  });
}

t.test('devox console-hash hashes a password read from stdin', async (t) => {
  const ok = await consoleHash('a long enough password\n');
  t.equal(ok.code, 0, ok.stderr);
  const hash = ok.stdout.trim();
  t.match(hash, /^scrypt\$16384\$8\$1\$/);
  t.equal(await verifyPassword('a long enough password', hash), true);
  t.equal(await verifyPassword('another password', hash), false);
  const short = await consoleHash('short\n');
  t.equal(short.code, 2);
  t.match(short.stderr, /at least 8 characters/);
});

t.test('config: console.source "nats" needs nats.servers; hashes only', async (t) => {
  t.throws(() => testConfig({ console: { source: 'nats' } }), new ConfigError('console.source', '"nats" (the fleet view) needs nats.servers'));
  t.throws(() => testConfig({ console: { operators: [{ name: 'x', role: 'supervisor', passwordHash: 'plain-text' }] } }), /console\.operators\.0\.passwordHash/);
  t.match(testConfig().node.id, /\S+/, 'node.id defaults to the host name');
});

t.test('sessions end at their expiry', async (t) => {
  const s = new Sessions({ ttlSec: 60, secureCookie: true, path: '/console' });
  const sess = s.create({ name: 'a', role: 'viewer' }, 1_000);
  const req = (cookie: string) => ({ headers: { cookie } }) as unknown as Parameters<Sessions['fromRequest']>[0];
  t.equal(s.fromRequest(req(`x=1; devox_console=${sess.id}`), 60_999)?.operator.name, 'a');
  t.equal(s.fromRequest(req(`devox_console=${sess.id}`), 61_000), undefined, 'expired');
  t.match(s.cookie(sess), /HttpOnly; SameSite=Strict; Max-Age=60; Secure$/);
});

t.test('sign-in, roles, audit and pushes over HTTP (no NATS)', async (t) => {
  const cap = captureLog('info');
  // Events to stdout without their window lines: the console still gets every window (its tap).
  // Without WebRTC (whether or not a mediasoup worker is installed): listen-in is refused with the reason.
  const config = testConfig({ log: { level: 'info' }, node: { id: 'box-1' }, nats: { stdoutWindowEvents: false }, webrtc: { enabled: false }, console: { operators: await testOperators(), maxPushPerSec: 2 } });
  const stdout = new LineCapture();
  const server = await DevoxServer.start({ config, log: cap.log, stdout });
  t.teardown(() => server.close());
  const base = `${server.http.url}/console`;
  const post = (path: string, body: unknown, cookie = '', type = 'application/json') =>
    fetch(`${base}/api/${path}`, { method: 'POST', headers: { 'content-type': type, cookie }, body: JSON.stringify(body) });

  const page = await fetch(base);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
  t.match(await page.text(), /<title>DevoX console<\/title>/);
  // Every script module the page imports is served, as the type a browser accepts for a module.
  for (const name of CONSOLE_ASSETS.filter((n) => n !== 'index.html')) {
    const r = await fetch(`${base}/${name}`);
    t.equal(r.status, 200, `${name} served`);
    t.equal(r.headers.get('content-type'), name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', `${name} type`);
    const body = await r.text();
    for (const [, dep] of body.matchAll(/from '\.\/([\w-]+\.js)'/g)) t.ok((CONSOLE_ASSETS as readonly string[]).includes(dep!), `${name} imports ${dep}, which is served`);
  }
  t.equal((await fetch(`${base}/api/me`)).status, 401, 'not signed in');
  t.equal((await fetch(`${base}/api/stream`)).status, 401, 'no stream without a session');

  const bad = await post('login', { name: SUPERVISOR.name, password: 'wrong' });
  t.equal(bad.status, 401);
  t.equal((await post('login', { name: 'nobody', password: 'wrong' })).status, 401);
  const ok = await post('login', { name: SUPERVISOR.name, password: SUPERVISOR.password });
  t.equal(ok.status, 204);
  const setCookie = ok.headers.get('set-cookie') ?? '';
  t.match(setCookie, /^devox_console=[\w-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  const sup = setCookie.split(';')[0]!;
  t.match(await (await fetch(`${base}/api/me`, { headers: { cookie: sup } })).json(), { name: SUPERVISOR.name, role: 'supervisor', expiresMs: Number });
  const viewer = ((await post('login', { name: VIEWER.name, password: VIEWER.password })).headers.get('set-cookie') ?? '').split(';')[0]!;

  const fbOff = await post('feedback', { callId: 'c1', verdict: 'confirmed_synthetic' }, sup);
  t.equal(fbOff.status, 503);
  t.match(((await fbOff.json()) as { error: string }).error, /NATS is not configured \(nats\.servers is empty\): feedback cannot be stored/);
  t.equal((await post('feedback', { callId: 'c1', verdict: 'confirmed_synthetic' }, viewer)).status, 403, 'viewer refused');
  t.equal((await post('feedback', { callId: 'c1', verdict: 'confirmed_synthetic' }, sup, 'text/plain')).status, 415, 'JSON only');
  const listen = await post('listen', { callId: 'c1' }, sup);
  t.equal(listen.status, 503);
  t.match(((await listen.json()) as { error: string }).error, /^listen-in unavailable: no mediasoup worker \(webrtc\.enabled is false\)/);
  t.equal((await post('alerts/ack', { id: 999 }, sup)).status, 404);

  // Pushes of a real RTP call.
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const sse = await fetch(`${base}/api/stream`, { headers: { cookie: viewer }, signal: ac.signal });
  t.equal(sse.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const frames: Array<{ event: string; data: unknown; atMs: number }> = [];
  let streamEnded = false;
  void (async () => {
    let buf = '';
    const dec = new TextDecoder();
    const reader = sse.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const f = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(f)?.[1];
        const data = /^data: (.*)$/m.exec(f)?.[1];
        if (ev && data) frames.push({ event: ev, data: JSON.parse(data), atMs: Date.now() });
      }
    }
    streamEnded = true;
  })().catch(() => undefined);
  await waitFor(() => frames.length >= 2, 10_000, 'hello and snapshot');
  t.match(frames[0], { event: 'hello', data: { operator: { name: VIEWER.name, role: 'viewer' }, node: 'box-1', feedback: { available: false }, listen: { available: false } } });
  t.same(frames[1], { event: 'snapshot', data: { calls: [], alerts: [] }, atMs: frames[1]!.atMs });

  const s = await server.openStream({ callId: 'push-1', codec: 'PCMU', identity: { from: '+15550001', tenant: 'acme' } });
  const t0 = Date.now();
  await sendFile(s, resolve(projectRoot, 'samples/synthetic-ljspeech-espnet.flac'), { maxSec: 5 });
  server.releaseStream(s.streamId);
  const last = (): CallSummary | undefined => frames.filter((f) => f.event === 'delta').flatMap((f) => (f.data as ConsoleDelta).calls).filter((c) => c.callId === 'push-1').at(-1);
  await waitFor(() => last()?.endedMs != null, 30_000, 'the call ended on the push stream', 50);
  const elapsedSec = (Date.now() - t0) / 1000;
  const deltas = frames.filter((f) => f.event === 'delta');
  const call = last()!;
  t.match(call, { callId: 'push-1', node: 'box-1', ingress: 'rtp', caller: '+15550001', tenant: 'acme' });
  t.ok(call.legs[0]!.windows >= 15, `windows counted (${call.legs[0]!.windows})`);
  const pushed = deltas.flatMap((f) => (f.data as ConsoleDelta).calls).filter((c) => c.callId === 'push-1').flatMap((c) => c.legs[0]!.spark);
  t.equal(pushed.length, call.legs[0]!.windows, 'each window score pushed once (deltas carry the new sparkline points only)');
  // Coalesced: ~4 windows a second, at most 2 pushes a second (console.maxPushPerSec).
  t.ok(deltas.length <= Math.ceil(elapsedSec * 2) + 2, `${deltas.length} pushes in ${elapsedSec.toFixed(1)} s for ${call.legs[0]!.windows} windows`);
  t.ok(deltas.length < call.legs[0]!.windows, 'fewer pushes than windows');
  const types = stdout.lines.map((l) => (JSON.parse(l) as { event: { type: string; node?: string } }).event);
  t.ok(types.some((e) => e.type === 'call.ended') && types.every((e) => e.type !== 'window.scored'), 'no window.scored on stdout (nats.stdoutWindowEvents false)');
  t.ok(types.every((e) => e.node === 'box-1'), 'stdout events name their node');

  const audit = cap.lines.filter((l) => l.audit === true);
  const actions = audit.map((a) => `${String(a.action)}:${String(a.operator)}`);
  for (const want of ['login_refused:sup.ana', 'login_refused:nobody', 'login:sup.ana', 'login:view.ben', 'feedback_failed:sup.ana', 'forbidden:view.ben', 'listen_refused:sup.ana']) {
    t.ok(actions.includes(want), `audit line ${want}`);
  }
  t.ok(audit.every((a) => a.component === 'console' && typeof a.remote === 'string'), 'with component and remote address');
  t.notOk(JSON.stringify(cap.lines).includes(SUPERVISOR.password), 'no password in any log line');

  // Signing out ends that session's event stream; its cookie no longer works.
  t.equal((await post('logout', {}, viewer)).status, 204);
  await waitFor(() => streamEnded, 10_000, 'the signed-out browser’s event stream ended');
  t.equal((await fetch(`${base}/api/stream`, { headers: { cookie: viewer } })).status, 401, 'the cookie is dead');
  t.ok(cap.lines.some((l) => l.audit === true && l.action === 'logout' && l.operator === VIEWER.name), 'sign-out audited');

  // Guessing: five refusals in a row lock the address out for a minute, the right password too.
  for (let i = 0; i < 5; i++) t.equal((await post('login', { name: VIEWER.name, password: `guess ${i}` })).status, 401);
  const locked = await post('login', { name: VIEWER.name, password: VIEWER.password });
  t.equal(locked.status, 429, 'locked out');
  t.match(locked.headers.get('retry-after'), /^\d+$/);
  t.match(((await locked.json()) as { error: string }).error, /too many failed sign-ins from this address: try again in \d+ s/);
  t.ok(cap.lines.some((l) => l.audit === true && l.action === 'login_refused' && /throttled/.test(String(l.detail))), 'audited');
});

// Listen-in itself (a live leg through mediasoup to the browser) is tested end to end in
// console-listen.test.ts; without WebRTC the console refuses it with the reason (asserted above).
