/**
 * Each phone-channel augmentation changes the signal the way it claims, measured on real signals
 * (speech from ../shared/data/speech when present, white noise, noise bursts) by test/training/checks.py.
 * G.711 tables are compared code for code with alawmulaw, the reference the runtime decodes with.
 */
import alawmulaw from 'alawmulaw';
import t from 'tap';
import { check } from './python.js';

interface Aug {
  bandlimit: { above_3400_before: number; above_4000_after: number; below_200_after: number; in_band_after: number; same_length: boolean };
  g711: { ulaw_snr_db: number; alaw_snr_db: number; ulaw_channel_snr_db_vs_resampled_ref: number; channel_same_length: boolean; ulaw_levels: number };
  packet_loss: {
    runs: Array<[number, number]>; all_runs_multiple_of_320: boolean; all_runs_aligned: boolean; lost_fraction: number;
    lost_samples_all_zero: boolean; kept_samples_unchanged: boolean; repeat_mode_lost_packets: number; repeat_mode_fills_half_previous: boolean;
  };
  gain: { plus6_rms_delta_db: number; minus10_rms_delta_db: number };
  noise: Record<string, { snr_db: number; low_to_high_psd_db: number }>;
  reverb: { rt60_s: number; decay30_dry_s: number; decay30_wet_s: number; same_length: boolean; rms_ratio_db: number };
  loudness: { target_dbfs: number; active_level_after_dbfs: number };
  plain: { crops: { corr: number; gain_db: number; hf_fraction_delta: number }[]; gain_range_db: [number, number]; non_plain_corr: number };
  babble: { crops: { talkers: number; snr_db: number; resid_1k_fraction: number }[] };
  channel_share: Record<'default' | 'g711_0.5' | 'g711_0.45_opus_0.1' | 'g711_0.5_lace_0.2', Record<'wideband' | 'bandlimit' | 'ulaw' | 'alaw' | 'opus' | 'lace', number>>;
  opus: Record<string, { same_length: boolean; lag_samples: number; energy_above_4k_fraction: number }>;
  source_codecs: Record<string, { same_length: boolean; lag_samples: number; snr_db: number; energy_above_6k_db_change: number }>;
  equalize: { low_minus_high_db: number; same_length: boolean; rms_ratio_db: number };
  mobile: Record<'amrnb12.2' | 'amrnb4.75' | 'gsm' | 'amrwb12.65' | 'amrwb6.6', { same_length: boolean; lag_samples: number; energy_above_4k_fraction: number; corr_with_g711: number }>;
  amrwb: {
    modes: Record<'12.65' | '6.6' | '23.85', { same_length: boolean; lag_samples: number; corr: number; energy_above_4k_ratio: number }>;
    augmenter_tandem_above_4k: number; augmenter_kept_above_4k: number; bad_mode_error: string | null;
  };
  neural: Record<'rnnoise' | 'opus16' | 'lace16' | 'nolace16', { same_length: boolean; lag_samples: number; corr: number; snr_vs_plain_opus_db?: number }>;
  lace_copies: {
    processed_first_two: Record<string, boolean[]>; snr_vs_clean_db: Record<string, number>;
    processed_after_adding_third: Record<string, boolean[]>; copies_drawn: string[]; no_copies_error: string | null;
  };
  agc: {
    riding: { same_length: boolean; first_frame_db: number; last_frame_db: number; max_frame_step_db: number };
    compressor: { step_before_db: number; step_after_db: number; same_length: boolean };
    limiter: { peak_dbfs: number; input_peak_dbfs_with_makeup: number };
    random: { same_length: boolean; replays: boolean; corr: number; frame_gain_spread_db: number; max_frame_step_db: number };
    augmenter_applies_it: boolean;
  };
  rawboost: {
    algo1: { same_length: boolean; rms_delta_db: number; max_band_shift_db: number; corr: number };
    algo2: { same_length: boolean; changed_fraction: number; max_relative_change: number };
    algo3: { same_length: boolean; snr_db: number };
    replays: boolean; differs_by_seed: boolean;
  };
}

