/**
 * VerdictPipeline with its real parts (tiny real ONNX model in the Detector's worker, the
 * StdoutPublisher writing JSON lines), wired in data order: real media AudioStreams (transport
 * "file") → DetectorSet → VerdictPipeline:
 * per-stream event order, a throwing listener, a stream that ends without enough speech,
 * a stream still open at close(), and the call verdict across two legs.
 */
import t from 'tap';
import { loadConfig, type Config } from '../../src/config.js';
import { DetectorSet } from '../../src/detect/detector-set.js';
import { ScoreFanOut } from '../../src/detect/score-fan-out.js';
import { AudioStream } from '../../src/media/audio-stream.js';
import { floatToInt16 } from '../../src/media/audio-file.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { metricsObservers, publisherObserver } from '../../src/observability/observers.js';
import { VerdictPipeline, type VerdictListener } from '../../src/verdicts/pipeline.js';
import type { EventPublisher } from '../../src/verdicts/publisher.js';
import { StdoutPublisher } from '../../src/verdicts/stdout-publisher.js';
import type { CallEndedEvent, DevoxEvent, StreamSilenceEvent } from '../../src/verdicts/types.js';
import { eventValidator } from '../helpers/events.js';
import { loadAudio, metricValue } from '../helpers/devox-server.js';
import { LineCapture } from '../helpers/capture.js';
import { GENUINE_FILE, TINY_MODEL } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

const validate = eventValidator();

/** media → detector → pipeline, as the server wires them; close() ends the detector, then the pipeline. */
async function startChain(opts: { config: Readonly<Config>; metrics: Metrics; publisher: EventPublisher; listener?: VerdictListener }) {
  const log = createLogger('silent');
  const observers = metricsObservers(opts.metrics);
  const scores = new ScoreFanOut(log);
  const detector = await DetectorSet.create({
    detect: opts.config.detect,
    modelDir: opts.config.detect.modelDir,
    narrowbandModelDir: opts.config.detect.narrowbandModelDir,
    windowSec: opts.config.window.lengthSec,
    log,
    sink: scores,
    observer: observers.detector,
  });
  const pipeline = new VerdictPipeline({
    verdict: opts.config.verdict,
    models: detector,
    log,
    observer: observers.verdicts,
    publisher: opts.publisher,
    ...(opts.listener ? { listener: opts.listener } : {}),
  });
  scores.add(pipeline);
  const close = async (): Promise<void> => {
    await detector.close();
    pipeline.close();
  };
  return { detector, pipeline, close };
}

t.test('pipeline: events per stream, call verdict, throwing listener, insufficient speech, shutdown', async (t) => {
  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL } } });
  const metrics = new Metrics({ defaultMetrics: false });
  const out = new LineCapture();
  const publisher = new StdoutPublisher('devox', publisherObserver(metrics), out);
  let listenerCalls = 0;
  const { detector, pipeline, close } = await startChain({
    config,
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
  t.teardown(close);
  const rate = detector.card.input.sampleRate;
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
      sink: detector,
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
  // Leg b's RTP stops (a SIP leg on hold) and comes back: two stream.silence events, the leg stays live.
  const labelB = pipeline.label('leg-b');
  pipeline.onStreamSilence(b.descriptor, true, 5321.4);
  pipeline.onStreamSilence(b.descriptor, false, 0);
  pipeline.onStreamSilence({ ...b.descriptor, streamId: 'never-started' }, true, 6000); // unknown stream: nothing
  t.equal(pipeline.label('leg-b'), labelB, 'silence leaves the label alone');
  await close(); // leg b is still open: it ends with reason "shutdown"
  await close(); // idempotent

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
  const silences = events.filter((e): e is StreamSilenceEvent => e.type === 'stream.silence');
  t.same(silences.map((e) => [e.streamId, e.silent, e.silentSec, e.label]), [['leg-b', true, 5.321, labelB], ['leg-b', false, 0, labelB]],
    'stream.silence: silent after 5.3 s, then resumed, under the live label');
  t.not(silences[0]!.eventId, silences[1]!.eventId, 'each silence event has its own id');
  t.equal(events.filter((e) => e.streamId === 'never-started').length, 0);
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

t.test('after a model swap a live stream is judged by the new model with its own thresholds', async (t) => {
  // Version 2 of the tiny model: the same network, a card whose thresholds put the same
  // scores (noise, ~0.97) in `suspicious` instead of `synthetic`.
  const { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const v2 = mkdtempSync(join(tmpdir(), 'devox-tiny-v2-'));
  t.teardown(() => rmSync(v2, { recursive: true, force: true }));
  cpSync(TINY_MODEL, v2, { recursive: true });
  const card = JSON.parse(readFileSync(join(v2, 'card.json'), 'utf8'));
  card.version = 'tiny-2';
  card.thresholds = { eer: 0.97, suspicious: 0.9, synthetic: 0.995 };
  writeFileSync(join(v2, 'card.json'), JSON.stringify(card));

  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL } } });
  const metrics = new Metrics({ defaultMetrics: false });
  const out = new LineCapture();
  const { detector, pipeline, close } = await startChain({ config, metrics, publisher: new StdoutPublisher('devox', publisherObserver(metrics), out) });
  t.teardown(close);
  let seed = 7;
  const noise = floatToInt16(new Float32Array(16000 * 5).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.5));
  const open = (streamId: string) =>
    new AudioStream({
      descriptor: { streamId, callId: streamId, leg: 'caller', transport: 'file' },
      inputRate: 16000, outputRate: 16000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink: detector,
    });
  const now = () => performance.timeOrigin + performance.now();
  const early = open('early');
  let pos = 0;
  for (; pos < 16000 * 2; pos += 320) early.write(noise, pos, 320, pos, now());
  await detector.flush();
  t.equal(pipeline.label('early'), 'synthetic', 'tiny-1 (synthetic threshold 0.7) calls the noise synthetic');
  await detector.swapModel(v2);
  const late = open('late');
  for (let p = 0; pos < noise.length; pos += 320, p += 320) {
    early.write(noise, pos, 320, pos, now());
    late.write(noise, pos - 16000 * 2, 320, p, now());
  }
  early.end('eof');
  late.end('eof');
  await waitFor(() => pipeline.stats.streams === 0, 10_000, 'both streams finished');
  const events = out.lines.map((l) => (JSON.parse(l) as { event: DevoxEvent }).event);
  const ended = (id: string) => events.find((e): e is CallEndedEvent => e.type === 'call.ended' && e.streamId === id)!;
  t.equal(ended('late').label, 'suspicious', 'a stream started after the swap: suspicious under tiny-2');
  t.equal(ended('early').label, 'suspicious', 'the stream started before it ends the same way, not held at synthetic by tiny-1 thresholds');
  const early2 = events.filter((e) => e.streamId === 'early' && e.type === 'window.scored' && e.modelVersion === 'tiny-2');
  t.ok(early2.length > 0, 'the early stream had windows scored by tiny-2');
  const change = events.find((e) => e.streamId === 'early' && e.type === 'verdict.changed' && (e as { label: string }).label === 'suspicious');
  t.equal(change?.modelVersion, 'tiny-2', 'the change to suspicious comes with the first tiny-2 windows');
});

