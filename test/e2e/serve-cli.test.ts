/**
 * `devox serve` as a real child process with embedded defaults (no NATS: events on stdout
 * as JSON lines): a stream opened with --open-stream and one opened over HTTP POST /streams
 * receive real RTP; /metrics, /healthz, /readyz answer; SIGTERM ends both streams with
 * call.ended on stdout and exits 0.
 */
import t from 'tap';
import { spawnDevox } from '../helpers/child-process.js';
import { waitFor } from '../helpers/wait.js';
import type { DevoxEvent } from '../../src/verdicts/types.js';
import { eventValidator } from '../helpers/events.js';
import { loadAudio, metricValue, testModelDir } from '../helpers/devox-server.js';
import { sendAudio } from '../../src/media/rtp-sender.js';
import { GENUINE_FILE, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';

const validate = eventValidator();

/** The port in the server's structured "HTTP server listening" log line (stderr, pino JSON). */
function listeningPort(stderr: string): number {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { msg?: string; port?: number };
      if (o.msg?.startsWith('HTTP server listening') && o.port) return o.port;
    } catch {
      // a partial line: read again on the next poll
    }
  }
  return 0;
}

t.test('devox serve: RTP without SIP, events on stdout, graceful SIGTERM', async (t) => {
  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-port', '0', '--model', testModelDir(), '--open-stream', 'pcmu:cli-call:caller', '--log-level', 'info']);
  const { child, exited } = run;
  const base = run.rtpPortMin;

  let httpPort = 0;
  let rtpPort = 0;
  await waitFor(() => {
    httpPort ||= listeningPort(run.stderr());
    rtpPort ||= Number(/RTP stream open: udp 127\.0\.0\.1:(\d+) PCMU\/8000 pt 0 call cli-call leg caller/.exec(run.stderr())?.[1] ?? 0);
    return (httpPort > 0 && rtpPort > 0) || child.exitCode !== null;
  }, 30_000, 'the HTTP and --open-stream ports in the log', 50);
  t.ok(httpPort > 0, `HTTP port from the log (${httpPort})`);
  t.ok(rtpPort >= base && rtpPort <= base + 399, `--open-stream port printed (${rtpPort})`);
  const http = `http://127.0.0.1:${httpPort}`;

  t.equal((await fetch(`${http}/healthz`)).status, 200);
  const ready = await fetch(`${http}/readyz`);
  t.equal(ready.status, 200, 'ready: model loaded, no NATS needed');

  const bad = await fetch(`${http}/streams`, { method: 'POST', body: JSON.stringify({ codec: 'G729' }) });
  t.equal(bad.status, 400, 'unknown codec refused');
  t.match(await bad.text(), /codec/);
  const res = await fetch(`${http}/streams`, { method: 'POST', body: JSON.stringify({ codec: 'PCMA', callId: 'cli-call', leg: 'callee' }) });
  t.equal(res.status, 201);
  const opened = (await res.json()) as { port: number; payloadType: number; streamId: string };
  t.equal(opened.payloadType, 8);

  const g = await loadAudio(GENUINE_FILE, 2.6);
  const s = await loadAudio(SYNTHETIC_FILE, 2.6);
  await Promise.all([
    sendAudio(g.samples, g.sampleRate, { codec: 'PCMU', to: { address: '127.0.0.1', port: rtpPort } }),
    sendAudio(s.samples, s.sampleRate, { codec: 'PCMA', payloadType: 8, to: { address: '127.0.0.1', port: opened.port } }),
  ]);
  // The child scores in its own worker: wait for the windows of 2 x 2.6 s of audio (7 each).
  await waitFor(async () => metricValue(await (await fetch(`${http}/metrics`)).text(), 'devox_windows_scored_total') >= 2 * 7, 15_000, '14 windows scored', 50);
  const list = (await (await fetch(`${http}/streams`)).json()) as { streams: Array<{ leg: string; counters: { packetsReceived: number } }> };
  t.equal(list.streams.length, 2);
  t.ok(list.streams.every((x) => x.counters.packetsReceived >= 120), 'both streams received the RTP');
  const metrics = await (await fetch(`${http}/metrics`)).text();
  t.ok(metricValue(metrics, 'devox_windows_scored_total') >= 2 * 7, 'windows scored');
  t.ok(metricValue(metrics, 'devox_window_to_verdict_seconds_count') >= 2 * 7);
  t.equal(metricValue(metrics, 'devox_active_calls'), 1, 'one call with two legs');
  t.equal(metricValue(metrics, 'devox_active_streams', 'transport="rtp"'), 2);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'graceful exit on SIGTERM');
  const events = run
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { subject: string; event: DevoxEvent });
  t.ok(events.length > 10, `${events.length} JSON lines on stdout`);
  for (const { subject, event } of events) {
    const err = validate(event);
    if (err) t.fail(`schema: ${err}`);
    if (!subject.startsWith('devox.call.cli-call.')) t.fail(`subject ${subject}`);
  }
  const types = new Set(events.map((e) => e.event.type));
  t.same([...types].sort(), ['call.ended', 'call.started', 'verdict.changed', 'window.scored']);
  const ended = events.filter((e) => e.event.type === 'call.ended').map((e) => e.event);
  t.equal(ended.length, 2, 'both legs ended on shutdown');
  t.same(ended.map((e) => (e as { lastLeg: boolean }).lastLeg).sort(), [false, true]);
  t.match(run.stderr(), /"msg":"shutdown complete"/);
});