t.test('augmentations do what they claim', async (t) => {
  const a = await check<Aug>(['augment']);

  t.test('mobile legs (AMR-NB 12.2 / 4.75 kbps, GSM-FR through sox; AMR-WB 12.65 / 6.6 kbps through Debian libvo-amrwbenc + opencore) transcoded to G.711: narrowband, aligned, still speech', async (t) => {
    for (const [name, m] of Object.entries(a.mobile)) {
      t.ok(m.same_length, `${name}: same length`);
      t.ok(m.energy_above_4k_fraction < 0.01, `${name}: ${m.energy_above_4k_fraction.toExponential(2)} of the energy above 4.1 kHz`);
      t.ok(m.lag_samples < 200, `${name}: codec delay ${m.lag_samples} samples at 16 kHz`);
      t.ok(m.corr_with_g711 > 0.4, `${name}: waveform correlation with plain G.711 ${m.corr_with_g711.toFixed(2)} (a codec, not noise)`);
    }
    t.ok(a.mobile.gsm.corr_with_g711 > 0.9, 'GSM-FR (RPE-LTP) keeps the waveform closely');
  });

  t.test('AMR-WB kept wideband (HD voice): aligned, wideband, still speech; the augmenter applies the G.711 tandem on request', async (t) => {
    for (const [name, m] of Object.entries(a.amrwb.modes)) {
      t.ok(m.same_length, `${name} kbps: same length`);
      t.ok(Math.abs(m.lag_samples) <= 2, `${name} kbps: lag ${m.lag_samples} samples (codec delay removed)`);
      t.ok(m.corr > 0.4, `${name} kbps: correlation with the input ${m.corr.toFixed(2)} (a codec, not noise)`);
      t.ok(m.energy_above_4k_ratio > 0.1, `${name} kbps: ${m.energy_above_4k_ratio.toFixed(2)} of the 4.1-7 kHz energy kept (wideband)`);
    }
    const [tandem, kept] = [a.amrwb.augmenter_tandem_above_4k, a.amrwb.augmenter_kept_above_4k];
    t.ok(kept > 1e-3, `amrwb_tandem 0: the copy stays wideband (${kept.toExponential(2)} of the energy above 4.1 kHz)`);
    t.ok(tandem < kept / 100, `amrwb_tandem 1: G.711 after AMR-WB (${tandem.toExponential(2)} above 4.1 kHz)`);
    t.match(a.amrwb.bad_mode_error ?? '', /AMR-WB mode must be one of/, 'an unknown mode is refused with the valid ones');
  });

  t.test('neural channels (scripts/neural-channel.ts: RNNoise, Opus 1.5 LACE / NoLACE) are aligned copies of the speech', async (t) => {
    for (const [name, m] of Object.entries(a.neural)) {
      t.ok(m.same_length, `${name}: same length`);
      t.ok(Math.abs(m.lag_samples) <= 2, `${name}: lag ${m.lag_samples} samples (delay removed)`);
      t.ok(m.corr > 0.5, `${name}: correlation with the input ${m.corr.toFixed(2)}`);
    }
    for (const name of ['lace16', 'nolace16'] as const) {
      const snr = a.neural[name].snr_vs_plain_opus_db!;
      t.ok(snr < 40, `${name}: differs from plain Opus decoding (SNR ${snr.toFixed(1)} dB): the enhancement acts`);
    }
  });

  t.test('LACE / NoLACE training copies (train.py --lace): only the training files, added per run, drawn for the lace channel', async (t) => {
    const l = a.lace_copies;
    t.same(Object.keys(l.processed_first_two).sort(), ['lace12', 'lace16', 'nolace12', 'nolace16']);
    for (const [name, done] of Object.entries(l.processed_first_two)) {
      t.same(done, [true, true, false], `${name}: the two listed files processed, the third left as its clean audio`);
      t.same(l.processed_after_adding_third[name], [true, true, true], `${name}: a later run adds the file it misses`);
      const snr = l.snr_vs_clean_db[name]!;
      t.ok(snr > 0 && snr < 30, `${name}: a lossy copy of the same speech (SNR ${snr.toFixed(1)} dB vs clean)`);
    }
    t.same(l.copies_drawn, ['lace12', 'lace16', 'nolace12', 'nolace16'], 'the lace channel draws from all four copies');
    t.match(l.no_copies_error, /LACE/, 'p_lace without the copies is a clear error');
  });

  t.test('AGC (train.py --agc): slow gain riding, a compressor that narrows level steps, a -1 dBFS limiter', async (t) => {
    const g = a.agc;
    t.ok(g.riding.same_length, 'gain riding keeps the length');
    t.ok(Math.abs(g.riding.first_frame_db) < 0.3 && Math.abs(g.riding.last_frame_db + 6) < 0.3,
      `the gain follows its knots 0 -> -6 dB (${g.riding.first_frame_db.toFixed(2)} -> ${g.riding.last_frame_db.toFixed(2)} dB)`);
    t.ok(g.riding.max_frame_step_db < 0.2, `and moves slowly (${g.riding.max_frame_step_db.toFixed(3)} dB per 20 ms at most)`);
    t.ok(g.compressor.same_length, 'the compressor keeps the length');
    t.ok(g.compressor.step_after_db < g.compressor.step_before_db - 6,
      `a level step of ${g.compressor.step_before_db.toFixed(1)} dB comes out ${g.compressor.step_after_db.toFixed(1)} dB`);
    t.ok(g.limiter.input_peak_dbfs_with_makeup > 10 && g.limiter.peak_dbfs <= -1 + 1e-3,
      `the limiter holds a peak that would reach ${g.limiter.input_peak_dbfs_with_makeup.toFixed(1)} dBFS at ${g.limiter.peak_dbfs.toFixed(2)} dBFS`);
    t.ok(g.random.same_length && g.random.replays, 'a random AGC keeps the length and replays from its seed');
    t.ok(g.random.corr > 0.8, `the waveform is kept, only its gain moves (corr ${g.random.corr.toFixed(2)})`);
    t.ok(g.random.frame_gain_spread_db > 1, `the gain varies over the crop (${g.random.frame_gain_spread_db.toFixed(1)} dB)`);
    t.ok(g.augmenter_applies_it, 'AugConfig.p_agc = 1 applies it in the augmenter');
  });

  t.test('band-limit 300-3400 Hz removes the energy above 3.4 kHz', async (t) => {
    t.ok(a.bandlimit.above_3400_before > 0.5, `white noise has ${a.bandlimit.above_3400_before.toFixed(3)} of its energy above 3.4 kHz`);
    t.ok(a.bandlimit.above_4000_after < 0.005, `after: ${a.bandlimit.above_4000_after.toExponential(2)} above 4 kHz`);
    t.ok(a.bandlimit.below_200_after < 0.005, 'and below 200 Hz');
    t.ok(a.bandlimit.in_band_after > 0.8, 'the band itself is kept');
    t.ok(a.bandlimit.same_length);
  });

  t.test('G.711 quantisation SNR is in the expected range (~30-40 dB on speech)', async (t) => {
    for (const k of ['ulaw_snr_db', 'alaw_snr_db', 'ulaw_channel_snr_db_vs_resampled_ref'] as const) {
      t.ok(a.g711[k] > 28 && a.g711[k] < 42, `${k} = ${a.g711[k].toFixed(1)} dB`);
    }
    t.ok(a.g711.ulaw_levels <= 256 && a.g711.ulaw_levels > 100, `${a.g711.ulaw_levels} distinct 8-bit codes used`);
    t.ok(a.g711.channel_same_length, '8 kHz round trip keeps the length');
  });

  t.test('packet loss zeros whole 20-ms packets and nothing else', async (t) => {
    const p = a.packet_loss;
    t.ok(p.runs.length > 5, `${p.runs.length} gaps`);
    t.ok(p.all_runs_multiple_of_320 && p.all_runs_aligned, 'gaps are whole 320-sample (20 ms) packets on the packet grid');
    t.ok(p.lost_fraction > 0.1 && p.lost_fraction < 0.3, `lost ${p.lost_fraction} at rate 0.2`);
    t.ok(p.lost_samples_all_zero, 'lost samples are zero');
    t.ok(p.kept_samples_unchanged, 'other samples untouched');
    t.ok(p.repeat_mode_lost_packets > 0 && p.repeat_mode_fills_half_previous, 'repeat mode fills with the previous packet at half amplitude');
  });

  t.test('babble adds 3-6 other talkers 8-25 dB below the speech, and nothing else', async (t) => {
    for (const [i, c] of a.babble.crops.entries()) {
      t.ok(c.talkers >= 3 && c.talkers <= 6, `crop ${i}: ${c.talkers} talkers`);
      t.ok(c.snr_db >= 8 - 0.01 && c.snr_db <= 25 + 0.01, `crop ${i}: ${c.snr_db.toFixed(2)} dB below the speech`);
      t.ok(c.resid_1k_fraction > 0.999, `crop ${i}: what was added is the talkers (their 1-kHz band holds ${c.resid_1k_fraction.toFixed(6)} of it)`);
    }
  });

  t.test('channel draws: 30/15/20/10/25 % by default; --g711 / --opus / --lace set their shares, wideband takes the rest', async (t) => {
    const want = {
      default: { wideband: 0.3, bandlimit: 0.15, ulaw: 0.2, alaw: 0.1, opus: 0.25 },
      'g711_0.5': { wideband: 0.1, bandlimit: 0.15, ulaw: 1 / 3, alaw: 1 / 6, opus: 0.25 },
      'g711_0.45_opus_0.1': { wideband: 0.3, bandlimit: 0.15, ulaw: 0.3, alaw: 0.15, opus: 0.1 },
      'g711_0.5_lace_0.2': { wideband: 0.3, bandlimit: 0, ulaw: 1 / 3, alaw: 1 / 6, opus: 0, lace: 0.2 },
    } as const;
    for (const cfg of ['default', 'g711_0.5', 'g711_0.45_opus_0.1', 'g711_0.5_lace_0.2'] as const) {
      for (const [ch, p] of Object.entries(want[cfg])) {
        const got = a.channel_share[cfg][ch as keyof (typeof want)['g711_0.5_lace_0.2']];
        t.ok(Math.abs(got - p) < 0.015, `${cfg} ${ch}: ${(100 * got).toFixed(1)} % (expected ${(100 * p).toFixed(1)} %)`);
      }
    }
  });

  t.test('gain changes RMS by the stated dB', async (t) => {
    t.ok(Math.abs(a.gain.plus6_rms_delta_db - 6) < 0.01, `+6 dB -> ${a.gain.plus6_rms_delta_db.toFixed(4)}`);
    t.ok(Math.abs(a.gain.minus10_rms_delta_db + 10) < 0.01, `-10 dB -> ${a.gain.minus10_rms_delta_db.toFixed(4)}`);
  });

  t.test('clean crops (--clean-crops): loudness and gain only, nothing else touches the signal', async (t) => {
    const [lo, hi] = a.plain.gain_range_db;
    for (const c of a.plain.crops) {
      t.ok(c.corr > 0.99999, `the normalised input times a constant (corr ${c.corr})`);
      t.ok(c.gain_db >= lo - 0.01 && c.gain_db <= hi + 0.01, `gain ${c.gain_db.toFixed(2)} dB within [${lo}, ${hi}]`);
      t.ok(Math.abs(c.hf_fraction_delta) < 1e-4, 'the band above 4 kHz keeps its share of the energy');
    }
    t.ok(new Set(a.plain.crops.map((c) => c.gain_db.toFixed(3))).size > 4, 'the gain is drawn per crop');
    t.ok(a.plain.non_plain_corr < 0.99, `the same augmenter without plain adds room, noise and loss (corr ${a.plain.non_plain_corr.toFixed(3)})`);
  });

  t.test('loudness normalisation reaches the target active level', async (t) => {
    t.ok(Math.abs(a.loudness.active_level_after_dbfs - a.loudness.target_dbfs) < 0.1, `${a.loudness.active_level_after_dbfs.toFixed(2)} dBFS`);
  });

  t.test('noise is added at the stated SNR, with the stated colour', async (t) => {
    for (const alpha of ['0.0', '1.0', '2.0']) t.ok(Math.abs(a.noise[alpha]!.snr_db - 10) < 0.01, `alpha ${alpha}: SNR ${a.noise[alpha]!.snr_db.toFixed(3)} dB`);
    // PSD ~ 1/f^alpha: 100-400 Hz vs 3-6 kHz band means differ by ~ 10*alpha*log10(4500/250) ~ 12.6*alpha dB
    t.ok(Math.abs(a.noise['0.0']!.low_to_high_psd_db) < 2, 'white is flat');
    t.ok(a.noise['1.0']!.low_to_high_psd_db > 9 && a.noise['1.0']!.low_to_high_psd_db < 16, 'pink tilts ~12 dB');
    t.ok(a.noise['2.0']!.low_to_high_psd_db > 20 && a.noise['2.0']!.low_to_high_psd_db < 32, 'brown tilts ~25 dB');
  });

  t.test('reverb lengthens the decay after a burst', async (t) => {
    t.equal(a.reverb.decay30_dry_s, 0, 'dry burst stops at once');
    t.ok(a.reverb.decay30_wet_s > 0.1, `wet: ${a.reverb.decay30_wet_s} s to fall 30 dB (RT60 ${a.reverb.rt60_s} s)`);
    t.ok(a.reverb.same_length && Math.abs(a.reverb.rms_ratio_db) < 0.01, 'same length and RMS');
  });

  t.test('Opus round trip via ffmpeg is aligned; 8 kbps is narrowband', async (t) => {
    for (const br of ['8', '16', '24']) {
      t.ok(a.opus[br]!.same_length, `${br} kbps same length`);
      t.ok(Math.abs(a.opus[br]!.lag_samples) <= 3, `${br} kbps lag ${a.opus[br]!.lag_samples} samples`);
    }
    t.ok(a.opus['8']!.energy_above_4k_fraction < 0.002, '8 kbps removes the band above 4 kHz');
  });

  t.test('MP3 / AAC source copies are aligned and lossy; MP3 24 kbps low-passes', async (t) => {
    t.same(Object.keys(a.source_codecs).sort(), ['aac_32', 'mp3_24', 'mp3_48']);
    for (const [name, c] of Object.entries(a.source_codecs)) {
      t.ok(c.same_length, `${name} same length`);
      t.ok(Math.abs(c.lag_samples) <= 3, `${name} lag ${c.lag_samples} samples (encoder delay removed)`);
      t.ok(c.snr_db > 8 && c.snr_db < 30, `${name} is lossy: SNR ${c.snr_db.toFixed(1)} dB`);
    }
    t.ok(a.source_codecs['mp3_24']!.energy_above_6k_db_change < -20, `MP3 24 kbps: ${a.source_codecs['mp3_24']!.energy_above_6k_db_change.toFixed(1)} dB above 6 kHz`);
  });

  t.test('RawBoost (Tak et al. 2022): each algorithm does what the paper describes', async (t) => {
    const r = a.rawboost;
    t.ok(r.algo1.same_length && Math.abs(r.algo1.rms_delta_db) < 0.5, `1: same length and RMS (${r.algo1.rms_delta_db.toFixed(2)} dB)`);
    t.ok(r.algo1.max_band_shift_db > 1, `1: a random notch chain recolours the spectrum (a band moves ${r.algo1.max_band_shift_db.toFixed(1)} dB)`);
    t.ok(r.algo1.corr > 0.5, `1: still the same speech (corr ${r.algo1.corr.toFixed(2)})`);
    t.ok(r.algo2.same_length && r.algo2.changed_fraction > 0 && r.algo2.changed_fraction <= 0.1,
      `2: impulses on ${(100 * r.algo2.changed_fraction).toFixed(1)} % of the samples (at most 10 %)`);
    t.ok(r.algo2.max_relative_change <= 2 + 1e-9, `2: each by at most 2x the sample (${r.algo2.max_relative_change.toFixed(2)})`);
    t.ok(r.algo3.same_length && r.algo3.snr_db >= 10 - 0.01 && r.algo3.snr_db <= 40 + 0.01, `3: stationary noise at ${r.algo3.snr_db.toFixed(1)} dB SNR (10-40)`);
    t.ok(r.replays, 'a seed replays exactly');
    t.ok(r.differs_by_seed, 'another seed draws another chain');
  });

  t.test('the random equaliser applies the band gains it is given', async (t) => {
    t.ok(Math.abs(a.equalize.low_minus_high_db - -24) < 2, `-12 dB at 500 Hz vs +12 dB at 2 kHz: ${a.equalize.low_minus_high_db.toFixed(1)} dB apart`);
    t.ok(a.equalize.same_length && Math.abs(a.equalize.rms_ratio_db) < 0.01, 'same length and RMS');
  });
});

