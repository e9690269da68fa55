"""On-the-fly augmentations for 1-s crops (float32, 16 kHz, [-1, 1]), applied to BOTH classes alike.

Each primitive is a plain function with explicit parameters, so tests can check that it does what it says
(test/training/augment.test.ts via test/training/checks.py). `Augmenter` draws the random parameters and composes them
in the order a call does it: room (reverb) -> noise / babble -> talker level -> AGC -> codec / phone band -> packet
loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.signal import fftconvolve, firwin2

from . import channel
from .rawboost import rawboost
from .constants import SR

EPS = 1e-12


def rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + EPS))


def gain_db(x: np.ndarray, db: float) -> np.ndarray:
    """Scale by `db` decibels (RMS changes by exactly `db` unless the caller clips)."""
    return (x * np.float32(10 ** (db / 20))).astype(np.float32)


def active_rms_dbfs(x: np.ndarray, frame: int = 320, rel_db: float = -40.0) -> float:
    """RMS over the 20-ms frames within `rel_db` of the loudest frame (a crude ITU P.56 active level)."""
    n = len(x) // frame
    if n == 0:
        return rms_dbfs(x)
    e = np.mean(np.square(x[:n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    active = e[10 * np.log10(e + EPS) >= 10 * np.log10(e.max() + EPS) + rel_db]
    return float(10 * np.log10(np.mean(active) + EPS))


def normalize_loudness(x: np.ndarray, target_dbfs: float = -26.0, max_gain_db: float = 40.0) -> np.ndarray:
    """Bring the active speech level to `target_dbfs` (removes per-source loudness differences)."""
    level = active_rms_dbfs(x)
    if level < -100:
        return x.astype(np.float32)
    return gain_db(x, float(np.clip(target_dbfs - level, -max_gain_db, max_gain_db)))


def colored_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectral density ~ 1/f**alpha (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec *= f ** (-alpha / 2)
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt(np.mean(y ** 2)) + EPS)).astype(np.float32)


def add_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """x + noise scaled so that 10*log10(P_x / P_noise) == snr_db (P over the whole crop)."""
    px = np.mean(np.square(x, dtype=np.float64))
    pn = np.mean(np.square(noise, dtype=np.float64))
    if px < EPS or pn < EPS:
        return x.astype(np.float32)
    scale = np.sqrt(px / (pn * 10 ** (snr_db / 10)))
    return (x + scale * noise).astype(np.float32)


def packet_loss(x: np.ndarray, rng: np.random.Generator, rate: float, frame: int = 320,
                mode: str = 'zero') -> tuple[np.ndarray, np.ndarray]:
    """Drop 20-ms packets (frame=320 at 16 kHz) independently with probability `rate`.

    mode 'zero' leaves silence (what a jitter buffer without PLC plays), 'repeat' repeats the previous packet at
    half amplitude (a crude concealment). Returns (signal, boolean mask of lost samples)."""
    y = x.astype(np.float32).copy()
    mask = np.zeros(len(x), dtype=bool)
    n = len(x) // frame
    lost = rng.random(n) < rate
    for i in np.flatnonzero(lost):
        s = slice(i * frame, (i + 1) * frame)
        if mode == 'repeat' and i > 0:
            y[s] = 0.5 * y[(i - 1) * frame:i * frame]
        else:
            y[s] = 0.0
        mask[s] = True
    return y, mask


def synthetic_rir(rt60: float, rng: np.random.Generator, length_s: float | None = None) -> np.ndarray:
    """Exponentially decaying Gaussian noise tail (60 dB down after rt60 seconds) behind a unit direct path."""
    length_s = length_s if length_s is not None else min(1.2 * rt60, 0.9)
    n = max(2, int(length_s * SR))
    t = np.arange(n) / SR
    h = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)        # ln(1000) = 6.9078: -60 dB at rt60
    h[:int(0.002 * SR)] = 0.0                                        # 2 ms before the first reflection
    h *= 0.3 / (np.sqrt(np.sum(h ** 2)) + EPS)                        # tail energy relative to the direct path
    h[0] = 1.0
    return h.astype(np.float32)


def reverb(x: np.ndarray, rir: np.ndarray, keep_tail: bool = False) -> np.ndarray:
    """Convolve with `rir`; same length as x (or with the tail if keep_tail), RMS preserved over len(x)."""
    y = fftconvolve(x.astype(np.float64), rir.astype(np.float64))
    if not keep_tail:
        y = y[:len(x)]
    r_in = np.sqrt(np.mean(np.square(x, dtype=np.float64)))
    r_out = np.sqrt(np.mean(np.square(y[:len(x)])))
    if r_out > EPS:
        y *= r_in / r_out
    return y.astype(np.float32)


def equalize(x: np.ndarray, freqs_hz: np.ndarray, gains_db: np.ndarray, numtaps: int = 129) -> np.ndarray:
    """Linear-phase FIR equaliser through the points (freqs_hz, gains_db), linear in dB between them and flat
    beyond the outermost points; RMS preserved. A random draw of it stands for an unknown microphone, handset and
    recording chain (the convolutive part of RawBoost, Tak et al. 2022): a colour that says nothing about the label."""
    f = np.concatenate([[0.0], np.asarray(freqs_hz, np.float64), [SR / 2]])
    g = np.asarray(gains_db, np.float64)
    g = np.concatenate([[g[0]], g, [g[-1]]])
    order = np.argsort(f, kind='stable')
    h = firwin2(numtaps, f[order] / (SR / 2), 10 ** (g[order] / 20))
    y = fftconvolve(x.astype(np.float64), h)[numtaps // 2:numtaps // 2 + len(x)]
    r_in = np.sqrt(np.mean(np.square(x, dtype=np.float64)))
    r_out = np.sqrt(np.mean(np.square(y)))
    if r_out > EPS:
        y *= r_in / r_out
    return y.astype(np.float32)


def random_eq_points(rng: np.random.Generator, max_db: float, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """n breakpoints at log-uniform frequencies in 100 Hz - 7.5 kHz with gains uniform in +-max_db."""
    f = np.sort(np.exp(rng.uniform(np.log(100.0), np.log(7500.0), n)))
    return f, rng.uniform(-max_db, max_db, n)


def gain_riding(x: np.ndarray, knots_db: np.ndarray) -> np.ndarray:
    """Multiply by a slowly varying gain: `knots_db` spread evenly over the signal (first at sample 0, last at the
    end), linear in dB between them. A handset's or a softphone's AGC riding the level, or a talker moving."""
    k = np.asarray(knots_db, np.float64)
    at = np.linspace(0, len(x) - 1, len(k)) if len(k) > 1 else np.zeros(1)
    g = np.interp(np.arange(len(x)), at, k)
    return (x * 10 ** (g / 20)).astype(np.float32)


def compressor(x: np.ndarray, threshold_db: float, ratio: float, attack_ms: float = 5.0, release_ms: float = 150.0,
               makeup_db: float = 0.0, limit_db: float | None = -1.0, frame: int = 16) -> np.ndarray:
    """A feed-forward compressor and peak limiter, as a WebRTC / handset AGC applies them before encoding.

    The level is the RMS of 1-ms frames (`frame` samples); above `threshold_db` (dBFS) it is reduced by
    (1 - 1/ratio) of the excess, that gain reduction follows the level with one-pole `attack_ms` / `release_ms`
    smoothing, then `makeup_db` is added. The limiter then keeps every frame's peak at or below `limit_db` (instant
    attack, the same release), so no sample exceeds it. The gain is interpolated per sample between frame centres."""
    y = x.astype(np.float64)
    n = len(y) // frame
    if n == 0:
        return x.astype(np.float32)
    fr = y[:n * frame].reshape(n, frame)
    level = 10 * np.log10(np.mean(fr ** 2, axis=1) + EPS)
    want = np.maximum(0.0, level - threshold_db) * (1 - 1 / ratio)        # gain reduction, dB
    a_att = np.exp(-frame / (SR * attack_ms / 1000))
    a_rel = np.exp(-frame / (SR * release_ms / 1000))
    gr = np.empty(n)
    g = 0.0
    for i in range(n):
        a = a_att if want[i] > g else a_rel
        g = a * g + (1 - a) * want[i]
        gr[i] = g
    gain_db = makeup_db - gr
    if limit_db is not None:
        peak = 20 * np.log10(np.max(np.abs(fr), axis=1) + EPS) + gain_db
        over = np.maximum(0.0, peak - limit_db)
        lim = np.empty(n)
        g = 0.0
        for i in range(n):
            g = over[i] if over[i] > g else a_rel * g + (1 - a_rel) * over[i]
            lim[i] = g
        gain_db = gain_db - lim
    centres = np.arange(n) * frame + frame / 2
    g_s = 10 ** (np.interp(np.arange(len(y)), centres, gain_db) / 20)
    out = y * g_s
    if limit_db is not None:                         # interpolation between frames may overshoot by a hair
        ceiling = 10 ** (limit_db / 20)
        out = np.clip(out, -ceiling, ceiling)
    return out.astype(np.float32)


def random_agc(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random AGC chain, both classes alike: gain riding (knots uniform in +-6 dB, one every 0.25-1 s) then a
    compressor (threshold -35..-15 dBFS, ratio 2-8, attack 2-20 ms, release 50-400 ms, makeup gain 0-12 dB) with a
    -1 dBFS peak limiter."""
    sec = len(x) / SR
    knots = max(2, int(round(sec / rng.uniform(0.25, 1.0))) + 1)
    y = gain_riding(x, rng.uniform(-6.0, 6.0, knots))
    return compressor(y, threshold_db=float(rng.uniform(-35.0, -15.0)), ratio=float(rng.uniform(2.0, 8.0)),
                      attack_ms=float(rng.uniform(2.0, 20.0)), release_ms=float(rng.uniform(50.0, 400.0)),
                      makeup_db=float(rng.uniform(0.0, 12.0)), limit_db=-1.0)


