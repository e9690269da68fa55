/**
 * The small vocoders behind the paired vocoder fakes (training/devoxtrain/vocoder.py, training/resynth_vocoder.py),
 * on untrained nets in a few seconds (test/training/checks.py vocoder), and the discriminator and losses of
 * train_vocoder.py --gan.
 */
import t from 'tap';
import { check } from './python.js';

interface Voc {
  shapes: Record<string, { samples: number; frames: number; mels: number; out: number; finite: boolean }>;
  istft_max_err: number;
  chunked: { len_in: number; len_out: number; max_diff: number };
  manifest: { rows: number; labels: string[]; generators: string[]; pair_keys: string[]; lengths_match: boolean; rms_ratio_db: number[] };
  gan: {
    subdiscs: number;
    fmap_counts: number[];
    batch_rows: number[];
    fmaps_match: boolean;
    odd_length_ok: boolean;
    d_loss_at_target: number;
    d_loss_swapped: number;
    g_adv_at_target: number;
    fm_identical: number;
    fm_grad_to_real: boolean;
    losses_scalar_finite: boolean;
    gen_untouched_by_d_step: boolean;
    gen_moved: boolean;
    disc_moved: boolean;
  };
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

  const g = v.gan;
  t.equal(g.subdiscs, 8, '--gan: five period discriminators (2, 3, 5, 7, 11) + three STFT resolutions');
  t.ok(g.fmap_counts.every((n) => n >= 5), `each gives its feature maps (${g.fmap_counts.join(', ')})`);
  t.same(g.batch_rows, [2], 'one logit row per batch item');
  t.ok(g.fmaps_match, 'real and generated feature maps have the same shapes (feature matching)');
  t.ok(g.odd_length_ok, 'a length no period divides is padded, not an error');
  t.equal(g.d_loss_at_target, 0, 'least-squares D loss: 0 for real -> 1, generated -> 0');
  t.equal(g.d_loss_swapped, 16, 'and 2 per sub-discriminator when swapped');
  t.equal(g.g_adv_at_target, 0, 'least-squares G loss: 0 when generated -> 1');
  t.equal(g.fm_identical, 0, 'feature matching of identical audio is 0');
  t.notOk(g.fm_grad_to_real, 'feature matching passes no gradient to the real side');
  t.ok(g.losses_scalar_finite, 'the three losses are finite scalars');
  t.ok(g.gen_untouched_by_d_step, 'the discriminator step does not move the generator');
  t.ok(g.gen_moved && g.disc_moved, 'one adversarial step moves both nets');
});