interface G711 { samples: number[]; ulaw_encode: number[]; alaw_encode: number[]; ulaw_decode: number[]; alaw_decode: number[] }

t.test('G.711 encode/decode match alawmulaw (what the runtime uses) for every 16-bit input', async (t) => {
  const g = await check<G711>(['g711']);
  let ue = 0, ae = 0;
  g.samples.forEach((s, i) => {
    // alawmulaw returns mu-law codes unmasked (~x as a JS int): compare the low 8 bits
    if ((alawmulaw.mulaw.encodeSample(s) & 0xff) !== g.ulaw_encode[i]) ue++;
    if ((alawmulaw.alaw.encodeSample(s) & 0xff) !== g.alaw_encode[i]) ae++;
  });
  t.equal(ue, 0, `mu-law encode agrees on all ${g.samples.length} samples`);
  t.equal(ae, 0, `A-law encode agrees on all ${g.samples.length} samples`);
  let ud = 0, ad = 0;
  for (let c = 0; c < 256; c++) {
    if (alawmulaw.mulaw.decodeSample(c) !== g.ulaw_decode[c]) ud++;
    if (alawmulaw.alaw.decodeSample(c) !== g.alaw_decode[c]) ad++;
  }
  t.equal(ud, 0, 'mu-law decode table agrees');
  t.equal(ad, 0, 'A-law decode table agrees');
});