def bandlimit(x: np.ndarray) -> np.ndarray:
    return channel.bandlimit(x)


# ------------------------------------------------------------------ random composition
@dataclass
class AugConfig:
    p_reverb: float = 0.3
    p_noise: float = 0.3
    p_babble: float = 0.15
    p_packet_loss: float = 0.2
    # channel probabilities (the rest: wideband, untouched)
    p_bandlimit: float = 0.15
    p_ulaw: float = 0.2
    p_alaw: float = 0.1
    p_opus: float = 0.25          # one of the precomputed Opus copies (8/16/24 kbps)
    gain_range_db: tuple[float, float] = (-20.0, 6.0)
    p_source_codec: float = 0.0   # crop from a precomputed MP3 / AAC copy (cache.SOURCE_COPIES) unless the channel is Opus
    p_eq: float = 0.0             # random recording-chain colour (equalize), drawn before the room
    eq_max_db: float = 8.0
    p_clean: float = 0.0          # crop left wideband and clean: loudness and gain only (no room, noise, codec, loss)
    p_mobile: float = 0.0         # one of the precomputed mobile-leg copies (AMR-NB / GSM-FR -> G.711, cache.MOBILE_COPIES)
    p_denoise: float = 0.0        # crop from the RNNoise-denoised copy (cache.DENOISE_COPIES) unless the channel is Opus / mobile
    p_rawboost: float = 0.0       # RawBoost (rawboost.py) on the clean crop, before the room and the channel
    rawboost_algo: str = '12'
    p_lace: float = 0.0           # one of the precomputed Opus 1.5 LACE / NoLACE copies at 12 / 16 kbps (cache.LACE_COPIES)
    p_agc: float = 0.0            # random_agc (gain riding + compressor / limiter) after the talker level, before the channel
    p_amrwb: float = 0.0          # one of the precomputed AMR-WB copies (an HD-voice mobile leg, cache.AMRWB_COPIES)
    amrwb_tandem: float = 1.0     # share of AMR-WB crops then transcoded to G.711 mu-law at the interconnect
    p_speed: float = 0.0          # speed perturbation of a clean crop, 0.9-1.1 (sampler.SPEEDS), before everything else
    p_pair_speed: float = 0.0     # the same, on both sides of a matched pair with one factor (sampler._pair)
    speed_range: str = 'kaldi'    # the factors drawn: sampler.SPEED_RANGES ('kaldi' 0.9-1.1, 'wide' 0.8-1.2, 'wider' 0.7-1.3)


