/**
 * Channel-aware models end to end: a real DevoxServer with a primary (wideband) model and a
 * narrowband model (real ONNX fixtures in real inference workers), a PCMU call and an L16/16 kHz
 * call streamed as real RTP over 127.0.0.1; events read from the server's stdout publisher. The
 * G.711 leg is scored and judged by the narrowband model with its card's thresholds, the 16 kHz
 * leg by the wideband model; /metrics names both models.
 */
import t from 'tap';
import type { DevoxEvent, WindowScoredEvent } from '../../src/verdicts/types.js';
import { modelVariant } from '../detect/support.js';
import { scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { LineCapture } from '../helpers/capture.js';
import { GENUINE_FILE, TINY_MODEL } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

t.test('a PCMU leg is judged by the narrowband model, an L16 16 kHz leg by the wideband one', async (t) => {
  const nb = await modelVariant((c) => {
    c.name = 'devox-tiny-nb';
    c.version = 'tiny-nb-1';
    c.band = 'narrowband';
    // far from the primary's (0.5 / 0.7): a verdict made with the wrong card would show
    c.thresholds = { eer: 0.02, suspicious: 0.01, synthetic: 0.03 };
  });
  const out = new LineCapture();
  const server = await startTestServer({ detect: { modelDir: TINY_MODEL, narrowbandModelDir: nb } }, { stdout: out });
  t.teardown(() => server.close());

  const callId = 'band-routing-1';
  const g711 = await server.openStream({ callId, leg: 'caller', codec: 'PCMU' });
  const wide = await server.openStream({ callId, leg: 'callee', codec: 'L16' });
  await Promise.all([sendFile(g711, GENUINE_FILE, { maxSec: 3 }), sendFile(wide, GENUINE_FILE, { maxSec: 3 })]);
  await new Promise((r) => setTimeout(r, 100));
  server.releaseStream(g711.streamId);
  server.releaseStream(wide.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'both legs finished');

  await server.publisher.flush(5000);
  const events = out.lines.map((l) => (JSON.parse(l) as { event: DevoxEvent }).event);
  for (const [leg, version] of [[g711, 'tiny-nb-1'], [wide, 'tiny-1']] as const) {
    const windows = events.filter((e): e is WindowScoredEvent => e.type === 'window.scored' && e.streamId === leg.streamId);
    t.ok(windows.length >= 6, `${leg.codec}: ${windows.length} windows scored`);
    t.same([...new Set(windows.map((w) => w.modelVersion))], [version], `${leg.codec}: every window scored by ${version}`);
  }
  // The narrowband card's thresholds (synthetic at 0.03) put any real score in `synthetic`;
  // the primary's (genuine below 0.5) would not, for these scores of the tiny model.
  const nbScores = events.filter((e): e is WindowScoredEvent => e.type === 'window.scored' && e.streamId === g711.streamId).map((w) => w.score);
  const ended = events.find((e) => e.type === 'call.ended' && e.streamId === g711.streamId);
  t.ok(ended, 'the G.711 leg ended');
  t.equal(ended?.modelVersion, 'tiny-nb-1', 'call.ended names the model that judged the leg');
  t.equal(events.find((e) => e.type === 'call.ended' && e.streamId === wide.streamId)?.modelVersion, 'tiny-1');
  const label = JSON.stringify(ended);
  t.ok(Math.min(...nbScores) >= 0.05, `the tiny model scores these windows ≥ 0.05 (min ${Math.min(...nbScores).toFixed(3)}): above the narrowband card's synthetic threshold 0.03, so its first decision is synthetic and never drops below 0.03 - hysteresis`);
  t.match(label, /"synthetic"/, 'judged with the narrowband card (synthetic at 0.03), not the primary one (0.7)');

  const metrics = await scrape(server);
  t.match(metrics, /devox_model_info\{name="devox-tiny-nb",version="tiny-nb-1",band="narrowband"\} 1/);
  t.match(metrics, /devox_model_info\{name="devox-tiny",version="tiny-1",band="wideband"\} 1/);
});