t.test('matched pairs: same utterance, same offset, identical augmentation, never across pair keys', async (t) => {
  const p = await check<{
    pairs: number; identical_pairs: number; distinct_consecutive_pairs: number; labels: number[][]; groups: number;
    no_pairs_error: string | null; sources: string[]; pairs_with_their_page: number; pages_by_label: [number, string][];
  }>(['pairs']);
  t.equal(p.groups, 2, 'two pair groups found (the unpaired file is not one)');
  t.equal(p.pairs, 24);
  // genuine and synthetic hold the same samples in each group, so a pair is bit-identical only if it was cropped at
  // the same offset from the same group and augmented with the same random draws (noise, reverb, gain, channel...)
  t.equal(p.identical_pairs, p.pairs, 'every pair bit-identical');
  t.ok(p.distinct_consecutive_pairs >= 12, `pairs differ from one another (${p.distinct_consecutive_pairs} of 18)`);
  for (const row of p.labels) t.same(row, [0, 1, 0, 1, 0, 1, 0, 1], 'genuine, synthetic, ... within a batch');
  t.match(p.no_pairs_error, /share a pair_key/, 'asking for pairs with no pair keys is a clear error');
  // each row is yielded with its source page (the source adversary's target)
  t.same(p.sources, ['pageA', 'pageB', 'pageU']);
  t.equal(p.pairs_with_their_page, p.pairs, 'both rows of a pair carry their shared page, never the unpaired one');
  t.same(p.pages_by_label, [[0, 'pageA'], [1, 'pageU']], 'unpaired rows carry the page of the file they were cut from');
});

