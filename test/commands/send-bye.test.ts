/**
 * `devox send --bye` as a user runs it (a separate process) against a real DevoxServer: the file
 * goes out as real RTP, then the stream listening at --to is ended through the control API, so
 * its call.ended (reason "released") follows at once rather than after media.streamTimeoutMs.
 * Without a stream at that port, --bye says so and exits 1.
 */
import t from 'tap';
import type { CallEndedEvent } from '../../src/verdicts/types.js';
import { LineCapture } from '../helpers/capture.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

t.test('send --bye ends the stream it fed through DELETE /streams', async (t) => {
  const out = new LineCapture();
  // A long stream timeout: only --bye can end the stream within this test.
  const server = await startTestServer({ media: { streamTimeoutMs: 60_000 } }, { stdout: out });
  t.teardown(() => server.close());
  const res = await fetch(`${server.http.url}/streams`, { method: 'POST', body: JSON.stringify({ codec: 'PCMU', callId: 'send-bye', leg: 'caller' }) });
  const opened = (await res.json()) as { streamId: string; port: number };
  const started = performance.now();
  const r = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${opened.port}`, '--codec', 'pcmu', '--bye', '--api', server.http.url], { timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { sent: number; ended: string };
  t.equal(summary.ended, opened.streamId, 'the summary names the stream it ended');
  t.ok(summary.sent > 500, `${summary.sent} packets sent`);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'the stream ended');
  t.ok(performance.now() - started < 40_000, 'ended right after the file, not by the 60-s timeout');
  // The stdout publisher's lines: {"subject", "event"}.
  const endedEvents = (): CallEndedEvent[] =>
    out.lines.map((l) => (JSON.parse(l) as { event: { type: string } }).event).filter((e): e is CallEndedEvent => e.type === 'call.ended');
  await waitFor(() => endedEvents().length > 0, 5000, 'call.ended on the event output');
  const ended = endedEvents();
  t.equal(ended.length, 1);
  t.equal(ended[0]!.streamId, opened.streamId);
  t.equal(ended[0]!.reason, 'released', 'call.ended reason "released" (an API release)');
  t.ok(ended[0]!.evidence.windows > 30, `the whole file was analysed (${ended[0]!.evidence.windows} windows)`);
});

t.test('send --bye with no stream at that port: the reason, exit 1', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const r = await runDevoxCli(['send', GENUINE_FILE, '--to', '127.0.0.1:9', '--no-realtime', '--bye', '--api', server.http.url], { timeoutMs: 60_000 });
  t.equal(r.code, 1);
  t.match(r.stderr, /devox send: --bye: no DevoX stream listens at port 9/);
});
