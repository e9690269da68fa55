#!/usr/bin/env python3
"""Measurements behind test/training/*.test.ts (the test oracles of training/devoxtrain). Each sub-command prints one
JSON object; the tap tests assert on it. Run from the repository root with training/ on the import path (what
test/training/python.ts does), or with the devoxtrain package installed (pip install -e training):

    PYTHONPATH=training python3 test/training/checks.py SUBCOMMAND [ARGS]

    readers TMPDIR     # writes tiny wav/flac fixtures + protocol/meta/folders, reads them
    splits             # split properties on the shared manifest and a hash-mode corpus
    augment            # what each augmentation does to a signal, measured
    g711               # G.711 tables (compared with alawmulaw in the TS test)
    pairs              # matched-pair batches: same offset, identical augmentation
    cache-key          # the cache key follows the audio (not mtimes or paths)
    bootstrap          # file-level bootstrap intervals of the EER
    adversary          # source adversary: gradient reversal, conditional head, ramp
    parity [MODEL_DIR] [--dump F32] [--variant default|oc|narrowband]  # PyTorch vs ort
    vocoder            # the small vocoders: shapes, exact inverse STFT, chunked = whole, resynthesis manifest
    extra-synthetic    # CropStream's fixed share of synthetic draws for extra (unpaired) sources
    debian-tts         # synth_debian_tts.py: a few files per engine, 16 kHz, level, manifest (needs the Debian TTS)
    sourcefilter       # resynth_sourcefilter.py: the mel-cepstral source-filter vocoder and its paired manifest
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain import augment, channel
from devoxtrain import cache as cachemod
from devoxtrain.constants import SHARED_MANIFEST, SR
from devoxtrain.data import CorpusError, Item, read_corpus, read_folders, read_manifest, read_meta_csv, read_protocol
from devoxtrain.splits import SHARED_DEFAULT, SplitConfig, assign_splits
from devoxtrain.systems import system_key



def _tone(sec=0.5, f=440.0, amp=0.3):
    t = np.arange(int(sec * SR)) / SR
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _brief(items: list[Item]) -> list[dict]:
    return [{'id': it.id, 'label': it.label, 'speaker': it.speaker, 'generator': it.generator, 'source': it.source,
             'exists': os.path.isfile(it.path)} for it in items]


def _error(fn) -> str | None:
    try:
        fn()
    except CorpusError as e:
        return f'CorpusError: {e}'
    return None


def cmd_readers(tmp: str) -> dict:
    d = Path(tmp)
    (d / 'flac').mkdir(parents=True, exist_ok=True)
    for name in ('LA_T_0001', 'LA_T_0002', 'LA_E_0003'):
        sf.write(d / 'flac' / f'{name}.flac', _tone(), SR)
    (d / 'proto.txt').write_text('LA_0079 LA_T_0001 - - bonafide\n'
                                 'LA_0080 LA_T_0002 - A07 spoof\n'
                                 '\n'
                                 'LA_0009 LA_E_0003 alaw ita_tx A13 spoof notrim eval\n')
    (d / 'itw').mkdir(exist_ok=True)
    for name in ('0.wav', '1.wav', '2.wav'):
        sf.write(d / 'itw' / name, _tone(f=300), SR)
    (d / 'itw' / 'meta.csv').write_text('file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness,bona-fide\n'
                                        '2.wav,Barack Obama,bona-fide\n')
    for rel in ('folders/bonafide/spk1_a.wav', 'folders/spoof/genA/spk1_b.wav', 'folders/spoof/genB/spk2_c.flac',
                'folders/notes/ignored.wav'):
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, _tone(f=500), SR)
    (d / 'man').mkdir(exist_ok=True)
    sf.write(d / 'man' / 'g.flac', _tone(), SR)
    sf.write(d / 'man' / 's.flac', _tone(), SR)
    (d / 'man' / 'manifest.csv').write_text('path,label,generator,speaker,source\ng.flac,genuine,,s1,x\n'
                                            's.flac,synthetic,VALL-E X,s1,x\n')
    (d / 'bad').mkdir(exist_ok=True)
    (d / 'bad' / 'meta.csv').write_text('file,speaker,label\n0.wav,A,maybe\n')
    (d / 'bad' / 'missing.csv').write_text('file,speaker,label\nnope.wav,A,spoof\n')
    (d / 'bad' / 'proto.txt').write_text('LA_0079 LA_T_0001 - -\n')
    return {
        'protocol': _brief(read_protocol(d / 'proto.txt', d)),
        'meta': _brief(read_meta_csv(d / 'itw' / 'meta.csv')),
        'folders': _brief(read_folders(d / 'folders')),
        'manifest': _brief(read_manifest(d / 'man' / 'manifest.csv')),
        'auto': {'folders': len(read_corpus(str(d / 'folders'))), 'meta': len(read_corpus(str(d / 'itw' / 'meta.csv'))),
                 'protocol': len(read_corpus(f'protocol:{d / "proto.txt"}:{d}'))},
        'errors': {
            'bad_label': _error(lambda: read_meta_csv(d / 'bad' / 'meta.csv', d / 'itw')),
            'missing_file': _error(lambda: read_meta_csv(d / 'bad' / 'missing.csv')),
            'bad_protocol_line': _error(lambda: read_protocol(d / 'bad' / 'proto.txt', d)),
            'no_labels_folder': _error(lambda: read_folders(d / 'itw')),
            'unknown_spec': _error(lambda: read_corpus(str(d / 'proto.txt'))),
        },
    }


def _leaks(items: list[Item], res) -> dict:
    spk, sys_ = {}, {}
    for it in items:
        s = res.split.get(it.id)
        if s is None:
            continue
        spk.setdefault(it.speaker, set()).add(s)
        if it.label == 'synthetic':
            sys_.setdefault(system_key(it.generator), set()).add(s)
    return {'speakers_in_two_splits': sorted(k for k, v in spk.items() if len(v) > 1),
            'systems_in_two_splits': sorted(k for k, v in sys_.items() if len(v) > 1)}


def cmd_splits() -> dict:
    out: dict = {}
    if SHARED_MANIFEST.exists():
        items = read_manifest(SHARED_MANIFEST)
        res = assign_splits(items, SHARED_DEFAULT)
        res2 = assign_splits(items, SHARED_DEFAULT)
        by = {s: res.items(items, s) for s in ('train', 'dev', 'test')}
        out['shared'] = {
            **_leaks(items, res),
            'deterministic': res.split == res2.split,
            'counts': {s: len(v) for s, v in by.items()},
            'labels': {s: sorted({i.label for i in v}) for s, v in by.items()},
            'partial_edits_kept': sum(1 for it in items if res.split.get(it.id) and 'edit(partial)' in it.generator),
            'dropped': len(res.dropped),
            'files_in_two_splits': 0,
        }
    # a synthetic hash-mode corpus: 40 speakers, 12 systems, including a partial edit system
    rng = np.random.default_rng(0)
    items = []
    for i in range(400):
        spk = f'spk{int(rng.integers(40))}'
        if rng.random() < 0.4:
            items.append(Item(id=f'g{i}', path='', label='genuine', speaker=spk))
        else:
            gen = ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A09', 'A10', 'A11',
                   'VoiceCraft-edit(partial)'][int(rng.integers(12))]
            items.append(Item(id=f's{i}', path='', label='synthetic', speaker=spk, generator=gen))
    res = assign_splits(items, SplitConfig(seed=7))
    out['hash_mode'] = {**_leaks(items, res),
                        'counts': {s: len(res.items(items, s)) for s in ('train', 'dev', 'test')},
                        'partial_edits_kept': sum(1 for it in items if res.split.get(it.id) and 'partial' in it.generator),
                        'dropped': {r: list(res.dropped.values()).count(r) for r in set(res.dropped.values())}}
    return out


def _band_energy_fraction(x: np.ndarray, lo: float, hi: float = SR / 2) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(p[(f >= lo) & (f < hi)].sum() / p.sum())


def _speechlike(rng: np.random.Generator, sec: float = 2.0) -> np.ndarray:
    """Real speech from the shared data if present, else a harmonic signal with a syllable envelope."""
    if SHARED_MANIFEST.exists():
        p = SHARED_MANIFEST.parent / 'audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac'
        if p.exists():
            x, _ = sf.read(p, dtype='float32')
            return x[SR:SR + int(sec * SR)]
    t = np.arange(int(sec * SR)) / SR
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    return (0.1 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


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
    for name, codec, mode in (('amrnb12.2', 'amrnb', 7), ('amrnb4.75', 'amrnb', 0), ('gsm', 'gsm', 0)):
        y = channel.mobile_channel(x, codec, mode)
        lag = max(range(0, 400), key=lambda k: float(np.dot(ref[:len(ref) - k], y[k:])))
        out[name] = {'same_length': len(y) == len(x), 'lag_samples': int(lag),
                     'energy_above_4k_fraction': _band_energy_fraction(y, 4100),
                     'corr_with_g711': float(np.corrcoef(ref[:len(ref) - lag], y[lag:])[0, 1])}
    return out


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
        'rawboost': _rawboost(speech),
        'lace_copies': _lace_copies(speech),
        'agc': _agc(speech),
    }


def cmd_pairs() -> dict:
    """CropStream(pairs=1.0) on a store where each pair's genuine and synthetic audio are the same samples: if the
    pair is cropped at the same offset and augmented with identical draws, the two rows come out bit-identical.
    Group A and group B hold different audio, and an unpaired file holds a third; pairs never mix groups."""
    from devoxtrain.augment import AugConfig
    from devoxtrain.cache import OPUS_BITRATES, Store
    from devoxtrain.sampler import CropStream
    rng = np.random.default_rng(11)
    sigs = {k: channel.to_int16(augment.normalize_loudness(_speechlike(rng, 3.0 + i))) for i, k in enumerate('ABU')}
    items, parts, index, off = [], [], {}, 0
    for iid, key, lab in (('a-gen', 'A', 'genuine'), ('a-syn', 'A', 'synthetic'), ('b-gen', 'B', 'genuine'),
                          ('b-syn', 'B', 'synthetic'), ('u-syn', 'U', 'synthetic')):
        extra = {'pair_key': key} if key != 'U' else {}
        items.append(Item(id=iid, path=iid, label=lab, speaker=key, source=f'page{key}', extra=extra))
        parts.append(sigs[key])
        index[iid] = (off, len(sigs[key]))
        off += len(sigs[key])
    clean = np.concatenate(parts)
    arrays = {'clean': clean, **{f'opus{b}': clean for b in OPUS_BITRATES}}
    stream = CropStream(items, Store(arrays=arrays, index=index), AugConfig(), batch=8, seed=5, pairs=1.0)
    batches = iter(stream)
    rows, labels, identical, distinct_pairs, source_ok = 0, [], 0, 0, 0
    for _ in range(6):
        x, y, src = next(batches)
        x, y, src = x.numpy(), y.numpy(), src.numpy()
        labels.append(y.tolist())
        for i in range(0, len(x), 2):
            rows += 1
            identical += int(np.array_equal(x[i], x[i + 1]))
            # both rows of a pair carry the index of their (shared) page; the unpaired page never appears
            source_ok += int(src[i] == src[i + 1] and stream.sources[src[i]] in ('pageA', 'pageB'))
            if i >= 2 and not np.array_equal(x[i], x[i - 2]):
                distinct_pairs += 1
    try:
        CropStream([it for it in items if 'pair_key' not in it.extra] + [items[0]], Store(arrays=arrays, index=index),
                   AugConfig(), batch=8, seed=5, pairs=0.5)
        no_pairs_error = None
    except ValueError as e:
        no_pairs_error = str(e)
    # unpaired rows: genuine audio only from page A, synthetic only from page U -> the yielded source follows the label
    one_each = CropStream([items[0], items[4]], Store(arrays=arrays, index=index), AugConfig(), batch=16, seed=5)
    _, y1, s1 = next(iter(one_each))
    pages_by_label = sorted({(int(a), one_each.sources[b]) for a, b in zip(y1.numpy(), s1.numpy())})
    return {'pairs': rows, 'identical_pairs': identical, 'distinct_consecutive_pairs': distinct_pairs,
            'labels': labels, 'groups': len(stream.pair_groups), 'no_pairs_error': no_pairs_error,
            'sources': stream.sources, 'pairs_with_their_page': source_ok, 'pages_by_label': pages_by_label}


def cmd_adversary() -> dict:
    """The source adversary: gradient reversal is the identity forward and -lambda x the gradient backward; the head
    is conditional on the label (genuine rows never train the synthetic softmax); lambda ramps from 0 to ~1."""
    import torch
    from devoxtrain.adversary import SourceAdversary, dann_lambda, reverse_grad
    torch.manual_seed(3)
    e = torch.randn(8, 16, requires_grad=True)
    w = torch.randn(8, 16)
    (reverse_grad(e, 0.7) * w).sum().backward()
    reversal_err = float((e.grad + 0.7 * w).abs().max())
    forward_err = float((reverse_grad(e, 0.7) - e).detach().abs().max())

    head = SourceAdversary(16, 3)
    ce, _ = head.loss(e.detach(), torch.zeros(8), torch.randint(0, 3, (8,)), 1.0)
    ce.backward()
    last = head.net[-1].weight.grad.view(2, 3, -1)
    genuine_rows_grad = float(last[0].abs().sum())
    synthetic_rows_grad = float(last[1].abs().sum())
    return {'reversal_err': reversal_err, 'forward_err': forward_err, 'genuine_rows_grad': genuine_rows_grad,
            'synthetic_rows_grad': synthetic_rows_grad, 'lambda': [dann_lambda(p) for p in (0.0, 0.5, 1.0)]}


def cmd_cache_key(tmp: str) -> dict:
    """The cache key follows the audio, not the file system: a touched (or re-mounted, or copied) corpus keeps its key,
    a changed file anywhere in it (middle bytes excepted: only size and both ends are read) gets a new one."""
    import shutil
    from devoxtrain.cache import _key
    root = Path(tmp) / 'corpus'
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    items = []
    for i in range(3):
        p = root / f'f{i}.flac'
        sf.write(p, (rng.normal(0, 0.1, 16000 * (i + 1))).astype(np.float32), SR)
        items.append(Item(id=f'f{i}.flac', path=str(p), label='genuine', speaker='s', source='x'))
    caps = {'train': 30.0}
    k0 = _key({'train': items}, caps, True)
    os.utime(items[1].path, (1, 1))
    k_touched = _key({'train': items}, caps, True)
    moved = Path(tmp) / 'moved'
    shutil.copytree(root, moved)
    k_moved = _key({'train': [Item(id=it.id, path=str(moved / it.id), label=it.label, speaker=it.speaker,
                                   source=it.source) for it in items]}, caps, True)
    sf.write(items[2].path, (rng.normal(0, 0.1, 16000 * 3)).astype(np.float32), SR)
    k_changed = _key({'train': items}, caps, True)
    k_caps = _key({'train': items}, {'train': 20.0}, True)
    return {'touched_same': k_touched == k0, 'moved_same': k_moved == k0, 'changed_differs': k_changed != k0,
            'caps_differs': k_caps != k_changed}


def cmd_bootstrap() -> dict:
    """File-level bootstrap of the EER: resamples keep the label counts, and when the windows of a file share an
    offset (as real windows of one recording do) the file-level interval is wider than one that treats windows as
    independent."""
    from devoxtrain.metrics import eer, eer_ci, file_bootstrap
    rng = np.random.default_rng(0)
    n_files, per_file = 300, 20
    y_f = (np.arange(n_files) % 3 == 0).astype(int)             # 100 synthetic, 200 genuine files
    y = np.repeat(y_f, per_file)
    g = np.repeat(np.arange(n_files), per_file)
    s = 0.6 * y + np.repeat(rng.normal(0, 1, n_files), per_file) + rng.normal(0, 0.5, len(y))
    counts = set()
    for idx in file_bootstrap(y, g, 50, seed=1):
        files = np.unique(g[idx])
        counts.add((int((y[idx] == 0).sum()), int((y[idx] == 1).sum())))
        assert len(idx) % per_file == 0 and len(files) <= n_files
    lo_f, hi_f = eer_ci(y, s, g, n_boot=300)
    lo_w, hi_w = eer_ci(y, s, None, n_boot=300)
    return {'eer': eer(y, s)[0], 'file_ci': [lo_f, hi_f], 'window_ci': [lo_w, hi_w], 'row_counts': sorted(counts)}


def cmd_g711() -> dict:
    vals = np.arange(-32768, 32768).astype(np.int16)
    x = vals.astype(np.float32) / 32768.0
    return {'samples': vals.tolist(),
            'ulaw_encode': channel.g711_encode(x, 'ulaw').tolist(), 'alaw_encode': channel.g711_encode(x, 'alaw').tolist(),
            'ulaw_decode': (channel.g711_decode(np.arange(256, dtype=np.uint8), 'ulaw') * 32768).astype(int).tolist(),
            'alaw_decode': (channel.g711_decode(np.arange(256, dtype=np.uint8), 'alaw') * 32768).astype(int).tolist()}


VARIANTS = {  # random-init graphs for the parity check: train.py's default (1.1) and its options
    'default': {},
    'oc': {'head': 'oc'},
    'narrowband': {'n_mels': 40, 'fmax': 4000.0},
    'phase': {'phase': True},
}


def cmd_parity(model_dir: str | None, dump: str | None = None, variant: str = 'default') -> dict:
    import torch
    from devoxtrain import onnx_io
    from devoxtrain.model import DevoxNet
    torch.manual_seed(0)
    # random init: the graph train.py builds by default (1.1), or one of its options
    net = DevoxNet(**{'n_mels': 60, 'scale': 'linear', 'n_fft': 256, 'stem_stride': 2, 'shortcut': 'conv',
                      **VARIANTS[variant]})
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir:
            from devoxtrain.ensemble import load_model
            saved = torch.load(Path(model_dir) / 'model.pt', map_location='cpu', weights_only=True)
            if 'state_dict' in saved or 'ensemble' in saved:
                net = load_model(model_dir)         # one network, or an ensemble of them (make_ensemble.py)
            else:                                   # plain state dict of the default configuration
                net.load_state_dict(saved)
            onnx_path = str(Path(model_dir) / 'model.onnx')
        else:
            net.eval()
            # give BatchNorm non-trivial statistics so the check is not of an identity-ish network
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
            onnx_path = os.path.join(tmp, 'model.onnx')
            onnx_io.export(net, onnx_path)
        net.eval()
        rng = np.random.default_rng(2)
        speech = _speechlike(rng, 2.0)
        # index 2 is digital silence: parity.test.ts gives it a looser bound (SILENCE)
        wins = [0.3 * rng.standard_normal(SR), 0.001 * rng.standard_normal(SR), np.zeros(SR), speech[:SR],
                speech[SR // 2:SR // 2 + SR], channel.g711_channel(speech[:SR], 'ulaw'), np.clip(3 * speech[:SR], -1, 1)]
        x = np.stack(wins).astype(np.float32)
        if dump:
            x.tofile(dump)                      # raw float32 [n, 16000], for onnxruntime-node in the TS test
        sess = onnx_io.session(onnx_path)
        p_ort, e_ort = onnx_io.score(sess, x)
        p_one = np.concatenate([onnx_io.score(sess, x[i:i + 1])[0] for i in range(len(x))])
        with torch.no_grad():
            logit, e_pt = net(torch.from_numpy(x))
        p_pt = torch.sigmoid(logit).numpy()
        ins = [(i.name, [d if isinstance(d, int) else str(d) for d in
                         [s.dim_value or s.dim_param for s in i.type.tensor_type.shape.dim]]) for i in
               __import__('onnx').load(onnx_path).graph.input]
        return {'model': onnx_path if model_dir else 'random-init export', 'windows': len(x),
                'max_abs_prob': float(np.max(np.abs(p_pt - p_ort))), 'max_abs_embedding': float(np.max(np.abs(e_pt.numpy() - e_ort))),
                'max_abs_batch1_vs_batch': float(np.max(np.abs(p_one - p_ort))),
                'probs_torch': p_pt.tolist(), 'probs_onnx': p_ort.tolist(),
                'inputs': ins, 'outputs': [o.name for o in sess.get_outputs()],
                'output_shapes': [list(map(str, o.shape)) for o in sess.get_outputs()]}


def cmd_vocoder(tmp: str) -> dict:
    """training/devoxtrain/vocoder.py and resynth_vocoder.py on untrained nets (seconds): every family and hop maps a
    mel of T frames to T x hop samples; Vocos' inverse STFT inverts the mel front-end's own STFT framing exactly; the
    chunked whole-file vocoding equals one pass; the resynthesis writes one paired row per genuine file, same length."""
    import torch
    from devoxtrain import vocoder as V
    from devoxtrain.resynth import resynthesise
    sys.path.insert(0, str(Path(V.__file__).resolve().parents[1]))     # training/: the scripts import as modules
    from resynth_vocoder import combine, level_match
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    out: dict = {'shapes': {}}
    for kind in ('hifigan', 'vocos'):
        for hop in (256, 160):
            net, mel = V.build(kind, hop, 32, 2), V.Mel(hop)
            x = torch.from_numpy(_speechlike(rng, 20 * hop / SR).astype(np.float32))[None]
            m = mel(x)
            y = net(m)
            out['shapes'][f'{kind}-h{hop}'] = {'samples': x.shape[1], 'frames': m.shape[2], 'mels': m.shape[1],
                                               'out': y.shape[1], 'finite': bool(torch.isfinite(y).all())}
    voc = V.Vocos(256, 32, 2)
    x = torch.from_numpy(_speechlike(rng, 1.0).astype(np.float32)[:62 * 256])[None]
    pad = (voc.n_fft - voc.hop) // 2
    xp = torch.nn.functional.pad(x[:, None], (pad, pad), mode='reflect')[:, 0]
    spec = torch.stft(xp, voc.n_fft, voc.hop, window=voc.win, center=False, return_complex=True)
    out['istft_max_err'] = float((voc.istft(spec) - x).abs().max())
    net, mel = V.build('hifigan', 160, 32), V.Mel(160)
    net.eval()
    sig = _speechlike(rng, 3.0).astype(np.float32)[:47_999]
    with torch.no_grad():
        whole = net(mel(torch.from_numpy(np.pad(sig, (0, 1)))[None]))[0].numpy()[:len(sig)]
    chunked = V.vocode(net, mel, sig, chunk_s=0.5)
    out['chunked'] = {'len_in': len(sig), 'len_out': len(chunked), 'max_diff': float(np.abs(chunked - whole).max())}
    import contextlib
    root = Path(tmp)
    items = []
    for i, sec in enumerate((1.3, 2.0)):
        p = root / f'g{i}.wav'
        sf.write(p, _speechlike(rng, sec) * 0.3, SR)
        items.append(Item(id=f'audio/g{i}.wav', path=str(p), label='genuine', speaker=f's{i}', source='page',
                          duration_s=sec))
    with contextlib.redirect_stdout(sys.stderr):      # progress lines: stdout is the JSON
        for name, kind in (('h', 'hifigan'), ('v', 'vocos')):
            net, mel = V.build(kind, 256, 32, 2), V.Mel(256)
            net.eval()
            resynthesise(items, root / 'voc' / name, name, lambda it, n=name: ('voc', f'vocoder-{n}'),
                         lambda x, it, net=net, mel=mel: level_match(V.vocode(net, mel, x), x))
        rows = read_manifest(combine(root / 'voc', ['h', 'v']))
    lens = [sf.info(r.path).frames for r in rows]
    out['manifest'] = {'rows': len(rows), 'labels': sorted({r.label for r in rows}),
                       'generators': sorted({r.generator for r in rows}),
                       'pair_keys': sorted({r.extra['pair_key'] for r in rows}),
                       'lengths_match': lens == [sf.info(it.path).frames for it in items] * 2,
                       'rms_ratio_db': [round(20 * np.log10(np.sqrt(np.mean(sf.read(r.path)[0] ** 2)) /
                                                            np.sqrt(np.mean(sf.read(it.path)[0] ** 2))), 2)
                                        for r, it in zip(rows, items * 2)]}
    out['gan'] = _gan_check(rng)
    return out


def _gan_check(rng) -> dict:
    """train_vocoder.py --gan's discriminator and losses (devoxtrain/vocoder.py): one logit map and its feature maps
    per sub-discriminator (periods 2, 3, 5, 7, 11 + three STFT resolutions), any length; the least-squares losses are
    0 at their targets; feature matching is 0 for identical input and passes no gradient to the real side; one
    adversarial step moves both the generator and the discriminator."""
    import torch
    from devoxtrain import vocoder as V
    disc = V.Discriminator(4)
    net, mel = V.build('hifigan', 160, 32), V.Mel(160)
    x = torch.from_numpy(np.stack([_speechlike(rng, 20 * 160 / SR) for _ in range(2)]).astype(np.float32))
    y = net(mel(x))
    real, fr = disc(x)
    fake, fg = disc(y)
    res = {'subdiscs': len(real), 'fmap_counts': [len(f) for f in fr], 'batch_rows': sorted({int(r.shape[0]) for r in real}),
           'fmaps_match': all(a.shape == b.shape for u, v in zip(fr, fg) for a, b in zip(u, v)),
           'odd_length_ok': len(disc(x[:, :3199])[0]) == len(real)}
    ones, zeros = [torch.ones_like(r) for r in real], [torch.zeros_like(r) for r in real]
    res['d_loss_at_target'] = float(V.d_loss(ones, zeros))
    res['d_loss_swapped'] = float(V.d_loss(zeros, ones))
    res['g_adv_at_target'] = float(V.g_adv_loss(ones))
    res['fm_identical'] = float(V.feature_loss(fr, fr))
    xr = x.clone().requires_grad_(True)
    _, fr2 = disc(xr)
    V.feature_loss(fr2, fg).backward()
    res['fm_grad_to_real'] = xr.grad is not None and float(xr.grad.abs().sum()) > 0
    losses = {'d': V.d_loss(real, [f.detach() for f in fake]), 'adv': V.g_adv_loss(fake), 'fm': V.feature_loss(fr, fg)}
    res['losses_scalar_finite'] = all(v.dim() == 0 and bool(torch.isfinite(v)) for v in losses.values())
    g0 = [p.detach().clone() for p in net.parameters()]
    d0 = [p.detach().clone() for p in disc.parameters()]
    od, og = torch.optim.Adam(disc.parameters(), 1e-3), torch.optim.Adam(net.parameters(), 1e-3)
    y = net(mel(x))
    od.zero_grad()
    V.d_loss(disc(x)[0], disc(y.detach())[0]).backward()
    od.step()
    res['gen_untouched_by_d_step'] = all(torch.equal(a, b) for a, b in zip(g0, net.parameters()))
    fake, fg = disc(y)
    with torch.no_grad():
        _, fr = disc(x)
    og.zero_grad()
    od.zero_grad()
    (V.g_adv_loss(fake) + 2 * V.feature_loss(fr, fg)).backward()
    og.step()
    res['gen_moved'] = not all(torch.equal(a, b) for a, b in zip(g0, net.parameters()))
    res['disc_moved'] = not all(torch.equal(a, b) for a, b in zip(d0, disc.parameters()))
    return res


def cmd_extra_synthetic() -> dict:
    """CropStream(synthetic_shares={'tts': F}): the synthetic draws come from the named source a fraction F of the
    time (exactly, in the weights; about, in 4000 draws), the genuine draws never; bad shares are refused."""
    from devoxtrain.augment import AugConfig
    from devoxtrain.cache import OPUS_BITRATES, Store
    from devoxtrain.sampler import CropStream
    rng = np.random.default_rng(7)
    items, parts, index, off = [], [], {}, 0
    for iid, lab, src, sec in (('g1', 'genuine', 'pageA', 3.0), ('s1', 'synthetic', 'pageA', 9.0),
                               ('s2', 'synthetic', 'pageB', 4.0), ('t1', 'synthetic', 'tts', 2.0),
                               ('t2', 'synthetic', 'tts', 2.0)):
        items.append(Item(id=iid, path=iid, label=lab, speaker=iid, source=src))
        sig = channel.to_int16(augment.normalize_loudness(_speechlike(rng, sec)))
        parts.append(sig)
        index[iid] = (off, len(sig))
        off += len(sig)
    clean = np.concatenate(parts)
    store = Store(arrays={'clean': clean, **{f'opus{b}': clean for b in OPUS_BITRATES}}, index=index)
    out: dict = {}
    for share in (0.0, 0.2, 0.5):
        st = CropStream(items, store, AugConfig(), batch=8, seed=1,
                        synthetic_shares={'tts': share} if share else None)
        draws = [st._pick(rng, 1) for _ in range(4000)]
        out[str(share)] = {'weight_share': round(st.synthetic_share('tts'), 6),
                           'drawn_share': sum(d.startswith('t') for d in draws) / len(draws),
                           'genuine_from_tts': sum(st._pick(rng, 0).startswith('t') for _ in range(200))}
    errors = {}
    for name, shares in (('unknown', {'nope': 0.2}), ('all', {'pageA': 0.3, 'pageB': 0.3, 'tts': 0.3}),
                         ('too_big', {'tts': 1.0})):
        try:
            CropStream(items, store, AugConfig(), batch=8, seed=1, synthetic_shares=shares)
            errors[name] = None
        except ValueError as e:
            errors[name] = str(e)
    out['errors'] = errors
    return out


def cmd_debian_tts(tmp: str) -> dict:
    """training/synth_debian_tts.py --n 4: one file per engine (espeak-ng, flite, festival diphone, festival HTS),
    16 kHz mono at the planned level, and a manifest of unpaired synthetic rows naming the Debian package."""
    import contextlib
    import shutil
    sys.path.insert(0, str(Path(cachemod.__file__).resolve().parents[1]))
    import synth_debian_tts as T
    tools = sorted({t for t in T.TOOLS.values() if not shutil.which(t)})
    if tools:
        return {'missing': tools}
    with contextlib.redirect_stdout(sys.stderr):
        T.main(['--n', '4', '--out', tmp])
    rows = read_manifest(Path(tmp) / 'manifest.csv')
    files = []
    for k, r in enumerate(rows):
        x, sr = sf.read(r.path)
        files.append({'generator': r.generator, 'sr': sr, 'mono': x.ndim == 1, 'sec': round(len(x) / sr, 2),
                      'level_err_db': round(20 * np.log10(np.sqrt(np.mean(x ** 2))) - T.plan(k)['level_dbfs'], 2)})
    with open(Path(tmp) / 'manifest.csv') as fh:
        import csv
        packages = [r['package'] for r in csv.DictReader(fh)]
    return {'missing': [], 'files': files, 'labels': sorted({r.label for r in rows}),
            'sources': sorted({r.source for r in rows}), 'pair_keys': sorted({r.extra['pair_key'] for r in rows}),
            'packages': packages, 'deterministic': T.plan(3) == T.plan(3) and T.plan(3) != T.plan(7)}


def cmd_sourcefilter(tmp: str) -> dict:
    """training/resynth_sourcefilter.py: the mel-cepstral bases reproduce an envelope that is a low-order cosine
    series on the warped axis; the minimum-phase response has the envelope's magnitude; the excitation puts one pulse
    per F0 period; pyin finds a 140-Hz harmonic tone; the copy keeps the length, level and timing (envelope lag 0) of
    its original, and the manifest pairs it with the original."""
    import contextlib
    sys.path.insert(0, str(Path(cachemod.__file__).resolve().parents[1]))
    import resynth_sourcefilter as S
    from resynth_codec2 import envelope_lag
    from devoxtrain.resynth import resynthesise
    analysis, synthesis = S.mcep_bases(24)
    c = np.zeros(25)
    c[[0, 1, 3, 7]] = [-2.0, 0.8, -0.3, 0.2]
    env = synthesis @ c
    w = np.linspace(0, np.pi, S.N_FFT // 2 + 1)
    out: dict = {'mcep_roundtrip_err': float(np.abs(analysis @ env - c).max()),
                 'warp_monotone': bool(np.all(np.diff(S.warp(w)) > 0)), 'warp_ends': [float(S.warp(w)[0]),
                                                                                       float(S.warp(w)[-1])],
                 'min_phase_mag_err': float(np.abs(np.log(np.abs(S.min_phase(env[None]))) - env).max())}
    e = S.excitation(np.full(100, 125.0), 100 * S.HOP, np.random.default_rng(0))
    gaps = np.diff(np.flatnonzero(e))
    out['pulse_gaps'] = sorted({int(g) for g in gaps})
    out['excitation_power'] = float(np.mean(e ** 2))
    rng = np.random.default_rng(1)
    t = np.arange(int(2.0 * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    tone = (0.1 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.003 * rng.standard_normal(len(t))).astype(np.float32)
    f0 = S.f0_track(tone, len(tone) // S.HOP + 1)
    out['f0_median'] = float(np.median(f0[f0 > 0])) if (f0 > 0).any() else 0.0
    out['voiced_share'] = float((f0 > 0).mean())
    root = Path(tmp)
    items = []
    for i, x in enumerate((_speechlike(rng, 2.3), tone)):
        path = root / f'g{i}.wav'
        sf.write(path, x, SR)
        items.append(Item(id=f'audio/g{i}.wav', path=str(path), label='genuine', speaker=f's{i}', source='page',
                          duration_s=len(x) / SR))
    with contextlib.redirect_stdout(sys.stderr):
        man = resynthesise(items, root / 'sf', 'source-filter', lambda it: (f'sf_m{S.order_of(it)}', 'sourcefilter'),
                           lambda x, it: S.sourcefilter(x, S.order_of(it)))
    rows = read_manifest(man)
    copies = []
    for r, it in zip(rows, items):
        x, _ = sf.read(it.path, dtype='float32')
        y, _ = sf.read(r.path, dtype='float32')
        copies.append({'same_length': len(x) == len(y), 'pair_key': r.extra['pair_key'],
                       'rms_ratio_db': round(float(20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)))), 2),
                       'lag_ms': envelope_lag(x, y) / 16, 'lag_back_ms': envelope_lag(y, x) / 16,
                       'differs': bool(np.abs(x - y).max() > 1e-3)})
    out['copies'] = copies
    out['labels'] = sorted({r.label for r in rows})
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[0]
    if cmd == 'readers':
        out = cmd_readers(argv[1] if len(argv) > 1 else tempfile.mkdtemp())
    elif cmd == 'splits':
        out = cmd_splits()
    elif cmd == 'augment':
        out = cmd_augment()
    elif cmd == 'g711':
        out = cmd_g711()
    elif cmd == 'pairs':
        out = cmd_pairs()
    elif cmd == 'cache-key':
        with tempfile.TemporaryDirectory() as tmp:
            out = cmd_cache_key(tmp)
    elif cmd == 'bootstrap':
        out = cmd_bootstrap()
    elif cmd == 'adversary':
        out = cmd_adversary()
    elif cmd == 'vocoder':
        with tempfile.TemporaryDirectory() as tmp:
            out = cmd_vocoder(tmp)
    elif cmd == 'extra-synthetic':
        out = cmd_extra_synthetic()
    elif cmd == 'debian-tts':
        with tempfile.TemporaryDirectory() as tmp:
            out = cmd_debian_tts(tmp)
    elif cmd == 'sourcefilter':
        with tempfile.TemporaryDirectory() as tmp:
            out = cmd_sourcefilter(tmp)
    elif cmd == 'parity':
        rest = argv[1:]
        opts = {}
        for flag in ('--dump', '--variant'):
            if flag in rest:
                i = rest.index(flag)
                opts[flag[2:]] = rest[i + 1]
                rest = rest[:i] + rest[i + 2:]
        out = cmd_parity(rest[0] if rest else None, opts.get('dump'), opts.get('variant', 'default'))
    else:
        print(f'unknown check {cmd!r}\n{__doc__}', file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