t.test('source adversary: reversed gradients, one softmax per label, ramped weight', async (t) => {
  const a = await check<{
    reversal_err: number; forward_err: number; genuine_rows_grad: number; synthetic_rows_grad: number; lambda: number[];
  }>(['adversary']);
  t.equal(a.forward_err, 0, 'identity forward');
  t.ok(a.reversal_err < 1e-6, `backward = -lambda x gradient (max error ${a.reversal_err})`);
  t.ok(a.genuine_rows_grad > 0, 'genuine rows train the genuine softmax');
  t.equal(a.synthetic_rows_grad, 0, 'and leave the synthetic one untouched');
  t.equal(a.lambda[0], 0, 'lambda starts at 0');
  t.ok(a.lambda[1] > 0.9 && a.lambda[2] <= 1, `and ramps towards 1 (${a.lambda.join(', ')})`);
});

t.test('speed perturbation: tempo and pitch by f, still 1 s; off draws nothing; codec copies untouched', async (t) => {
  const s = await check<{
    expected_hz: number[]; peaks_hz: number[]; lengths: number[]; window: number;
    ranges: Record<string, { expected_hz: number[]; peaks_hz: number[]; lengths: number[] }>;
    off_identical_to_plain_crop: boolean; off_same_rng_state: boolean; copy_peak_hz: number;
  }>(['speed']);
  t.same(s.peaks_hz, s.expected_hz, `a 1-kHz tone comes out at ${s.peaks_hz.join(' / ')} Hz (every factor drawn)`);
  t.same(Object.keys(s.ranges).sort(), ['kaldi', 'wide', 'wider'], 'every speed range is checked');
  for (const [name, r] of Object.entries(s.ranges)) {
    t.same(r.peaks_hz, r.expected_hz, `speed_range ${name}: ${r.peaks_hz.join(' / ')} Hz (every factor drawn)`);
    t.same(r.lengths, [s.window], `speed_range ${name}: every crop one window long`);
  }
  t.same(s.lengths, [s.window], 'every perturbed crop is one window long');
  t.ok(s.off_identical_to_plain_crop && s.off_same_rng_state, 'p_speed 0: the plain crop, and no random number drawn (older runs replay)');
  t.equal(s.copy_peak_hz, 1000, 'a precomputed codec copy is never resampled (its band edges would move)');
});

