/**
 * The small vocoders behind the paired vocoder fakes (training/devoxtrain/vocoder.py, training/resynth_vocoder.py),
 * on untrained nets in a few seconds (test/training/checks.py vocoder).
 */
import t from 'tap';
import { check } from './python.js';

interface Voc {
  shapes: Record<string, { samples: number; frames: number; mels: number; out: number; finite: boolean }>;
  istft_max_err: number;
  chunked: { len_in: number; len_out: number; max_diff: number };
  manifest: { rows: number; labels: string[]; generators: string[]; pair_keys: string[]; lengths_match: boolean; rms_ratio_db: number[] };
}

t.test('vocoders: mel frames in, samples out; exact inverse STFT; paired manifest', async (t) => {
  const v = await check<Voc>(['vocoder']);
  for (const [name, s] of Object.entries(v.shapes)) {
    t.equal(s.mels, 80, `${name}: 80 mel bands`);
    t.equal(s.frames * (name.endsWith('h160') ? 160 : 256), s.samples, `${name}: one frame per hop`);
    t.equal(s.out, s.samples, `${name}: T frames -> T x hop samples`);
    t.ok(s.finite, `${name}: finite output`);
  }
  t.ok(v.istft_max_err < 1e-5, `Vocos' "same" inverse STFT inverts the mel front-end's framing (${v.istft_max_err.toExponential(1)})`);
  t.equal(v.chunked.len_out, v.chunked.len_in, 'whole-file vocoding keeps the length');
  t.ok(v.chunked.max_diff < 1e-4, `chunks with context = one pass (${v.chunked.max_diff.toExponential(1)})`);
  t.equal(v.manifest.rows, 4, 'one row per genuine file per vocoder in the combined manifest');
  t.same(v.manifest.labels, ['synthetic']);
  t.same(v.manifest.generators, ['vocoder-h', 'vocoder-v']);
  t.same(v.manifest.pair_keys, ['audio/g0.wav', 'audio/g1.wav'], 'pair_key = the original');
  t.ok(v.manifest.lengths_match, 'each copy as long as its original');
  for (const d of v.manifest.rms_ratio_db) t.ok(Math.abs(d) < 0.5, `level matched to the original (${d} dB)`);
});
