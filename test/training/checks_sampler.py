"""The sampler's own crop transforms, measured (dispatched by checks.py)."""
from __future__ import annotations

import numpy as np

from devoxtrain import channel
from devoxtrain.augment import AugConfig, Augmenter
from devoxtrain.cache import Store
from devoxtrain.constants import SR, WINDOW
from devoxtrain.data import Item
from devoxtrain.sampler import SPEED_RANGES, SPEEDS, CropStream


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * SR / len(x))


def cmd_speed() -> dict:
    """Speed perturbation (AugConfig.p_speed): a 1-kHz tone comes out at 1 kHz x f for f in SPEEDS, 1 s long; at
    p_speed 0 the crop is untouched and no random number is drawn (older runs replay); a codec copy is never
    perturbed."""
    t = np.arange(3 * SR) / SR
    tone = channel.to_int16(0.3 * np.sin(2 * np.pi * 1000.0 * t))
    items = [Item(id='a', path='a', label='genuine', speaker='s', source='p'),
             Item(id='b', path='b', label='synthetic', speaker='s', source='p')]
    store = Store(arrays={'clean': np.concatenate([tone, tone]), 'opus8': np.concatenate([tone, tone])},
                  index={'a': (0, len(tone)), 'b': (len(tone), len(tone))})
    on = CropStream(items, store, AugConfig(p_speed=1.0), batch=4, seed=1)
    rng = np.random.default_rng(3)
    peaks, lengths = [], set()
    for _ in range(40):
        y = on._speed_crop(rng, 'a', 'clean')
        lengths.add(len(y))
        peaks.append(round(_peak_hz(y)))
    ranges = {}
    for name, factors in SPEED_RANGES.items():
        stream = CropStream(items, store, AugConfig(p_speed=1.0, speed_range=name), batch=4, seed=1)
        crops = [stream._speed_crop(rng, 'a', 'clean') for _ in range(12 * len(factors))]
        ranges[name] = {'expected_hz': sorted(round(1000 * n / d) for n, d in factors),
                        'peaks_hz': sorted({round(_peak_hz(y)) for y in crops}),
                        'lengths': sorted({len(y) for y in crops})}
    off = CropStream(items, store, AugConfig(), batch=4, seed=1)
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    plain = off._speed_crop(r1, 'a', 'clean')
    ref = off._crop(r2, 'a', 'clean')
    copy = on._speed_crop(np.random.default_rng(4), 'a', 'opus8')
    return {'expected_hz': sorted(round(1000 * n / d) for n, d in SPEEDS), 'peaks_hz': sorted(set(peaks)),
            'lengths': sorted(lengths), 'window': WINDOW,
            'ranges': ranges,
            'off_identical_to_plain_crop': bool(np.array_equal(plain, ref)),
            'off_same_rng_state': r1.bit_generator.state == r2.bit_generator.state,
            'copy_peak_hz': round(_peak_hz(copy))}


def cmd_pair_speed() -> dict:
    """Speed perturbation of matched pairs (AugConfig.p_pair_speed): a genuine 1-kHz tone paired with a synthetic
    1.5-kHz one comes out at f x 1 kHz and f x 1.5 kHz, one factor f for both sides, each 1 s; at 0 nothing is
    drawn (older runs replay)."""
    t = np.arange(3 * SR) / SR
    low = channel.to_int16(0.3 * np.sin(2 * np.pi * 1000.0 * t))
    high = channel.to_int16(0.3 * np.sin(2 * np.pi * 1500.0 * t))
    items = [Item(id='a', path='a', label='genuine', speaker='s', source='p', extra={'pair_key': 'k'}),
             Item(id='b', path='b', label='synthetic', speaker='s', source='p', extra={'pair_key': 'k'})]
    store = Store(arrays={'clean': np.concatenate([low, high])}, index={'a': (0, len(low)), 'b': (len(low), len(high))})
    quiet = dict(p_reverb=0.0, p_noise=0.0, p_babble=0.0, p_packet_loss=0.0, p_bandlimit=0.0, p_ulaw=0.0, p_alaw=0.0,
                 p_opus=0.0, p_eq=0.0)
    on = CropStream(items, store, AugConfig(p_pair_speed=1.0, **quiet), batch=4, seed=1, pairs=1.0)
    aug = Augmenter(on.aug_cfg, on._babble)
    rng = np.random.default_rng(5)
    sides, lengths = [], set()
    for _ in range(40):
        xg, xs, _, _ = on._pair(rng, aug, False)
        lengths.update((len(xg), len(xs)))
        sides.append((round(_peak_hz(xg)), round(_peak_hz(xs))))
    off = CropStream(items, store, AugConfig(**quiet), batch=4, seed=1, pairs=1.0)
    r = np.random.default_rng(9)
    before = r.bit_generator.state
    none = off._speed_factor(r, 'clean')
    return {'expected_hz': sorted(round(1000 * n / d) for n, d in SPEEDS), 'genuine_hz': sorted({g for g, _ in sides}),
            'ratios': sorted({round(s / g, 3) for g, s in sides}), 'lengths': sorted(lengths), 'window': WINDOW,
            'off_factor': none, 'off_same_rng_state': r.bit_generator.state == before}
