/**
 * VerdictPipeline with its real parts (tiny real ONNX model in the Detector's worker, the
 * StdoutPublisher writing JSON lines) fed by real media AudioStreams (transport "file"):
 * per-stream event order, a throwing listener, a stream that ends without enough speech,
 * a stream still open at close(), and the call verdict across two legs.
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { AudioStream } from '../../src/media/audio-stream.js';
import { floatToInt16 } from '../../src/media/audio-file.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { VerdictPipeline } from '../../src/verdicts/pipeline.js';
import { StdoutPublisher } from '../../src/verdicts/publisher.js';
import type { CallEndedEvent, DevoxEvent } from '../../src/verdicts/types.js';
import { eventValidator } from '../helpers/events.js';
import { GENUINE_FILE, StdoutCapture, TINY_MODEL_DIR, loadAudio, metricValue, waitFor } from '../helpers/devox-server.js';

const validate = eventValidator();

t.test('pipeline: events per stream, call verdict, throwing listener, insufficient speech, shutdown', async (t) => {
  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL_DIR } } });
  const metrics = new Metrics({ defaultMetrics: false });
  const out = new StdoutCapture();
  const publisher = new StdoutPublisher('devox', metrics, out);
  let listenerCalls = 0;
  const pipeline = await VerdictPipeline.create({
    config,
    log: createLogger('silent'),
    metrics,
    publisher,
    listener: {
      onVerdict: () => {
        listenerCalls++;
        throw new Error('integrator bug');
      },
      onWindow: () => {
        throw new Error('another bug');
      },
    },
  });
  t.teardown(() => pipeline.close());
  const rate = pipeline.sampleRate;
  const speech = await loadAudio(GENUINE_FILE, 3);
  t.equal(speech.sampleRate, 16000);
  const pcm = floatToInt16(speech.samples);
  const open = (streamId: string, leg: string) =>
    new AudioStream({
      descriptor: { streamId, callId: 'pipe-call', leg, transport: 'file', identity: { case: 'pipeline' } },
      inputRate: 16000,
      outputRate: rate,
      windowSec: config.window.lengthSec,
      hopMs: config.window.hopMs,
      speechThresholdDbfs: config.window.speechThresholdDbfs,
      sink: pipeline,
    });
  const a = open('leg-a', 'caller');
  const b = open('leg-b', 'callee');
  const c = open('leg-c', 'silent'); // only silence: no verdict possible
  for (let pos = 0; pos < pcm.length; pos += 320) {
    const n = Math.min(320, pcm.length - pos);
    a.write(pcm, pos, n, pos, performance.timeOrigin + performance.now());
    b.write(pcm, pos, n, pos, performance.timeOrigin + performance.now());
    c.writeSilence(n, pos, performance.timeOrigin + performance.now());
    if (pos % 3200 === 0) await new Promise((r) => setImmediate(r));
  }
  a.end('eof');
  c.end('eof');
  await waitFor(() => pipeline.stats.streams === 1, 10_000, 'legs a and c finished');
  const mid = await metrics.text();
  const live = ['listening', 'insufficient_speech', 'genuine', 'suspicious', 'synthetic'].reduce(
    (n, label) => n + metricValue(mid, 'devox_live_streams_by_label', `label="${label}"`),
    0,
  );
  t.equal(live, 1, 'one live stream counted under its current label');
  t.equal(metricValue(mid, 'devox_live_streams_by_label', `label="${pipeline.label('leg-b')}"`), 1);
  t.equal(pipeline.label('leg-b') !== undefined, true, 'leg b still live');
  await pipeline.close(); // leg b is still open: it ends with reason "shutdown"
  await pipeline.close(); // idempotent

  const events = out.lines.map((l) => (JSON.parse(l) as { event: DevoxEvent }).event);
  for (const e of events) {
    const err = validate(e);
    if (err) t.fail(`schema: ${err}`);
  }
  for (const id of ['leg-a', 'leg-b', 'leg-c']) {
    const evs = events.filter((e) => e.streamId === id);
    t.same(evs.map((e) => e.seq), evs.map((_, i) => i), `${id}: seq 0..n-1`);
    t.equal(evs[0]!.type, 'call.started');
    t.equal(evs.at(-1)!.type, 'call.ended');
    t.equal(evs.filter((e) => e.type === 'window.scored').length, 9, `${id}: 3 s → 9 windows scored`);
  }
  const ended = (id: string) => events.find((e) => e.streamId === id && e.type === 'call.ended') as CallEndedEvent;
  t.equal(ended('leg-a').reason, 'eof');
  t.not(ended('leg-a').label, 'listening');
  t.equal(ended('leg-c').label, 'insufficient_speech', 'silence only: insufficient_speech at the end');
  t.equal(ended('leg-c').evidence.speechWindows, 0);
  t.equal(ended('leg-b').reason, 'shutdown', 'open at close(): ended by the shutdown');
  t.equal(ended('leg-b').lastLeg, true);
  t.equal(ended('leg-a').lastLeg, false);
  const finalCall = ended('leg-b').call;
  t.not(finalCall.label, 'insufficient_speech', 'a leg with speech decides the call, not the silent one');
  t.ok(listenerCalls >= 2, 'listeners were called (and their throws did not stop anything)');
  const text = await metrics.text();
  t.equal(metricValue(text, 'devox_windows_scored_total'), 27);
  t.equal(metricValue(text, 'devox_insufficient_speech_total'), 1);
  t.equal(metricValue(text, 'devox_active_calls'), 0);
  t.equal(metricValue(text, 'devox_events_published_total', 'type="call.ended"'), 3);
  for (const label of ['listening', 'insufficient_speech', 'genuine', 'suspicious', 'synthetic']) {
    t.equal(metricValue(text, 'devox_live_streams_by_label', `label="${label}"`), 0, `no live ${label} stream left`);
  }
});
