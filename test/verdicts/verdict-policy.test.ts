import t from 'tap';
import { CallVerdict, StreamVerdict, VerdictPolicyError } from '../../src/verdicts/verdict-policy.js';
import type { WindowScore } from '../../src/detect/types.js';
import type { VerdictLabel } from '../../src/verdicts/types.js';

const cfg = {
  minSpeechSec: 1.0,
  minWindowSpeechRatio: 0.3,
  insufficientSpeechAfterSec: 10,
  evidenceAlpha: 0.25,
  hysteresis: 0.05,
  publishWindowEvents: true,
};
const thresholds = { eer: 0.5, suspicious: 0.5, synthetic: 0.8 };
const stream = { streamId: 's1', callId: 'c1', leg: 'caller', transport: 'rtp' as const };

/** Window n of a 1-s window / 250-ms hop stream. */
function win(seq: number, score: number, speechRatio = 1): WindowScore {
  const start = seq * 0.25;
  return {
    stream, seq, score, speechRatio, rmsDbfs: -20, lostRatio: 0,
    mediaStartSec: start, mediaEndSec: start + 1, arrivalMs: 0, readyMs: 0, scoredMs: 0, batchSize: 1, modelVersion: 't',
  };
}

function run(v: StreamVerdict, scores: number[], speech = 1, from = 0): VerdictLabel[] {
  return scores.map((s, i) => v.update(win(from + i, s, speech)).label);
}

t.test('first full window of speech leaves listening (1 s of speech)', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  t.equal(v.label, 'listening');
  const u = v.update(win(0, 0.95));
  t.equal(u.label, 'synthetic');
  t.equal(u.changed, true);
  t.equal(u.evidence.speechSec, 1);
  t.equal(u.evidence.windows, 1);
  t.equal(u.evidence.speechWindows, 1);
  t.ok(Math.abs(u.evidence.score - 0.95) < 1e-9, 'one window: the smoothed score is that window');
  const u2 = v.update(win(1, 0.95));
  t.equal(u2.changed, false);
  t.equal(u2.evidence.speechSec, 1.25, 'overlapping windows add only their new 250 ms');
});

t.test('speech is weighted by speech ratio: half-speech windows need longer', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  const labels = run(v, [0.1, 0.1, 0.1, 0.1], 0.5);
  // 0.5 s after window 0, then +0.125 s per window: 1.0 s reached at window 4.
  t.same(labels, ['listening', 'listening', 'listening', 'listening']);
  t.equal(v.update(win(4, 0.1, 0.5)).label, 'genuine');
});

t.test('non-speech windows are not evidence', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  // Loud synthetic-looking silence must not count.
  const labels = run(v, [0.99, 0.99, 0.99, 0.99], 0.1);
  t.same(labels, ['listening', 'listening', 'listening', 'listening']);
  t.equal(v.evidence.speechWindows, 0);
  t.equal(v.evidence.speechSec, 0);
  t.equal(v.evidence.windows, 4);
  t.equal(v.update(win(4, 0.05, 1)).label, 'genuine', 'the first speech window decides, the silent ones do not weigh');
});

t.test('insufficient speech after the configured media time, recoverable by later speech', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  const silent = Array.from({ length: 40 }, () => 0.5);
  const labels = run(v, silent, 0);
  // window 36 ends at 36*0.25+1 = 10 s.
  t.equal(labels[35], 'listening');
  t.equal(labels[36], 'insufficient_speech');
  t.equal(labels[39], 'insufficient_speech');
  const u = v.update(win(40, 0.9, 1));
  t.equal(u.label, 'synthetic');
  t.equal(u.changed, true);
});

t.test('a stream that ends while listening ends insufficient_speech; decided labels stay', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  run(v, [0.9, 0.9], 0.2);
  t.equal(v.label, 'listening');
  t.equal(v.finish(), 'insufficient_speech');
  t.equal(v.finish(), 'insufficient_speech', 'idempotent');
  const w = new StreamVerdict(cfg, thresholds);
  run(w, [0.95, 0.95]);
  t.equal(w.finish(), 'synthetic');
});

