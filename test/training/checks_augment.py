"""devoxtrain oracles for the training augmentations and channels (checks.py augment): each returns a JSON-able dict."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain import amrwb, augment, channel
from devoxtrain import cache as cachemod
from devoxtrain.constants import SR
from devoxtrain.data import Item

from checks_signals import speechlike as _speechlike


def _band_energy_fraction(x: np.ndarray, lo: float, hi: float = SR / 2) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(p[(f >= lo) & (f < hi)].sum() / p.sum())


def _snr(ref: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - test).astype(np.float64) ** 2)))


def _decay_time_s(x: np.ndarray, start: int, drop_db: float = 30.0) -> float:
    """Time after `start` until the 10-ms energy envelope stays `drop_db` below its level just before `start`."""
    fr = 160
    e = np.array([np.mean(x[i:i + fr] ** 2) for i in range(0, len(x) - fr, fr)]) + 1e-20
    ref = e[start // fr - 5:start // fr].mean()
    after = e[start // fr:]
    above = np.flatnonzero(10 * np.log10(after / ref) > -drop_db)
    return float((above[-1] + 1) * fr / SR) if len(above) else 0.0


def _channel_share() -> dict:
    """How often each channel is drawn: the defaults, train.py's --g711 0.5 (mu-law 2/3, A-law 1/3 of it, the extra
    share taken from wideband), --g711 0.45 --opus 0.1 (wideband kept at 30 %), and the wb21-lace recipe's
    --g711 0.5 --opus 0 --p-bandlimit 0 --lace 0.2 (wideband 30 %)."""
    out = {}
    for name, cfg in (('default', augment.AugConfig()),
                      ('g711_0.5', augment.AugConfig(p_ulaw=0.5 * 2 / 3, p_alaw=0.5 / 3)),
                      ('g711_0.45_opus_0.1', augment.AugConfig(p_ulaw=0.45 * 2 / 3, p_alaw=0.45 / 3, p_opus=0.1)),
                      ('g711_0.5_lace_0.2', augment.AugConfig(p_ulaw=0.5 * 2 / 3, p_alaw=0.5 / 3, p_opus=0.0,
                                                               p_bandlimit=0.0, p_lace=0.2))):
        rng = np.random.default_rng(5)
        aug = augment.Augmenter(cfg, None)
        picks = [aug.pick_channel(rng) for _ in range(20000)]
        out[name] = {c: picks.count(c) / len(picks) for c in augment.CHANNELS}
    return out


def _babble(speech: np.ndarray) -> dict:
    """Augmenter with babble only (every other effect off, gain 0 dB, wideband): the output is the loudness-normalised
    input plus the sum of 3-6 talkers drawn from the babble source, at 8-25 dB below it."""
    cfg = augment.AugConfig(p_reverb=0.0, p_noise=0.0, p_babble=1.0, p_packet_loss=0.0, p_bandlimit=0.0, p_ulaw=0.0,
                            p_alaw=0.0, p_opus=0.0, gain_range_db=(0.0, 0.0))
    calls = []
    talker = (0.05 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)).astype(np.float32)   # a 1-kHz "voice"

    def babble(rng: np.random.Generator) -> np.ndarray:
        calls.append(1)
        return np.roll(talker, int(rng.integers(0, SR)))
    aug = augment.Augmenter(cfg, babble)
    speech = speech[:SR]   # a 1-s training crop, as long as each talker
    ref = augment.normalize_loudness(speech).astype(np.float64)
    out = []
    for seed in range(8):
        calls.clear()
        y = aug(speech, 'wideband', np.random.default_rng(seed)).astype(np.float64)
        resid = y - ref
        out.append({'talkers': len(calls),
                    'snr_db': float(10 * np.log10(np.mean(ref ** 2) / np.mean(resid ** 2))),
                    # the residual is the talkers: its energy sits at 1 kHz
                    'resid_1k_fraction': _band_energy_fraction(resid, 900, 1100)})
    return {'crops': out}


def _plain_crops(speech: np.ndarray) -> dict:
    """Augmenter(plain=True), the clean-crop path: only loudness and gain, so the output is the loudness-normalised
    input times one constant (waveform correlation 1, the same band energy above 4 kHz) in the configured gain range."""
    cfg = augment.AugConfig(p_reverb=1.0, p_noise=1.0, p_packet_loss=1.0)   # would all fire on a non-plain crop
    aug = augment.Augmenter(cfg, None)
    ref = augment.normalize_loudness(speech).astype(np.float64)
    out = []
    for seed in range(8):
        y = aug(speech, 'wideband', np.random.default_rng(seed), plain=True).astype(np.float64)
        out.append({'corr': float(np.dot(y, ref) / np.sqrt(np.dot(y, y) * np.dot(ref, ref))),
                    'gain_db': augment.rms_dbfs(y) - augment.rms_dbfs(ref),
                    'hf_fraction_delta': _band_energy_fraction(y, 4000) - _band_energy_fraction(ref, 4000)})
    noisy = aug(speech, 'wideband', np.random.default_rng(0))
    return {'crops': out, 'gain_range_db': list(cfg.gain_range_db),
            'non_plain_corr': float(np.corrcoef(noisy, ref)[0, 1])}


def _mobile(speech: np.ndarray) -> dict:
    """AMR-NB / GSM-FR -> G.711 tandems: same length, nothing above 4 kHz, a waveform still close to plain G.711
    (after the codec's own delay)."""
    x = speech[:3 * SR].astype(np.float32)
    ref = channel.g711_channel(x, 'ulaw')
    out = {}
    for name, codec, mode in (('amrnb12.2', 'amrnb', 7), ('amrnb4.75', 'amrnb', 0), ('gsm', 'gsm', 0),
                              ('amrwb12.65', 'amrwb', 2), ('amrwb6.6', 'amrwb', 0)):
        y = channel.mobile_channel(x, codec, mode)
        lag = max(range(0, 400), key=lambda k: float(np.dot(ref[:len(ref) - k], y[k:])))
        out[name] = {'same_length': len(y) == len(x), 'lag_samples': int(lag),
                     'energy_above_4k_fraction': _band_energy_fraction(y, 4100),
                     'corr_with_g711': float(np.corrcoef(ref[:len(ref) - lag], y[lag:])[0, 1])}
    return out


def _amrwb(speech: np.ndarray) -> dict:
    """AMR-WB kept wideband (amrwb.roundtrip, Debian's libvo-amrwbenc0 + libopencore-amrwb0 through ctypes): same length,
    delay removed, wideband (energy above 4 kHz kept), still the speech; the augmenter's 'amrwb' channel applies the
    G.711 tandem at amrwb_tandem 1 and leaves the copy wideband at 0; a bad mode is refused."""
    x = speech[:3 * SR].astype(np.float32)
    out = {}
    for name, mode in (('12.65', 2), ('6.6', 0), ('23.85', 8)):
        y = amrwb.roundtrip(x, mode)
        lag = max(range(-200, 200), key=lambda k: float(np.dot(x[max(0, -k):len(x) - max(0, k)], y[max(0, k):len(y) - max(0, -k)])))
        out[name] = {'same_length': len(y) == len(x), 'lag_samples': int(lag), 'corr': float(np.corrcoef(x, y)[0, 1]),
                     'energy_above_4k_ratio': _band_energy_fraction(y, 4100, 7000) / max(_band_energy_fraction(x, 4100, 7000), 1e-12)}
    copy = amrwb.roundtrip(x, 2)
    rng = np.random.default_rng(0)
    tandem = augment.Augmenter(augment.AugConfig(p_reverb=0, p_noise=0, p_babble=0, p_packet_loss=0, amrwb_tandem=1.0), None)
    kept = augment.Augmenter(augment.AugConfig(p_reverb=0, p_noise=0, p_babble=0, p_packet_loss=0, amrwb_tandem=0.0), None)
    try:
        amrwb.roundtrip(x, 9)
        bad = None
    except ValueError as e:
        bad = str(e)
    return {'modes': out,
            'augmenter_tandem_above_4k': _band_energy_fraction(tandem(copy, 'amrwb', rng), 4100),
            'augmenter_kept_above_4k': _band_energy_fraction(kept(copy, 'amrwb', rng), 4100),
            'bad_mode_error': bad}


def _neural(speech: np.ndarray) -> dict:
    """scripts/neural-channel.ts through channel.neural_channel: RNNoise and Opus 16 kbps plain / LACE / NoLACE give
    copies of the same length, aligned with the input (the tool removes the delays), still the same speech; the
    enhancement really acts (LACE / NoLACE differ from plain decoding at 16 kbps)."""
    x = speech[:3 * SR].astype(np.float32)
    out = {}
    for name, mode, kbps in (('rnnoise', 'rnnoise', 0), ('opus16', 'opus', 16), ('lace16', 'lace', 16),
                             ('nolace16', 'nolace', 16)):
        y = channel.neural_channel(x, mode, kbps)
        lag = max(range(-200, 200), key=lambda k: float(np.dot(x[max(0, -k):len(x) - max(0, k)], y[max(0, k):len(y) - max(0, -k)])))
        out[name] = {'same_length': len(y) == len(x), 'lag_samples': int(lag), 'corr': float(np.corrcoef(x, y)[0, 1]), 'y': y}
    plain = out['opus16'].pop('y')
    for name in ('lace16', 'nolace16'):
        out[name]['snr_vs_plain_opus_db'] = _snr(plain, out[name]['y'])
    for v in out.values():
        v.pop('y', None)
    return out


def _lace_copies(speech: np.ndarray) -> dict:
    """cache.build(..., lace_ids=...): the Opus 1.5 LACE / NoLACE copies (cache.LACE_COPIES) hold the processed audio
    of the listed files only (every other file's span is its clean audio), a later run adds the files it misses, and
    CropStream with p_lace = 1 draws every crop from one of those copies (never the clean audio)."""
    from devoxtrain.sampler import CropStream
    with tempfile.TemporaryDirectory() as tmp:
        items = []
        for i in range(3):
            path = Path(tmp) / f'f{i}.flac'
            sf.write(path, np.roll(speech, 4000 * i)[:int(1.5 * SR)], SR)
            items.append(Item(id=f'f{i}.flac', path=str(path), label=('genuine', 'synthetic')[i % 2], speaker=f's{i}',
                              source='x'))
        ids = [it.id for it in items]
        build = lambda lace: cachemod.build({'pool': items}, Path(tmp) / 'cache', {'pool': 30.0},
                                            copies_for=('pool',), log=lambda *_: None, lace_ids=lace)['pool']
        store = build(ids[:2])
        names = [n for n, _, _ in cachemod.LACE_COPIES]
        first = {n: [not np.array_equal(store.get(i, n), store.get(i)) for i in ids] for n in names}
        snr = {n: _snr(store.get(ids[0]).astype(np.float64), store.get(ids[0], n).astype(np.float64)) for n in names}
        store = build(ids)
        added = {n: [not np.array_equal(store.get(i, n), store.get(i)) for i in ids] for n in names}
        cfg = augment.AugConfig(p_reverb=0.0, p_noise=0.0, p_babble=0.0, p_packet_loss=0.0, p_bandlimit=0.0,
                                p_ulaw=0.0, p_alaw=0.0, p_opus=0.0, p_lace=1.0, gain_range_db=(0.0, 0.0))
        stream = CropStream(items, store, cfg, batch=4, seed=3)
        picks = [stream._copy_name(np.random.default_rng(k), 'lace') for k in range(200)]
        try:
            CropStream(items, build(None), cfg, batch=4, seed=3)
            missing = None
        except ValueError as e:
            missing = str(e)
    return {'processed_first_two': first, 'snr_vs_clean_db': snr, 'processed_after_adding_third': added,
            'copies_drawn': sorted(set(picks)), 'no_copies_error': missing}


def _agc(speech: np.ndarray) -> dict:
    """augment.gain_riding / compressor / random_agc (train.py --agc): the gain follows its knots and moves slowly, the
    compressor narrows a 20-dB level step, the limiter holds every sample at -1 dBFS even with 20 dB of makeup gain, a
    random chain keeps length and waveform (a slowly varying gain) and replays from its seed."""
    x = augment.normalize_loudness(speech[:2 * SR]).astype(np.float32)
    frame = 320
    def frame_gain_db(y, ref):
        n = len(ref) // frame
        a = np.sum(y[:n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
        b = np.sum(ref[:n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
        keep = b > 1e-8
        return 10 * np.log10(a[keep] / b[keep])
    ridden = augment.gain_riding(x, np.array([0.0, -6.0]))
    g = frame_gain_db(ridden, x)
    half = len(x) // 2
    step = np.concatenate([augment.gain_db(x[:half], -20.0), x[half:]])
    comp = augment.compressor(step, threshold_db=-35.0, ratio=4.0, makeup_db=6.0)
    loud = augment.compressor(augment.gain_db(x, 14.0), threshold_db=-20.0, ratio=2.0, makeup_db=20.0, limit_db=-1.0)
    r1 = augment.random_agc(x, np.random.default_rng(4))
    r2 = augment.random_agc(x, np.random.default_rng(4))
    gr = frame_gain_db(r1, x)
    cfg = augment.AugConfig(p_reverb=0.0, p_noise=0.0, p_babble=0.0, p_packet_loss=0.0, p_bandlimit=0.0, p_ulaw=0.0,
                            p_alaw=0.0, p_opus=0.0, gain_range_db=(0.0, 0.0))
    plain = augment.Augmenter(cfg, None)(x, 'wideband', np.random.default_rng(2))
    cfg.p_agc = 1.0
    with_agc = augment.Augmenter(cfg, None)(x, 'wideband', np.random.default_rng(2))
    return {
        'riding': {'same_length': len(ridden) == len(x), 'first_frame_db': float(g[0]), 'last_frame_db': float(g[-1]),
                   'max_frame_step_db': float(np.max(np.abs(np.diff(g))))},
        'compressor': {'step_before_db': augment.rms_dbfs(step[half:]) - augment.rms_dbfs(step[:half]),
                       'step_after_db': augment.rms_dbfs(comp[half:]) - augment.rms_dbfs(comp[:half]),
                       'same_length': len(comp) == len(step)},
        'limiter': {'peak_dbfs': float(20 * np.log10(np.max(np.abs(loud)))),
                    'input_peak_dbfs_with_makeup': float(20 * np.log10(np.max(np.abs(x))) + 14.0 + 20.0)},
        'random': {'same_length': len(r1) == len(x), 'replays': bool(np.array_equal(r1, r2)),
                   'corr': float(np.corrcoef(r1, x)[0, 1]), 'frame_gain_spread_db': float(np.ptp(gr)),
                   'max_frame_step_db': float(np.max(np.abs(np.diff(gr))))},
        'augmenter_applies_it': not bool(np.allclose(plain, with_agc)),
    }


def _rawboost(speech: np.ndarray) -> dict:
    """devoxtrain.rawboost: algorithm 1 recolours the spectrum (a random filter chain: the band energies move, the
    speech stays correlated), algorithm 2 perturbs at most 10 % of the samples, each by at most 2x its own value,
    algorithm 3 adds stationary noise at 10-40 dB SNR; all keep length and (1, 3: within 0.5 dB) RMS; a seed
    replays exactly."""
    from devoxtrain import rawboost as rb
    x = augment.normalize_loudness(speech[:2 * SR]).astype(np.float64)
    bands = [(0, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 8000)]
    def band_db(y):
        return [10 * np.log10(_band_energy_fraction(y, lo, hi) + 1e-12) for lo, hi in bands]
    a1 = rb.lnl_convolutive(x, np.random.default_rng(7))
    a2 = rb.isd_additive(x, np.random.default_rng(8))
    a3 = rb.ssi_additive(x, np.random.default_rng(9))
    changed = a2 != x
    ratio = np.abs((a2[changed] - x[changed]) / x[changed]) if changed.any() else np.zeros(1)
    return {
        'algo1': {'same_length': len(a1) == len(x), 'rms_delta_db': augment.rms_dbfs(a1) - augment.rms_dbfs(x),
                  'max_band_shift_db': float(np.max(np.abs(np.subtract(band_db(a1), band_db(x))))),
                  'corr': float(np.corrcoef(x, a1)[0, 1])},
        'algo2': {'same_length': len(a2) == len(x), 'changed_fraction': float(changed.mean()),
                  'max_relative_change': float(ratio.max())},
        'algo3': {'same_length': len(a3) == len(x), 'snr_db': _snr(x, a3)},
        'replays': bool(np.array_equal(rb.rawboost(x, np.random.default_rng(3), '123'),
                                       rb.rawboost(x, np.random.default_rng(3), '123'))),
        'differs_by_seed': not bool(np.array_equal(rb.rawboost(x, np.random.default_rng(3), '12'),
                                                   rb.rawboost(x, np.random.default_rng(4), '12'))),
    }


def cmd_augment() -> dict:
    rng = np.random.default_rng(1)
    white = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    bl = channel.bandlimit(white)
    speech = _speechlike(rng)
    x8 = augment.normalize_loudness(speech, -20.0)
    # mu-law / A-law quantisation alone (at 8 kHz, so the resampler is not counted as codec noise)
    from devoxtrain.resample import resample
    s8 = resample(x8, SR, 8000)
    ulaw = channel.g711_decode(channel.g711_encode(s8, 'ulaw'), 'ulaw')
    alaw = channel.g711_decode(channel.g711_encode(s8, 'alaw'), 'alaw')
    chan = channel.g711_channel(x8, 'ulaw')
    ref_chan = resample(resample(x8, SR, 8000), 8000, SR)[:len(x8)]
    # packet loss
    sig = (0.2 + 0.1 * rng.random(SR)).astype(np.float32)             # never zero, so zeros = lost
    y, mask = augment.packet_loss(sig, np.random.default_rng(3), rate=0.2, frame=320, mode='zero')
    runs, i = [], 0
    while i < len(mask):
        if mask[i]:
            j = i
            while j < len(mask) and mask[j]:
                j += 1
            runs.append((i, j - i))
            i = j
        else:
            i += 1
    yr, maskr = augment.packet_loss(sig, np.random.default_rng(3), rate=0.2, frame=320, mode='repeat')
    # gain
    g6 = augment.gain_db(x8, 6.0)
    gm10 = augment.gain_db(x8, -10.0)
    # noise at SNR
    noise_meas = {}
    for alpha in (0.0, 1.0, 2.0):
        n = augment.colored_noise(len(x8), alpha, rng)
        yy = augment.add_at_snr(x8, n, 10.0)
        spec = np.abs(np.fft.rfft(n)) ** 2
        f = np.fft.rfftfreq(len(n), 1 / SR)
        lo, hi = spec[(f > 100) & (f < 400)].mean(), spec[(f > 3000) & (f < 6000)].mean()
        noise_meas[str(alpha)] = {'snr_db': _snr(x8, yy), 'low_to_high_psd_db': float(10 * np.log10(lo / hi))}
    # reverb: a 300-ms noise burst then silence; decay time after the burst, dry vs reverberant
    burst = np.zeros(SR, np.float32)
    burst[1600:1600 + 4800] = 0.3 * rng.standard_normal(4800)
    rir = augment.synthetic_rir(0.6, np.random.default_rng(5))
    wet = augment.reverb(burst, rir)
    loud = augment.normalize_loudness(0.1 * speech, -26.0)
    # opus (ffmpeg): same length, aligned, 8 kbps is narrowband
    op = {}
    for br in (8, 16, 24):
        o = channel.opus_channel(speech, br)
        c = np.correlate(o[4000:20000], speech[4000:20000], 'full')
        op[str(br)] = {'same_length': len(o) == len(speech), 'lag_samples': int(np.argmax(c) - 15999),
                       'energy_above_4k_fraction': _band_energy_fraction(o, 4000)}
    # MP3 / AAC source copies (ffmpeg): same length, aligned, lossy (SNR well below G.711), MP3 24 kbps low-passes
    src = {}
    for name, codec, kbps in cachemod.SOURCE_COPIES:
        o = channel.source_codec(speech, codec, kbps)
        c = np.correlate(o[4000:20000], speech[4000:20000], 'full')
        src[name] = {'same_length': len(o) == len(speech), 'lag_samples': int(np.argmax(c) - 15999), 'snr_db': _snr(speech, o),
                     'energy_above_6k_db_change': float(10 * np.log10((_band_energy_fraction(o, 6000) + 1e-12)
                                                                      / (_band_energy_fraction(speech, 6000) + 1e-12)))}
    # random equaliser: the band gains it was asked for (white noise in, RMS kept)
    eq_in = rng.standard_normal(4 * SR).astype(np.float32) * 0.1
    eq_out = augment.equalize(eq_in, np.array([500.0, 2000.0]), np.array([-12.0, 12.0]))
    band_db = lambda lo, hi: float(10 * np.log10(_band_energy_fraction(eq_out, lo, hi) / _band_energy_fraction(eq_in, lo, hi)))
    return {
        'source_codecs': src,
        'equalize': {'low_minus_high_db': band_db(100, 400) - band_db(2500, 7000), 'same_length': len(eq_out) == len(eq_in),
                     'rms_ratio_db': augment.rms_dbfs(eq_out) - augment.rms_dbfs(eq_in)},
        'bandlimit': {'above_3400_before': _band_energy_fraction(white, 3400), 'above_4000_after': _band_energy_fraction(bl, 4000),
                      'below_200_after': _band_energy_fraction(bl, 0, 200), 'in_band_after': _band_energy_fraction(bl, 400, 3200),
                      'same_length': len(bl) == len(white)},
        'g711': {'ulaw_snr_db': _snr(s8, ulaw), 'alaw_snr_db': _snr(s8, alaw),
                 'ulaw_channel_snr_db_vs_resampled_ref': _snr(ref_chan, chan), 'channel_same_length': len(chan) == len(x8),
                 'ulaw_levels': int(len(np.unique(channel.g711_encode(s8, 'ulaw'))))},
        'packet_loss': {'runs': runs, 'all_runs_multiple_of_320': all(n % 320 == 0 for _, n in runs),
                        'all_runs_aligned': all(s % 320 == 0 for s, _ in runs), 'lost_fraction': float(mask.mean()),
                        'lost_samples_all_zero': bool(np.all(y[mask] == 0)), 'kept_samples_unchanged': bool(np.all(y[~mask] == sig[~mask])),
                        'repeat_mode_lost_packets': int(maskr.sum() // 320),
                        'repeat_mode_fills_half_previous': bool(all(
                            np.allclose(yr[i:i + 320], 0.5 * yr[i - 320:i]) if i > 0 else np.all(yr[i:i + 320] == 0)
                            for i in range(0, len(maskr), 320) if maskr[i]))},
        'gain': {'plus6_rms_delta_db': augment.rms_dbfs(g6) - augment.rms_dbfs(x8),
                 'minus10_rms_delta_db': augment.rms_dbfs(gm10) - augment.rms_dbfs(x8)},
        'noise': noise_meas,
        'reverb': {'rt60_s': 0.6, 'decay30_dry_s': _decay_time_s(burst, 6400), 'decay30_wet_s': _decay_time_s(wet, 6400),
                   'same_length': len(wet) == len(burst), 'rms_ratio_db': augment.rms_dbfs(wet) - augment.rms_dbfs(burst)},
        'loudness': {'target_dbfs': -26.0, 'active_level_after_dbfs': augment.active_rms_dbfs(loud)},
        'plain': _plain_crops(speech),
        'babble': _babble(speech),
        'channel_share': _channel_share(),
        'opus': op,
        'mobile': _mobile(speech),
        'neural': _neural(speech),
        'amrwb': _amrwb(speech),
        'rawboost': _rawboost(speech),
        'lace_copies': _lace_copies(speech),
        'agc': _agc(speech),
    }
