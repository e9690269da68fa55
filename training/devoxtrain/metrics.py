"""EER, threshold calibration and the runtime's windowing."""
from __future__ import annotations

import numpy as np

from .constants import HOP, MIN_SPEECH_RATIO, SPEECH_DBFS, SPEECH_FRAME, SR, WINDOW  # noqa: F401 (re-exported)


def eer(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs. labels: 1 synthetic, 0 genuine; high score = synthetic."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.min() == labels.max():
        return float('nan'), float('nan')
    thr = np.unique(scores)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pos_s, neg_s = np.sort(pos), np.sort(neg)
    # for threshold t, predict synthetic if score >= t
    fnr = np.searchsorted(pos_s, thr, side='left') / len(pos)          # synthetic below t
    fpr = 1 - np.searchsorted(neg_s, thr, side='left') / len(neg)      # genuine at/above t
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float((fnr[i] + fpr[i]) / 2), float(thr[i])


def file_bootstrap(labels: np.ndarray, groups: np.ndarray, n_boot: int, seed: int = 0):
    """Yields `n_boot` index arrays, each a resample of whole files (groups) with replacement, stratified by label
    (each resample keeps the number of genuine and synthetic files): the windows of one file are not independent, so
    resampling windows would understate the uncertainty."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    order = np.argsort(groups, kind='stable')
    _, start, count = np.unique(groups[order], return_index=True, return_counts=True)
    members = [order[a:a + c] for a, c in zip(start, count)]
    by_label = [np.nonzero(labels[order[start]] == y)[0] for y in (0, 1)]
    for _ in range(n_boot):
        pick = np.concatenate([rng.choice(g, len(g)) for g in by_label if len(g)])
        yield np.concatenate([members[i] for i in pick])


def eer_ci(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray | None = None, n_boot: int = 300,
           seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the EER over file-level bootstrap resamples (groups = file of each score; None =
    every score its own file)."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    vals = [eer(labels[i], scores[i])[0] for i in file_bootstrap(labels, groups, n_boot, seed)]
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def threshold_at_fpr(genuine_scores: np.ndarray, fpr: float) -> float:
    """Smallest threshold t with P(genuine score >= t) <= fpr."""
    return float(np.quantile(np.asarray(genuine_scores, dtype=np.float64), 1 - fpr, method='higher'))


def calibrate(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Card thresholds from dev windows, ordered suspicious < eer < synthetic:
    eer at the EER point (dev false accepts = dev misses); suspicious lower, where only EER/2 of dev synthetic
    windows score below it (it catches half of what the eer threshold misses, at more false alarms); synthetic
    higher, where only 1% of dev genuine windows reach it."""
    e, t = eer(labels, scores)
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    g, s = scores[labels == 0], scores[labels == 1]
    sus = float(np.quantile(s, e / 2, method='lower'))
    syn = threshold_at_fpr(g, 0.01)
    eps = 1e-4
    sus = min(sus, t - eps)
    syn = max(syn, t + eps)
    return {'eer': round(t, 6), 'suspicious': round(max(sus, 0.0), 6), 'synthetic': round(min(syn, 1.0), 6),
            'dev_eer': round(e, 4)}


def window_starts(n: int) -> np.ndarray:
    """Runtime windowing: 1-s windows every 250 ms, the first ending at 1.0 s; a file shorter than 1 s gets one
    zero-padded window (the runtime would not score it at all; evaluation keeps it so every file has a score)."""
    if n <= WINDOW:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n - WINDOW + 1, HOP, dtype=np.int64)


def cut_windows(x: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    if starts is None:
        starts = window_starts(len(x))
    if len(x) < WINDOW:
        x = np.pad(x, (0, WINDOW - len(x)))
    return np.stack([x[s:s + WINDOW] for s in starts]).astype(np.float32)


def window_dbfs(w: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(np.square(w, dtype=np.float64), axis=-1) + 1e-12)


def speech_ratio(w: np.ndarray) -> np.ndarray:
    """Per window [n, 16000]: the share of its 20-ms frames above SPEECH_DBFS, as the runtime's AudioStream
    measures `speechRatio` (a frame counts when its sum of squares exceeds the threshold's)."""
    w = np.asarray(w, dtype=np.float64)
    n = w.shape[-1] // SPEECH_FRAME
    frames = w[..., :n * SPEECH_FRAME].reshape(*w.shape[:-1], n, SPEECH_FRAME)
    loud = np.square(frames).sum(axis=-1) > 10 ** (SPEECH_DBFS / 10) * SPEECH_FRAME
    return loud.mean(axis=-1) if n else np.zeros(w.shape[:-1])


def speech_windows(w: np.ndarray) -> np.ndarray:
    """The windows the verdict engine counts as speech (speechRatio >= verdict.minWindowSpeechRatio)."""
    return speech_ratio(w) >= MIN_SPEECH_RATIO
