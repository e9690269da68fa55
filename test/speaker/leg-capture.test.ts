/**
 * Enrolment capture on a leg, below the server: the speaker scorer with the real speaker model
 * feeding a LegCapture from media's own window view over real speech (LJSpeech), next to the
 * identity evidence of the same claimed leg (which the capture must not change); then the
 * capture's own rules: whole segments, the leg ending or the time running out with or without
 * enough speech, a second capture refused, and two voices refused by the consistency check.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { resampleBuffer } from '../../src/media/resampler.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import { RingWindowView } from '../../src/media/window-view.js';
import { enrolmentFromEmbeddings, EnrolmentError, type EnrolmentPolicy } from '../../src/speaker/enrolment.js';
import { LegCapture } from '../../src/speaker/leg-capture.js';
import { SpeakerEngine } from '../../src/speaker/speaker-engine.js';
import { SpeakerScorer } from '../../src/speaker/speaker-scorer.js';
import type { SpeakerCard } from '../../src/speaker/types.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';

const MODEL_DIR = resolve(projectRoot, 'models/devox-speaker');
const skip = NEEDS_SHARED_SPEECH || (existsSync(resolve(MODEL_DIR, 'card.json')) ? false : 'models/devox-speaker not built (npm run train:speaker)');
const LJ = sharedSpeech('audio/espnet_tts_sample/genuine/bonafide/lj_bda89e95b0.flac');
const HOP = 0.25;
const policy: EnrolmentPolicy = { minSpeechSec: 3, minSegments: 2, segmentWindows: 3, hopSec: 0.5, minConsistency: 0.103, minSpeechRatio: 0.2, speechThresholdDbfs: -45 };
const stream: StreamDescriptor = { streamId: 's-1', callId: 'call-1', leg: 'caller', transport: 'rtp', identity: { 'x-devox-claim': 'someone' } };

async function refusal(p: Promise<unknown>): Promise<EnrolmentError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EnrolmentError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

t.test('the scorer feeds a capture beside the identity evidence of the same leg', { skip }, async (t) => {
  const engine = await SpeakerEngine.start(MODEL_DIR);
  const log = createLogger('silent');
  const identity = { embedded: 0, drained: 0, count: 0 };
  const scorer = new SpeakerScorer({
    engine,
    everyNth: 4,
    minSpeechRatio: 0.2,
    maxBatchSize: 32,
    maxBatchWaitMs: 5,
    sink: {
      onEmbedding: (_s, acc) => {
        identity.embedded++;
        identity.count = acc.count;
      },
      onSpeakerDrained: () => void identity.drained++,
    },
    log,
  });
  t.teardown(() => scorer.close());
  const dim = engine.card.output.dim;
  const len = engine.windowLength;
  const rate = engine.card.input.sampleRate;
  const audio = await readAudioFile(LJ);
  const x = resampleBuffer(audio.samples, audio.sampleRate, rate);

  scorer.onStreamStart(stream);
  const capture = new LegCapture({ dim, policy, everyNth: 2, windowHopSec: HOP, name: 'call call-1 leg caller' });
  t.equal(scorer.attach('s-1', capture), null, 'attached');
  t.equal(scorer.attach('s-1', new LegCapture({ dim, policy, everyNth: 2, windowHopSec: HOP, name: 'x' })), 'busy', 'a second capture on the leg: busy');
  t.equal(scorer.attach('nope', capture), 'unknown', 'an unknown leg');
  t.same(scorer.legsOf('call-1'), [stream]);

  // 16 windows of 1 s every 250 ms, cut from real speech by media's own window view.
  const ring = new Float32Array(len);
  const view = new RingWindowView(stream, rate, ring);
  const windows = 16;
  for (let i = 0; i < windows; i++) {
    ring.set(x.subarray(i * HOP * rate, i * HOP * rate + len));
    Object.assign(view, { seq: i, mediaStartSec: i * HOP, mediaEndSec: i * HOP + 1, speechRatio: 1, start: 0 });
    scorer.onWindow(view);
  }
  await scorer.flush();
  const got = await capture.result;
  t.equal(identity.count, windows / 4, 'the identity evidence holds its own one window in four, nothing of the capture');
  t.equal(got.layout.rows, 6, 'the capture took one window in two, and stopped at whole segments once the speech was there');
  t.same(Array.from(got.layout.segment), [0, 0, 0, 1, 1, 1]);
  t.equal(got.layout.speechSec, windows * HOP, 'speech: Σ speech ratio × hop');
  t.match(got.layout.segmentNames, ['call call-1 leg caller at 1.0 s', 'call call-1 leg caller at 2.5 s']);
  const record = enrolmentFromEmbeddings('lj', got.layout, got.embeddings, engine.card, policy);
  t.match(record, { account: 'lj', segments: 2, speechSec: 4, modelVersion: engine.card.version });
  t.ok(record.minSegmentCosine >= policy.minConsistency, `one voice: consistent (${record.minSegmentCosine})`);

  scorer.detach('s-1', capture);
  t.equal(scorer.stats.streams, 1, 'the claimed leg is still embedded for identity');
  scorer.onStreamEnd(stream, 'bye');
  t.equal(identity.drained, 1, 'identity drained once');
  t.same(scorer.legsOf('call-1'), [], 'the leg is gone');
});

t.test('a capture settles by its rules', async (t) => {
  const dim = 4;
  const unit = (i: number): Float32Array => Float32Array.from({ length: dim }, (_, k) => (k === i ? 1 : 0));
  const feed = (c: LegCapture, vectors: Float32Array[], speechPerWindow = 1): void => {
    vectors.forEach((v, i) => {
      c.onWindow({ mediaStartSec: i, mediaEndSec: i + 1, speechRatio: speechPerWindow, rmsDbfs: -20, lostRatio: 0 });
      c.onWindow({ mediaStartSec: i, mediaEndSec: i + 1, speechRatio: speechPerWindow, rmsDbfs: -20, lostRatio: 0 });
      c.onEmbedding(v, 0, i + 1);
    });
  };
  const card: SpeakerCard = {
    name: 'm', version: '1', sha256: '', file: 'model.onnx', kind: 'speaker_embedding',
    input: { name: 'audio', sampleRate: 16000, windowSec: 1, shape: ['batch', 16000] },
    output: { name: 'embedding', dim, normalized: true },
    thresholds: { eer: 0.4, far1: 0.6, enrolConsistency: 0.103 },
  };
  const make = (): LegCapture => new LegCapture({ dim, policy, everyNth: 2, windowHopSec: HOP, name: 'call c leg caller' });

  const ended = make();
  feed(ended, [unit(0), unit(0), unit(0)]);
  ended.onLegEnded('bye');
  const e = await refusal(ended.result);
  t.match(e, { code: 'leg_ended', details: { speechSec: 1.5, minSpeechSec: 3, segments: 1, minSegments: 2 } });
  t.match(e.message, /the leg ended \(bye\) after 1\.5 s of speech in 1 segment of 3 windows; enrolment needs 3 s of speech in 2 segments/);

  const late = make();
  feed(late, [unit(0), unit(0), unit(0), unit(0), unit(0)], 1.5); // 3.75 s of speech, 5 windows: not whole segments yet
  t.equal(late.settled, false, 'waits for whole segments');
  late.stop('capture_timeout', 'the capture timed out (1 s)');
  t.equal((await late.result).layout.rows, 5, 'the time ran out with what the file rules accept: enrolled with it');

  const cancelled = make();
  feed(cancelled, [unit(0), unit(0), unit(0), unit(0), unit(0)], 1.5);
  cancelled.stop('capture_cancelled', 'the request was cancelled');
  t.match(await refusal(cancelled.result), { code: 'capture_cancelled' }, 'cancelled: nothing, whatever was captured');

  const grows = new LegCapture({ dim, policy: { ...policy, minSpeechSec: 60 }, everyNth: 1, windowHopSec: HOP, name: 'g' });
  feed(grows, Array.from({ length: 300 }, () => unit(1)), 0.1);
  t.equal(grows.progress.windows, 300, 'more windows than first room for: the buffer grows');

  const twoVoices = make();
  feed(twoVoices, [unit(0), unit(0), unit(0), unit(1), unit(1), unit(1)], 1.5);
  const c = await twoVoices.result;
  const bad = (() => {
    try {
      enrolmentFromEmbeddings('acct', c.layout, c.embeddings, card, policy);
    } catch (err) {
      return err as EnrolmentError;
    }
    return null;
  })();
  t.match(bad, { code: 'inconsistent_segments' }, 'two voices on the leg: refused by the same check as files');
  t.match(bad?.message, /call c leg caller at 1\.0 s \(0\)/, 'naming the segment');
});
