"""Synthetic test signals for the devoxtrain oracles (checks.py and its parts): speech-like audio without a corpus."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from devoxtrain.constants import SHARED_MANIFEST, SR


def speechlike(rng: np.random.Generator, sec: float = 2.0) -> np.ndarray:
    """Real speech from the shared data if present, else a harmonic signal with a syllable envelope."""
    if SHARED_MANIFEST.exists():
        p = SHARED_MANIFEST.parent / 'audio/resemblyzer/genuine/bonafide/libri-1040_519e3a2c75.flac'
        if p.exists():
            x, _ = sf.read(p, dtype='float32')
            return x[SR:SR + int(sec * SR)]
    t = np.arange(int(sec * SR)) / SR
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    return (0.1 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.003 * rng.standard_normal(len(t))).astype(np.float32)