t.test('paired speed perturbation: one factor for both sides of a matched pair; off draws nothing', async (t) => {
  const s = await check<{
    expected_hz: number[]; genuine_hz: number[]; ratios: number[]; lengths: number[]; window: number;
    off_factor: null | number[]; off_same_rng_state: boolean;
  }>(['pair-speed']);
  t.same(s.genuine_hz, s.expected_hz, `the genuine 1-kHz side comes out at ${s.genuine_hz.join(' / ')} Hz`);
  t.same(s.ratios, [1.5], 'the synthetic 1.5-kHz side always moves by the same factor (pitch ratio kept)');
  t.same(s.lengths, [s.window], 'both sides one window long');
  t.equal(s.off_factor, null, 'p_pair_speed 0: no factor');
  t.ok(s.off_same_rng_state, 'and no random number drawn (older runs replay)');
});

t.test('mixup: each row a convex mix with one other row, its label mixed by the same weight; seeded', async (t) => {
  const s = await check<{
    rows: { constant: boolean; label_matches_mix: boolean; in_range: boolean }[]; soft_labels: number;
    replays: boolean; inputs_untouched: boolean; other_seed_differs: boolean;
  }>(['mixup']);
  t.equal(s.rows.length, 16, 'every row of the batch comes back');
  t.ok(s.rows.every((r) => r.constant), 'a row mixes whole rows (no sample-wise shuffling)');
  t.ok(s.rows.every((r) => r.label_matches_mix), 'each label is the same mix of the two rows\' labels');
  t.ok(s.rows.every((r) => r.in_range), 'labels stay in [0, 1]');
  t.ok(s.soft_labels > 0, `some labels are soft (${s.soft_labels} of 16)`);
  t.ok(s.replays, 'the same seed gives the same batch (a run replays)');
  t.ok(s.other_seed_differs, 'another seed gives another mix');
  t.ok(s.inputs_untouched, 'the input batch is left as it was');
});

