"""RawBoost data boosting (Tak, Kamble, Patino, Todisco, Evans: "RawBoost: A Raw Data Boosting and Augmentation
Method applied to Automatic Speaker Verification Anti-Spoofing", ICASSP 2022), re-implemented from the paper's
equations and its published default parameters, both classes alike:

- algorithm 1, linear and non-linear convolutive noise: the sum of N_f = 5 random multi-notch FIR filters applied
  to x, x^2, ..., x^5 (the higher powers attenuated by 5-20 dB): a random, slightly non-linear recording chain;
- algorithm 2, impulsive signal-dependent additive noise: up to 10 % of the samples perturbed by
  x * g_sd * (uniform * uniform), g_sd = 2 (clipping / quantisation-like impulses);
- algorithm 3, stationary signal-independent additive noise: white noise through a random multi-notch FIR filter,
  at 10-40 dB SNR.

The paper found algorithms 1+2 in series best on ASVspoof 2021 LA (telephony codecs) and 3 best on DF (unseen
compression). Filters are applied by FFT convolution (scipy's lfilter with the ~500-tap cascades is ~10x slower),
'same' alignment as the paper's centred FIR. The output keeps the input's RMS (the paper peak-normalises; the
training pipeline normalises loudness before this step and applies its random gain after).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

SR = 16000


def _notch_bank(rng: np.random.Generator, n_bands: int = 5, min_f: float = 20.0, max_f: float = 8000.0,
                min_bw: float = 100.0, max_bw: float = 1000.0, min_coeff: int = 10, max_coeff: int = 100,
                gain_db: float = 0.0) -> np.ndarray:
    """Cascade of n_bands random notch (band-stop) FIR filters (Hamming window; the paper's genNotchCoeffs, where
    scipy's firwin with two cut-offs and pass_zero=True stops the band), normalised to a peak gain of gain_db."""
    b = np.ones(1)
    for _ in range(n_bands):
        fc = rng.uniform(min_f, max_f)
        bw = rng.uniform(min_bw, max_bw)
        taps = int(rng.integers(min_coeff, max_coeff + 1)) | 1           # odd length: a band-stop passes Nyquist
        f1 = max(fc - bw / 2, 1e-3)
        f2 = min(fc + bw / 2, SR / 2 - 1e-3)
        if f2 <= f1:
            continue
        b = np.convolve(signal.firwin(taps, [f1, f2], window='hamming', pass_zero=True, fs=SR), b)
    _, h = signal.freqz(b, 1, worN=512, fs=SR)
    peak = float(np.max(np.abs(h)))
    return b * (10 ** (gain_db / 20) / max(peak, 1e-9))


def _fir_same(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    y = signal.fftconvolve(x, b)
    start = (len(b) - 1) // 2
    return y[start:start + len(x)]


def _match_rms(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    r_ref = float(np.sqrt(np.mean(ref ** 2)))
    r_y = float(np.sqrt(np.mean(y ** 2)))
    return y * (r_ref / r_y) if r_y > 1e-9 else y


def lnl_convolutive(x: np.ndarray, rng: np.random.Generator, n_f: int = 5, bias_min_db: float = 5.0,
                    bias_max_db: float = 20.0) -> np.ndarray:
    """Algorithm 1: sum over i = 1..n_f of FIR_i(x^i); FIR_1 at 0 dB, the others 5-20 dB down."""
    y = np.zeros_like(x, dtype=np.float64)
    for i in range(n_f):
        g = 0.0 if i == 0 else -float(rng.uniform(bias_min_db, bias_max_db))
        y += _fir_same(np.power(x, i + 1), _notch_bank(rng, gain_db=g))
    y -= y.mean()
    return _match_rms(y, x)


def isd_additive(x: np.ndarray, rng: np.random.Generator, p_max_percent: float = 10.0, g_sd: float = 2.0) -> np.ndarray:
    """Algorithm 2: a random beta (0-10 %) of the samples gets x * g_sd * (u1 * u2), u uniform in [-1, 1]."""
    y = x.astype(np.float64, copy=True)
    n = int(len(x) * rng.uniform(0, p_max_percent) / 100)
    if n > 0:
        idx = rng.permutation(len(x))[:n]
        f = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
        y[idx] += g_sd * x[idx] * f
    return y


def ssi_additive(x: np.ndarray, rng: np.random.Generator, snr_min: float = 10.0, snr_max: float = 40.0) -> np.ndarray:
    """Algorithm 3: coloured stationary noise (white through a random FIR bank) at 10-40 dB SNR."""
    noise = _fir_same(rng.standard_normal(len(x)), _notch_bank(rng))
    nn = float(np.linalg.norm(noise))
    if nn < 1e-9:
        return x.astype(np.float64)
    snr = rng.uniform(snr_min, snr_max)
    return x + noise / nn * float(np.linalg.norm(x)) / 10 ** (0.05 * snr)


def rawboost(x: np.ndarray, rng: np.random.Generator, algo: str = '12') -> np.ndarray:
    """algo: the algorithms to apply in series, e.g. '12' (the paper's best on LA), '3' (best on DF), '123'."""
    y = x.astype(np.float64)
    if '1' in algo:
        y = lnl_convolutive(y, rng)
    if '2' in algo:
        y = isd_additive(y, rng)
    if '3' in algo:
        y = ssi_additive(y, rng)
    return y.astype(np.float32)