t.test('genuine stream stays genuine despite isolated high windows', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  const scores = [0.1, 0.15, 0.1, 0.9, 0.1, 0.2, 0.95, 0.1, 0.1, 0.15, 0.1, 0.2];
  const labels = run(v, scores);
  t.ok(labels.every((l) => l === 'genuine'), `labels: ${labels.join(',')}`);
});

t.test('sustained synthetic evidence moves genuine → suspicious → synthetic', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  run(v, [0.1, 0.1, 0.1, 0.1]);
  t.equal(v.label, 'genuine');
  const labels = run(v, Array.from({ length: 20 }, () => 0.97), 1, 4);
  t.equal(labels.at(-1), 'synthetic');
  t.ok(labels.includes('suspicious'), 'passes through suspicious on the way');
  const firstSyn = labels.indexOf('synthetic');
  const firstSus = labels.indexOf('suspicious');
  t.ok(firstSus < firstSyn);
});

t.test('hysteresis: a score hovering at the threshold does not flap', async (t) => {
  const v = new StreamVerdict({ ...cfg, evidenceAlpha: 1 }, thresholds); // alpha 1: evidence = last window
  const seq = [0.3, 0.52, 0.48, 0.53, 0.47, 0.51, 0.49];
  const labels = run(v, seq);
  t.same(labels, Array.from(seq, () => 'genuine'), 'within ±0.05 of 0.5 stays genuine');
  t.equal(v.update(win(7, 0.56)).label, 'suspicious', 'crossing by more than the margin moves up');
  t.equal(v.update(win(8, 0.47)).label, 'suspicious', 'dipping just below does not move down');
  t.equal(v.update(win(9, 0.44)).label, 'genuine', 'undercutting by the margin moves down');
  t.equal(v.update(win(10, 0.84)).label, 'suspicious', 'p in [synthetic, synthetic+h) from genuine is only suspicious');
  t.equal(v.update(win(11, 0.86)).label, 'synthetic');
  t.equal(v.update(win(12, 0.77)).label, 'synthetic');
  t.equal(v.update(win(13, 0.74)).label, 'suspicious');
  t.equal(v.update(win(14, 0.01)).label, 'genuine', 'collapse goes straight down to genuine');
});

t.test('evidence is a log-odds mean for the first windows', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  v.update(win(0, 0.9));
  const u = v.update(win(1, 0.1));
  // EMA with bias correction over 2 values: weights 0.75*0.25 and 0.25 over (1-0.75^2) → 3/7 and 4/7.
  const l = Math.log(9);
  const expected = 1 / (1 + Math.exp(-((3 / 7) * l + (4 / 7) * -l)));
  t.ok(Math.abs(u.evidence.score - expected) < 1e-9, `${u.evidence.score} vs ${expected}`);
});

t.test('saturated scores are clamped', async (t) => {
  const v = new StreamVerdict(cfg, thresholds);
  run(v, [1, 1, 1, 1]);
  t.equal(v.label, 'synthetic');
  const labels = run(v, Array.from({ length: 12 }, () => 0), 1, 4);
  t.equal(labels.at(-1), 'genuine', 'a score of exactly 1 does not pin the evidence forever');
});

t.test('bad thresholds are refused with a named error', async (t) => {
  t.throws(() => new StreamVerdict(cfg, { eer: 0.5, suspicious: 0.9, synthetic: 0.8 }), VerdictPolicyError);
  t.throws(() => new StreamVerdict(cfg, { eer: 0.5, suspicious: 0, synthetic: 0.8 }), VerdictPolicyError);
  t.throws(() => new StreamVerdict(cfg, { eer: Number.NaN, suspicious: 0.5, synthetic: 0.8 }), VerdictPolicyError);
});