t.test('VTLP: a filterbank warped by alpha reads a tone at f as the plain one reads f / alpha; drawn per row, seeded, never exported', async (t) => {
  const s = await check<{
    knee: number; warp: Record<string, { ends: [number, number]; monotonic: boolean }>;
    shifts: Record<string, { warped_band: number; plain_band_at_f_over_alpha: number }>;
    bank_plain_equals_fb: boolean; warped_fraction: number; factors_drawn: number[]; alphas: number[];
    replays: boolean; eval_mode_plain: boolean; bad_p_error: string | null;
    pairs_same_warp: boolean; unpaired_neighbours_differ: number; paired_unpaired_draws_equal: boolean;
  }>(['vtlp']);
  t.equal(s.alphas.length, 11, 'eleven factors, 0.90 ... 1.10');
  for (const [alpha, w] of Object.entries(s.warp)) {
    t.same(w.ends, [0, 4000], `alpha ${alpha}: 0 Hz and Nyquist map to themselves (the band stays whole)`);
    t.ok(w.monotonic, `alpha ${alpha}: the warp is monotonic`);
  }
  const moved: number[] = [];
  for (const [alpha, sh] of Object.entries(s.shifts)) {
    t.ok(Math.abs(sh.warped_band - sh.plain_band_at_f_over_alpha) < 0.15,
      `alpha ${alpha}: a 1-kHz tone lands at band ${sh.warped_band}, the plain filterbank puts 1 kHz / alpha at ${sh.plain_band_at_f_over_alpha}`);
    moved.push(sh.warped_band);
  }
  t.ok(moved[0]! - moved[moved.length - 1]! > 3, `the tone moves across ${(moved[0]! - moved[moved.length - 1]!).toFixed(1)} bands from 0.90 to 1.10`);
  t.ok(s.bank_plain_equals_fb, 'an unwarped row reads the model\'s own filterbank');
  t.ok(Math.abs(s.warped_fraction - 0.5) < 0.02, `p 0.5: ${(100 * s.warped_fraction).toFixed(1)} % of 20,000 rows warped`);
  t.same(s.factors_drawn, s.alphas, 'every factor is drawn');
  t.ok(s.replays, 'the same seed draws the same factors (a run replays)');
  t.ok(s.eval_mode_plain, 'in eval mode (what is exported and evaluated) a net with VTLP set scores as the plain net');
  t.match(s.bad_p_error ?? '', /vtlp probability must be in \(0, 1\], not 0/, 'a probability of 0 is refused by Vtlp itself');
  t.ok(s.pairs_same_warp, 'both sides of every matched pair get the same warp (a pair still differs only in how it was made)');
  t.ok(s.unpaired_neighbours_differ > 0.8, `unpaired neighbours are drawn apart (${(100 * s.unpaired_neighbours_differ).toFixed(0)} % differ)`);
  t.ok(s.paired_unpaired_draws_equal, 'with no pairs the draws are those of the unpaired runs (they replay)');
});

