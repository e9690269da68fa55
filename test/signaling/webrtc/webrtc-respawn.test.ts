/**
 * A mediasoup worker killed with SIGKILL during a live Chromium WebRTC session, against a real
 * DevoX server and a real worker: the session ends (1011 `media worker died`, its stream ends
 * with `error`), devox_webrtc_workers_live drops to 0, /readyz stays 200 but reports WebRTC
 * degraded with capacity 0, the page and the signaling upgrade answer 503; after
 * webrtc.respawnDelayMs a new worker is up (metric, /readyz, page 200) and a new Chromium session
 * gets windows and a verdict.
 *
 * Needs a mediasoup worker (MEDIASOUP_WORKER_BIN) and Chromium; skips with the reason otherwise,
 * like webrtc-e2e.test.ts. The supervision rules without a worker are in worker-pool.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import type { Page } from 'playwright-core';
import { WebSocket } from 'ws';
import type { StreamDescriptor } from '../../../src/media/types.js';
import { findWorkerBin, mediasoupInstalled } from '../../../src/signaling/webrtc/mediasoup-loader.js';
import { WORKER_MISSING_MESSAGE } from '../../../src/signaling/webrtc/types.js';
import { signMediaPath } from '../../../src/signaling/auth.js';
import type { VerdictLabel } from '../../../src/verdicts/types.js';
import { LineCapture } from '../../helpers/capture.js';
import { startTestServer } from '../../helpers/devox-server.js';
import { CLIP_A, SECRET, TOKEN } from '../websocket/harness.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { NEEDS_SHARED_SPEECH } from '../../helpers/shared-data.js';
import { waitFor } from '../../helpers/wait.js';

const workerBin = findWorkerBin();
const skip = !workerBin
  ? WORKER_MISSING_MESSAGE
  : !mediasoupInstalled()
    ? 'mediasoup not installed: npm install mediasoup (MEDIASOUP_WORKER_BIN is set)'
    : !CHROMIUM_BIN
      ? CHROMIUM_MISSING
      : NEEDS_SHARED_SPEECH;

/** The pids of this process's children running the mediasoup worker binary. */
function workerPids(bin: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after its last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && resolve(readlinkSync(`/proc/${entry}/exe`)) === resolve(bin)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

interface Readyz {
  ready: boolean;
  degraded?: Record<string, string>;
  capacity?: { webrtc?: { workers: number; liveWorkers: number; sessions: number; nextRespawnInMs?: number } };
}

t.test('SIGKILL of the worker under a live browser session: capacity 0, degraded, 503, respawn, a new session gets verdicts', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devox-webrtc-respawn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wav = join(dir, 'speech.wav');
  execFileSync('ffmpeg', ['-v', 'error', '-i', CLIP_A, '-ac', '1', '-ar', '48000', '-c:a', 'pcm_s16le', wav]);

  const verdicts: Array<{ stream: StreamDescriptor; label: VerdictLabel }> = [];
  const ended: StreamDescriptor[] = [];
  // Events go to stdout as {subject, event} lines (no NATS here): call.ended carries the stream's end reason.
  const events = new LineCapture();
  const endReason = (streamId: string): unknown =>
    events.lines
      .map((l) => (JSON.parse(l) as { event: { type: string; streamId: string; reason?: string } }).event)
      .find((e) => e.type === 'call.ended' && e.streamId === streamId)?.reason;
  // A respawn delay long enough to see the node without a worker on a loaded box.
  const respawnDelayMs = 3000;
  const server = await startTestServer(
    { websocket: { tokens: [TOKEN], signingSecret: SECRET }, webrtc: { enabled: true, workers: 1, respawnDelayMs, respawnMaxDelayMs: 20_000 } },
    {
      listener: {
        onVerdict: (stream, label) => void verdicts.push({ stream, label }),
        onStreamEnded: (stream) => void ended.push(stream),
      },
      stdout: events,
    },
  );
  t.teardown(() => server.close());
  const url = server.http.url;
  const metric = async (name: string): Promise<number | undefined> => {
    const m = (await (await fetch(`${url}/metrics`)).text()).match(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : undefined;
  };
  const readyz = async (): Promise<{ status: number; body: Readyz }> => {
    const res = await fetch(`${url}/readyz`);
    return { status: res.status, body: (await res.json()) as Readyz };
  };
  const pageStatus = async (): Promise<{ status: number; retryAfter: string | null; text: string }> => {
    const res = await fetch(`${url}${server.config.webrtc.path}`);
    return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
  };

  t.equal(await metric('devox_webrtc_workers'), 1, 'devox_webrtc_workers 1');
  t.equal(await metric('devox_webrtc_workers_live'), 1, 'devox_webrtc_workers_live 1');
  let r = await readyz();
  t.equal(r.status, 200);
  t.equal(r.body.degraded, undefined, 'nothing degraded');
  t.match(r.body.capacity?.webrtc, { workers: 1, liveWorkers: 1 }, '/readyz: 1 of 1 worker');
  const [pid, ...others] = workerPids(workerBin!);
  t.ok(pid, `the worker runs as pid ${pid}`);
  t.same(others, [], 'one worker');

  const auth = signMediaPath(`${server.config.webrtc.path}/signal`, SECRET, Math.floor(Date.now() / 1000) + 300);
  const browser = await launchChromium(wav);
  t.teardown(() => browser.close());
  /** Opens the page, presses Start, waits for a label (or the end); returns its state and stream. */
  const session = async (): Promise<{ page: Page; state: string; streamId: string; label: string }> => {
    const page = await browser.newPage();
    await page.goto(`${url}${server.config.webrtc.path}?auth=${auth}`);
    await page.click('#start');
    await page.waitForFunction(
      () => {
        const l = document.getElementById('label')!.dataset.label;
        return (l !== undefined && l !== '' && l !== 'listening') || /^(closed|error|failed)/.test(document.getElementById('state')!.textContent ?? '');
      },
      undefined,
      { timeout: 30_000 },
    );
    return {
      page,
      state: (await page.$eval('#state', (e) => e.textContent)) ?? '',
      streamId: (await page.$eval('#stream', (e) => e.textContent)) ?? '',
      label: (await page.$eval('#label', (e) => (e as HTMLElement).dataset.label)) ?? '',
    };
  };

  const first = await session();
  if (!t.equal(first.state, 'connected', 'the first browser is connected')) return;
  t.ok(verdicts.some((v) => v.stream.streamId === first.streamId), `a verdict for the first session (${first.label})`);

  process.kill(pid!, 'SIGKILL');
  const killedAt = Date.now();
  await waitFor(() => endReason(first.streamId) !== undefined, 10_000, 'the first stream to end');
  t.equal(endReason(first.streamId), 'error', 'its stream ends with reason error (call.ended)');
  await first.page.waitForFunction(() => /^closed/.test(document.getElementById('state')!.textContent ?? ''), undefined, { timeout: 10_000 });
  t.equal(await first.page.$eval('#state', (e) => e.textContent), 'closed: media worker died', 'the page says why');
  await waitFor(async () => (await metric('devox_webrtc_workers_live')) === 0, 5_000, 'the live-worker gauge to drop');
  t.equal(await metric('devox_webrtc_workers_live'), 0, 'devox_webrtc_workers_live 0');
  t.equal(await metric('devox_webrtc_workers'), 1, 'devox_webrtc_workers still 1');
  t.equal(await metric('devox_webrtc_worker_deaths_total'), 1, 'the death is counted');
  r = await readyz();
  t.equal(r.status, 200, '/readyz stays 200: RTP and WebSocket ingress still work');
  t.match(r.body.degraded?.webrtc, /no mediasoup worker alive \(0 of 1\)/, `/readyz says WebRTC is degraded: ${r.body.degraded?.webrtc}`);
  t.match(r.body.capacity?.webrtc, { workers: 1, liveWorkers: 0 }, '/readyz: 0 of 1 worker');
  const page503 = await pageStatus();
  t.equal(page503.status, 503, 'GET /webrtc answers 503 while no worker lives');
  t.match(page503.text, /WebRTC unavailable: no mediasoup worker alive/);
  t.ok(Number(page503.retryAfter) >= 1, `with Retry-After: ${page503.retryAfter}`);
  const upgrade = await new Promise<{ status: number; body: string }>((done, fail) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${server.config.webrtc.path}/signal`, { headers: { authorization: `Bearer ${TOKEN}` } });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => fail(new Error('the signaling upgrade was accepted with no worker alive')));
    ws.on('error', () => {});
  });
  t.equal(upgrade.status, 503, 'the signaling upgrade answers 503');
  t.match(upgrade.body, /no mediasoup worker alive/);
  const seenAfter = Date.now() - killedAt;
  t.ok(seenAfter < respawnDelayMs, `all of that seen before the respawn was due (${seenAfter} ms after the kill)`);

  await waitFor(async () => (await metric('devox_webrtc_workers_live')) === 1, 20_000, 'the respawn');
  t.ok(Date.now() - killedAt >= respawnDelayMs - 100, `respawned after the backoff (${Date.now() - killedAt} ms)`);
  t.equal(await metric('devox_webrtc_worker_respawns_total{result="ok"}'), 1, 'the respawn is counted');
  const [pid2, ...others2] = workerPids(workerBin!);
  t.ok(pid2 && pid2 !== pid, `a new worker runs (pid ${pid2})`);
  t.same(others2, [], 'still one worker');
  r = await readyz();
  t.equal(r.status, 200);
  t.equal(r.body.degraded, undefined, 'nothing degraded any more');
  t.match(r.body.capacity?.webrtc, { workers: 1, liveWorkers: 1 });
  t.equal((await pageStatus()).status, 200, 'GET /webrtc serves the page again');

  const second = await session();
  t.equal(second.state, 'connected', 'a new browser session connects through the respawned worker');
  t.not(second.streamId, first.streamId);
  t.ok(second.label && second.label !== 'listening', `its page shows a label: ${second.label}`);
  t.ok(verdicts.some((v) => v.stream.streamId === second.streamId && v.stream.transport === 'webrtc'), 'a verdict for the new session');
  await second.page.click('#stop');
  await waitFor(() => ended.some((e) => e.streamId === second.streamId), 10_000, 'the second stream to end');
  t.equal(server.webrtc!.size, 0, 'no session left');
});
