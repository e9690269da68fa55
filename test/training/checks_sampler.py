"""The sampler's own crop transforms, measured (dispatched by checks.py)."""
from __future__ import annotations

import numpy as np

from devoxtrain import channel
from devoxtrain.augment import AugConfig
from devoxtrain.cache import Store
from devoxtrain.constants import SR, WINDOW
from devoxtrain.data import Item
from devoxtrain.sampler import SPEEDS, CropStream


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
    off = CropStream(items, store, AugConfig(), batch=4, seed=1)
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    plain = off._speed_crop(r1, 'a', 'clean')
    ref = off._crop(r2, 'a', 'clean')
    copy = on._speed_crop(np.random.default_rng(4), 'a', 'opus8')
    return {'expected_hz': sorted(round(1000 * n / d) for n, d in SPEEDS), 'peaks_hz': sorted(set(peaks)),
            'lengths': sorted(lengths), 'window': WINDOW,
            'off_identical_to_plain_crop': bool(np.array_equal(plain, ref)),
            'off_same_rng_state': r1.bit_generator.state == r2.bit_generator.state,
            'copy_peak_hz': round(_peak_hz(copy))}