t.test('first-verdict histogram: the first decision, not insufficient_speech', async (t) => {
  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL } } });
  const metrics = new Metrics({ defaultMetrics: false });
  const { detector, pipeline, close } = await startChain({ config, metrics, publisher: new StdoutPublisher('devox', publisherObserver(metrics), new LineCapture()) });
  t.teardown(close);
  const s = new AudioStream({
    descriptor: { streamId: 'hold-then-talk', callId: 'hold-then-talk', leg: 'caller', transport: 'file' },
    inputRate: 16000, outputRate: 16000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink: detector,
  });
  const now = () => performance.timeOrigin + performance.now();
  const silentSec = config.verdict.insufficientSpeechAfterSec + 1; // on hold past the insufficient-speech mark
  let pos = 0;
  for (; pos < 16000 * silentSec; pos += 320) s.writeSilence(320, pos, now());
  let seed = 3;
  const noise = floatToInt16(new Float32Array(16000 * 3).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.5));
  for (let p = 0; p < noise.length; p += 320, pos += 320) s.write(noise, p, 320, pos, now());
  s.end('eof');
  await waitFor(() => pipeline.stats.streams === 0, 10_000, 'stream finished');
  const text = await metrics.text();
  t.equal(metricValue(text, 'devox_first_verdict_media_seconds_count'), 1, 'one stream decided once');
  const at = metricValue(text, 'devox_first_verdict_media_seconds_sum');
  t.ok(at > silentSec + 1, `recorded at the decision (${at} s of media), after the hold and a second of speech, not at ${config.verdict.insufficientSpeechAfterSec} s`);
  t.ok(metricValue(text, 'devox_verdicts_total', 'label="insufficient_speech"') >= 1, 'the stream did pass through insufficient_speech');
});

t.test('devox_windows_shed_total says why: windows that do not fit the model are invalid_window, not overload', async (t) => {
  const config = loadConfig({ env: {}, overrides: { detect: { modelDir: TINY_MODEL } } });
  const metrics = new Metrics({ defaultMetrics: false });
  const { detector, pipeline, close } = await startChain({ config, metrics, publisher: new StdoutPublisher('devox', publisherObserver(metrics), new LineCapture()) });
  t.teardown(close);
  // Media misconfigured to cut 8 kHz windows for a 16 kHz model.
  const s = new AudioStream({
    descriptor: { streamId: 'narrow', callId: 'narrow', leg: 'caller', transport: 'file' },
    inputRate: 8000, outputRate: 8000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink: detector,
  });
  const speech = await loadAudio(GENUINE_FILE, 2);
  const { resampleBuffer } = await import('../../src/media/resampler.js');
  const pcm = floatToInt16(resampleBuffer(speech.samples, 16000, 8000));
  for (let p = 0; p + 160 <= pcm.length; p += 160) s.write(pcm, p, 160, p, performance.timeOrigin + performance.now());
  s.end('eof');
  await waitFor(() => pipeline.stats.streams === 0, 10_000, 'stream finished');
  const text = await metrics.text();
  const invalid = metricValue(text, 'devox_windows_shed_total', 'reason="invalid_window"');
  t.ok(invalid >= 4, `shed as invalid_window: ${invalid}`);
  for (const reason of ['queue_delay', 'buffer_full', 'inference_error', 'closed']) {
    t.equal(metricValue(text, 'devox_windows_shed_total', `reason="${reason}"`), 0, `${reason}: exported at 0`);
  }
});
