/**
 * DetectorSet: each stream is scored by the model of its band (narrowband for audio that arrived
 * at 8 kHz, wideband otherwise), real ONNX models in real inference workers.
 */
import t from 'tap';
import { bandOf, cardBand, DetectorSet } from '../../src/detect/detector-set.js';
import { ModelLoadError } from '../../src/detect/errors.js';
import type { WindowScore } from '../../src/detect/types.js';
import { RingWindowView } from '../../src/media/window-view.js';
import { detectConfig, modelVariant, speech, stream, WindowSource } from './support.js';
import { captureLog } from '../helpers/capture.js';
import { TINY_MODEL } from '../helpers/fixture-paths.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

t.test('bandOf: 8 kHz and below is narrowband, the rest (and unknown) wideband', async (t) => {
  t.equal(bandOf(8000), 'narrowband');
  t.equal(bandOf(16000), 'wideband');
  t.equal(bandOf(48000), 'wideband');
  t.equal(bandOf(undefined), 'wideband');
  t.equal(cardBand({ band: 'narrowband' } as never), 'narrowband');
  t.equal(cardBand({} as never), 'wideband');
});

/** A WindowSource whose view reports the given input rate, as AudioStream's does. */
function sourceAt(id: string, audio: Float32Array, inputRate: number): WindowSource {
  const src = new WindowSource(stream(id), audio);
  const ring = (src.view as unknown as { ring: Float32Array }).ring;
  Object.defineProperty(src, 'view', { value: new RingWindowView(src.stream, 16000, ring, inputRate) });
  return src;
}

t.test('a narrowband stream goes to the narrowband model, a wideband one to the primary', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const nb = await modelVariant((c) => {
    c.version = 'tiny-nb-1';
    c.band = 'narrowband';
    c.thresholds = { eer: 0.4, suspicious: 0.3, synthetic: 0.6 };
  });
  const { log } = captureLog();
  const scores: WindowScore[] = [];
  const drained: string[] = [];
  const set = await DetectorSet.create({
    detect: detectConfig(),
    modelDir: TINY_MODEL,
    narrowbandModelDir: nb,
    windowSec: 1,
    log,
    sink: { onScore: (s) => scores.push(s), onStreamDrained: (s) => drained.push(s.streamId) },
  });
  t.teardown(() => set.close());
  t.same(
    set.models.map((m) => [m.band, m.card.version]),
    [
      ['wideband', 'tiny-1'],
      ['narrowband', 'tiny-nb-1'],
    ],
  );
  t.equal(set.cardFor('narrowband').thresholds.suspicious, 0.3);
  t.equal(set.cardFor('wideband').version, 'tiny-1');
  t.equal(set.cardOfVersion('tiny-nb-1')?.band, 'narrowband');
  t.equal(set.cardOfVersion('nope'), undefined);

  const audio = await speech();
  const narrow = sourceAt('nb', audio, 8000);
  const wide = sourceAt('wb', audio, 16000);
  for (const src of [narrow, wide]) set.onStreamStart(src.stream);
  for (let i = 0; i < 6; i++) {
    set.onWindow(narrow.next());
    set.onWindow(wide.next());
  }
  set.onStreamStart(stream('silent'));
  for (const src of [narrow, wide]) set.onStreamEnd(src.stream, 'eof');
  set.onStreamEnd(stream('silent'), 'eof');
  await set.flush();
  const by = (id: string): string[] => [...new Set(scores.filter((s) => s.stream.streamId === id).map((s) => s.modelVersion))];
  t.same(by('nb'), ['tiny-nb-1'], 'the 8 kHz stream is scored by the narrowband model only');
  t.same(by('wb'), ['tiny-1'], 'the 16 kHz stream by the wideband one only');
  t.equal(scores.length, 12, 'every window scored once');
  t.same(drained.sort(), ['nb', 'silent', 'wb'], 'each stream drained exactly once, one without windows too');
  t.equal(set.stats.scored, 12);
});

t.test('without a narrowband model the primary serves every band', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { log } = captureLog();
  const scores: WindowScore[] = [];
  const set = await DetectorSet.create({ detect: detectConfig(), modelDir: TINY_MODEL, windowSec: 1, log, sink: { onScore: (s) => scores.push(s) } });
  t.teardown(() => set.close());
  const src = sourceAt('nb', await speech(), 8000);
  set.onStreamStart(src.stream);
  set.onWindow(src.next());
  set.onStreamEnd(src.stream, 'eof');
  await set.flush();
  t.same(
    scores.map((s) => s.modelVersion),
    ['tiny-1'],
  );
  t.equal(set.cardFor('narrowband').version, 'tiny-1');
});

t.test('a narrowband model dir is refused unless its card serves narrowband with its own version', async (t) => {
  const { log } = captureLog();
  const base = { detect: detectConfig(), modelDir: TINY_MODEL, windowSec: 1, log, sink: { onScore: () => undefined } };
  const wideCard = await modelVariant((c) => {
    c.version = 'tiny-2';
  });
  await t.rejects(DetectorSet.create({ ...base, narrowbandModelDir: wideCard }), ModelLoadError);
  await t.rejects(DetectorSet.create({ ...base, narrowbandModelDir: wideCard }), { message: /serves band "wideband", not narrowband/ });
  const sameVersion = await modelVariant((c) => {
    c.band = 'narrowband';
  });
  await t.rejects(DetectorSet.create({ ...base, narrowbandModelDir: sameVersion }), { message: /version "tiny-1" is the primary model's too/ });
  await t.rejects(DetectorSet.create({ ...base, narrowbandModelDir: '/nonexistent/model' }), ModelLoadError);
});

t.test('swapModel swaps the model of the band the new card serves', async (t) => {
  const nb = await modelVariant((c) => {
    c.version = 'tiny-nb-1';
    c.band = 'narrowband';
  });
  const nb2 = await modelVariant((c) => {
    c.version = 'tiny-nb-2';
    c.band = 'narrowband';
  });
  const wb2 = await modelVariant((c) => {
    c.version = 'tiny-2';
  });
  const { log } = captureLog();
  const set = await DetectorSet.create({ detect: detectConfig(), modelDir: TINY_MODEL, narrowbandModelDir: nb, windowSec: 1, log, sink: { onScore: () => undefined } });
  t.teardown(() => set.close());
  await set.swapModel(nb2);
  t.equal(set.cardFor('narrowband').version, 'tiny-nb-2');
  t.equal(set.cardFor('wideband').version, 'tiny-1');
  await set.swapModel(wb2);
  t.equal(set.cardFor('wideband').version, 'tiny-2');
  t.equal(set.cardFor('narrowband').version, 'tiny-nb-2');
});