CHANNELS = ('wideband', 'bandlimit', 'ulaw', 'alaw', 'opus', 'mobile', 'lace', 'amrwb')


class Augmenter:
    """Random phone-channel augmentation. `babble` draws a genuine 1-s crop from other training speech."""

    def __init__(self, cfg: AugConfig, babble: Callable[[np.random.Generator], np.ndarray] | None):
        self.cfg = cfg
        self.babble = babble
        c = cfg
        # p_lace, p_amrwb last: at 0 the draws of older runs replay exactly (zero-probability last categories change
        # nothing)
        p = np.array([c.p_bandlimit, c.p_ulaw, c.p_alaw, c.p_opus, c.p_mobile, c.p_lace, c.p_amrwb])
        self.channel_p = np.concatenate([[max(0.0, 1 - p.sum())], p])

    def pick_channel(self, rng: np.random.Generator) -> str:
        return CHANNELS[int(rng.choice(len(CHANNELS), p=self.channel_p))]

    def __call__(self, x: np.ndarray, channel_name: str, rng: np.random.Generator, plain: bool = False) -> np.ndarray:
        """x: clean crop (or a decoded copy when channel_name is 'opus', 'mobile', 'lace' or 'amrwb': precomputed).
        plain: loudness normalisation and the random gain only (a clean wideband crop, see AugConfig.p_clean)."""
        c = self.cfg
        y = normalize_loudness(x)
        if plain:
            return np.clip(gain_db(y, float(rng.uniform(*c.gain_range_db))), -1.0, 1.0).astype(np.float32)
        if c.p_eq > 0 and rng.random() < c.p_eq:
            y = equalize(y, *random_eq_points(rng, c.eq_max_db))
        if c.p_rawboost > 0 and rng.random() < c.p_rawboost:
            y = rawboost(y, rng, c.rawboost_algo)
        if rng.random() < c.p_reverb:
            y = reverb(y, synthetic_rir(float(rng.uniform(0.15, 0.8)), rng))
        if rng.random() < c.p_noise:
            y = add_at_snr(y, colored_noise(len(y), float(rng.choice([0.0, 1.0, 2.0])), rng),
                           float(rng.uniform(5, 35)))
        if self.babble is not None and rng.random() < c.p_babble:
            talkers = sum(self.babble(rng) for _ in range(int(rng.integers(3, 7))))
            y = add_at_snr(y, talkers, float(rng.uniform(8, 25)))
        y = gain_db(y, float(rng.uniform(*c.gain_range_db)))
        if c.p_agc > 0 and rng.random() < c.p_agc:        # no draw at 0: older runs replay exactly
            y = random_agc(y, rng)
        if channel_name == 'bandlimit':
            y = channel.bandlimit(y)
        elif channel_name in ('ulaw', 'alaw'):
            y = channel.g711_channel(np.clip(y, -1, 1), channel_name)
        elif channel_name == 'amrwb' and rng.random() < c.amrwb_tandem:     # AMR-WB -> G.711 at the interconnect
            y = channel.g711_channel(np.clip(y, -1, 1), 'ulaw')
        if rng.random() < c.p_packet_loss:
            y, _ = packet_loss(y, rng, float(rng.uniform(0.02, 0.1)), mode='zero' if rng.random() < 0.5 else 'repeat')
        return np.clip(y, -1.0, 1.0).astype(np.float32)