t.test('--fmin: the filterbank reads nothing below it; the config, the card and the ensemble know it', async (t) => {
  const s = await check<{
    weight_below_300: number; weight_above_3400: number; low_tone_feature_change: number; low_tone_feature_change_fmin0: number;
    config_fmin: number; config_fmin_default_absent: boolean; frontend_text: string; front_keys_differ: boolean;
    old_card_key_equals_fmin0: boolean; bad_fmin_error: string | null;
  }>(['fmin']);
  t.equal(s.weight_below_300, 0, 'fmin 300: no filter weight below 300 Hz');
  t.equal(s.weight_above_3400, 0, 'fmax 3400: none above 3.4 kHz');
  t.ok(s.low_tone_feature_change < 1e-4, `a 200-Hz tone added to a 1-kHz one changes the features by ${s.low_tone_feature_change.toExponential(1)} (not read)`);
  t.ok(s.low_tone_feature_change_fmin0 > 0.5, `with fmin 0 the same tone changes them by ${s.low_tone_feature_change_fmin0.toFixed(2)}`);
  t.equal(s.config_fmin, 300, 'the config carries fmin');
  t.ok(s.config_fmin_default_absent, 'and leaves it out at 0 (older cards and checkpoints load unchanged)');
  t.match(s.frontend_text, /48 Slaney-mel bands from 300 Hz up to 3\.4 kHz/, 'the card\'s front-end line says the band');
  t.ok(s.front_keys_differ, 'an ensemble does not share one front-end between members of different fmin');
  t.ok(s.old_card_key_equals_fmin0, 'an older card without fmin is the same front-end as fmin 0');
  t.match(s.bad_fmin_error ?? '', /fmin must be in \[0, fmax\), not 4000/, 'fmin at or above fmax is refused');
});

t.test('--pool asp: uniform frame weights are mean/std pooling; a scorer moves the embedding; weights sum to 1', async (t) => {
  const s = await check<{
    uniform_vs_stats: number; scored_vs_stats: number; weight_sums: number[]; weight_spread: number;
    config_pool: string; stats_config_has_no_pool: boolean;
  }>(['asp']);
  t.ok(s.uniform_vs_stats < 1e-5, `scorer output zeroed: the embedding of mean/std pooling within ${s.uniform_vs_stats.toExponential(1)}`);
  t.ok(s.scored_vs_stats > 1e-3, `a scorer that favours some frames moves it by ${s.scored_vs_stats.toFixed(3)}`);
  t.ok(s.weight_sums.every((v) => Math.abs(v - 1) < 1e-5), 'each window\'s frame weights sum to 1');
  t.ok(s.weight_spread > 1.5, `and differ between frames (max / min ${s.weight_spread.toFixed(1)})`);
  t.equal(s.config_pool, 'asp', 'the config carries the pooling');
  t.ok(s.stats_config_has_no_pool, 'and leaves it out for mean/std pooling (older cards load unchanged)');
});
