/**
 * The classic source-filter (SPTK/MLSA-style) paired fakes (training/resynth_sourcefilter.py): mel-cepstral bases,
 * minimum-phase envelope, pulse/noise excitation, pyin F0, and aligned, level-matched paired copies
 * (test/training/checks.py sourcefilter, a few seconds).
 */
import t from 'tap';
import { check } from './python.js';

interface Sf {
  mcep_roundtrip_err: number;
  warp_monotone: boolean;
  warp_ends: number[];
  min_phase_mag_err: number;
  pulse_gaps: number[];
  excitation_power: number;
  f0_median: number;
  voiced_share: number;
  copies: Array<{ same_length: boolean; pair_key: string; rms_ratio_db: number; lag_ms: number; lag_back_ms: number; differs: boolean }>;
  labels: string[];
}

t.test('source-filter vocoder: envelope, excitation, F0 and the paired copies', async (t) => {
  const v = await check<Sf>(['sourcefilter']);
  t.ok(v.mcep_roundtrip_err < 1e-3, `mel-cepstrum -> envelope -> mel-cepstrum (${v.mcep_roundtrip_err.toExponential(1)})`);
  t.ok(v.warp_monotone, 'the all-pass warping is monotone');
  t.ok(Math.abs(v.warp_ends[0]!) < 1e-9 && Math.abs(v.warp_ends[1]! - Math.PI) < 1e-9, 'and maps 0..pi onto 0..pi');
  t.ok(v.min_phase_mag_err < 1e-6, 'the minimum-phase response has the envelope as its magnitude');
  t.same(v.pulse_gaps, [128], 'one pulse every 128 samples at 125 Hz');
  t.ok(Math.abs(v.excitation_power - 1) < 0.05, `unit-power excitation (${v.excitation_power})`);
  t.ok(Math.abs(v.f0_median - 140) < 3, `pyin finds the 140-Hz tone (${v.f0_median})`);
  t.ok(v.voiced_share > 0.9, `and calls it voiced (${v.voiced_share})`);
  t.same(v.labels, ['synthetic']);
  t.same(v.copies.map((c) => c.pair_key), ['audio/g0.wav', 'audio/g1.wav'], 'pair_key = the original');
  for (const c of v.copies) {
    t.ok(c.same_length && c.differs, `${c.pair_key}: as long as the original, not a copy of it`);
    t.ok(Math.abs(c.rms_ratio_db) < 0.1, `${c.pair_key}: level matched (${c.rms_ratio_db} dB)`);
    t.equal(c.lag_ms, 0, `${c.pair_key}: no delay`);
    t.equal(c.lag_back_ms, 0, `${c.pair_key}: no lead`);
  }
});