t.test('call verdict: worst leg wins and names the suspect leg', async (t) => {
  const c = new CallVerdict();
  t.same(c.summary(), { label: 'listening', suspectLeg: null, suspectStreamId: null, score: 0 });
  c.set('a', 'caller', 'listening', 0);
  c.set('b', 'callee', 'genuine', 0.1);
  t.same(c.summary(), { label: 'genuine', suspectLeg: null, suspectStreamId: null, score: 0.1 });
  c.set('a', 'caller', 'synthetic', 0.93);
  t.same(c.summary(), { label: 'synthetic', suspectLeg: 'caller', suspectStreamId: 'a', score: 0.93 });
  c.set('b', 'callee', 'suspicious', 0.6);
  t.equal(c.summary().suspectLeg, 'caller', 'synthetic outranks suspicious');
  c.set('a', 'caller', 'insufficient_speech', 0);
  t.same(c.summary(), { label: 'suspicious', suspectLeg: 'callee', suspectStreamId: 'b', score: 0.6 });
  t.equal(c.size, 2);
});

t.test('call verdict: the suspect leg moves only with a label change, never with scores alone', async (t) => {
  const c = new CallVerdict();
  c.set('a', 'caller', 'suspicious', 0.6);
  c.set('b', 'callee', 'suspicious', 0.58);
  t.equal(c.summary().suspectLeg, 'caller', 'the first suspicious leg decides');
  c.set('b', 'callee', 'suspicious', 0.66);
  c.set('a', 'caller', 'suspicious', 0.56);
  t.same(c.summary(), { label: 'suspicious', suspectLeg: 'caller', suspectStreamId: 'a', score: 0.56 },
    'callee now scores higher at the same label: the suspect stays caller (no event would carry the change)');
  c.set('b', 'callee', 'synthetic', 0.8);
  t.equal(c.summary().suspectLeg, 'callee', 'a worse label moves it (that change is a verdict.changed)');
  c.set('a', 'caller', 'synthetic', 0.95);
  t.equal(c.summary().suspectLeg, 'callee', 'caller reaching the same label with a higher score does not take it');
  c.set('b', 'callee', 'genuine', 0.2);
  t.same(c.summary(), { label: 'synthetic', suspectLeg: 'caller', suspectStreamId: 'a', score: 0.95 }, 'the deciding leg leaving its label hands it on');
  c.set('a', 'caller', 'genuine', 0.3);
  t.same(c.summary(), { label: 'genuine', suspectLeg: null, suspectStreamId: null, score: 0.3 }, 'genuine call: no suspect; among tied legs the higher score reports');
});

t.test('after useModel (a swap) the label holds until the new model has its own evidence, then it decides once without hysteresis', async (t) => {
  const v = new StreamVerdict({ ...cfg, evidenceAlpha: 0.05 }, { eer: 0.5, suspicious: 0.5, synthetic: 0.9 });
  run(v, Array(12).fill(0.6));
  t.equal(v.label, 'suspicious', 'the old model: suspicious at 0.6');
  v.useModel({ eer: 0.2, suspicious: 0.2, synthetic: 0.55 });
  // Pauses first: the old smoothed score (0.6) must not be judged against the new thresholds.
  t.same(run(v, [0.05, 0.05], 0, 12), ['suspicious', 'suspicious'], 'non-speech windows change nothing');
  // Then the new model's speech: the label holds until verdict.minSpeechSec (1 s) of new speech media time
  // (the first speech window after the pause adds 0.75 s, the next 0.25 s)...
  const labels = run(v, Array(8).fill(0.05), 1, 14);
  t.equal(labels[0], 'suspicious', 'held while the new model has less than 1 s of speech');
  t.notOk(labels.includes('synthetic'), 'never synthetic: that would be the old score against the new thresholds');
  // ...and then follows the new model (scores 0.05, below its suspicious 0.2), hysteresis or not.
  t.equal(labels.at(-1), 'genuine', `then the new model's own decision (${labels.join(', ')})`);
});
