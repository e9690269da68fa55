#!/usr/bin/env python3
"""Paired classic source-filter (SPTK/MLSA-style) fakes: the genuine files of one CV fold's training split, each
rebuilt by a textbook pulse/noise vocoder: F0 and voicing by `librosa.pyin`, the spectral envelope as a mel-cepstrum
(frequency-warped cepstrum, all-pass constant alpha 0.42 at 16 kHz, order 24 or 39 by a hash of the file), a
pulse train at F0 in voiced frames and white noise in unvoiced ones, filtered frame by frame by the minimum-phase
response of the cepstral envelope in the STFT domain (5-ms hop), then level-matched to the original. The same
speaker, words, timing, loudness contour and recording chain; only the waveform is rebuilt by a parametric model
(SPTK's `mcep` + `excite` + `mlsadf` chain, in numpy/scipy/librosa: no pysptk/pyworld on the pip mirror).

    python3 training/resynth_sourcefilter.py             # fold 0 of 3 -> training/cache/sourcefilter/{audio/*.flac, manifest.csv}
    /work/cpu-slot.sh python3 training/resynth_sourcefilter.py --folds 3 --fold 0   # as the fold-0 experiment made it
    python3 training/resynth_sourcefilter.py --limit 5   # a quick look
    # every genuine file (serves every fold and the all-data model), on both cores, then the manifest:
    python3 training/resynth_sourcefilter.py --all --shard 0/2 & python3 training/resynth_sourcefilter.py --all --shard 1/2; wait
    python3 training/resynth_sourcefilter.py --all

Rows are labelled synthetic, generator `sourcefilter-m24` / `sourcefilter-m39`, `pair_key` = the original's path,
as resynth_codec2.py's; train.py --paired-fakes training/cache/sourcefilter/manifest.csv adds the rows whose
original is in the training split. Only the fold's training genuine files are rebuilt (the others would never be
used). The copy has the original's length and frame timing (analysis and synthesis share the 5-ms frames; the
minimum-phase filter adds no delay beyond its own impulse response), and its RMS. Resumable: finished files are kept.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import librosa
import numpy as np

from devoxtrain.constants import CACHE_DIR, DEFAULT_SEED, SHARED_MANIFEST
from devoxtrain.data import Item
from devoxtrain.resynth import resynthesise

SR = 16000
HOP = 80             # 5 ms
N_FFT = 1024
WIN = 400            # 25-ms Hann analysis / synthesis window
ALPHA = 0.42         # all-pass constant: a mel-like frequency warping at 16 kHz
ORDERS = (24, 39)
F0_MIN, F0_MAX = 60.0, 420.0


def order_of(it: Item) -> int:
    return ORDERS[int(hashlib.sha256(it.id.encode()).hexdigest(), 16) % len(ORDERS)]


def warp(w: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The first-order all-pass frequency warping (radians -> warped radians): the mel-cepstrum's frequency axis."""
    return w + 2 * np.arctan(alpha * np.sin(w) / (1 - alpha * np.cos(w)))


def mcep_bases(order: int, n_bins: int = N_FFT // 2 + 1, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """(analysis [order+1, n_bins], synthesis [n_bins, order+1]): the analysis matrix takes a log-amplitude spectrum
    on the linear FFT bins to mel-cepstral coefficients (a least-squares cosine series on a uniform grid of the warped
    axis), the synthesis matrix takes them back to the log-amplitude envelope on the linear bins."""
    w = np.linspace(0, np.pi, n_bins)
    grid = np.linspace(0, np.pi, 4 * (order + 1))             # uniform in warped frequency
    lin_at_grid = warp(grid, -alpha)                           # the inverse warping: the linear frequencies there
    m = np.arange(order + 1)
    fit = np.cos(np.outer(grid, m))                            # [G, M+1]
    # linear interpolation of the spectrum at the grid's linear frequencies, as a matrix [G, n_bins]
    pos = lin_at_grid / np.pi * (n_bins - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, n_bins - 2)
    frac = pos - lo
    interp = np.zeros((len(grid), n_bins))
    interp[np.arange(len(grid)), lo] = 1 - frac
    interp[np.arange(len(grid)), lo + 1] += frac
    analysis = np.linalg.pinv(fit) @ interp
    synthesis = np.cos(np.outer(warp(w, alpha), m))
    return analysis, synthesis


def min_phase(log_amp: np.ndarray) -> np.ndarray:
    """Minimum-phase complex responses [F, n_bins] of log-amplitude envelopes [F, n_bins] (real-cepstrum folding)."""
    c = np.fft.irfft(log_amp, n=N_FFT, axis=-1)
    fold = np.zeros(N_FFT)
    fold[0], fold[1:N_FFT // 2], fold[N_FFT // 2] = 1, 2, 1
    return np.exp(np.fft.rfft(c * fold, axis=-1))


def f0_track(x: np.ndarray, n_frames: int) -> np.ndarray:
    """F0 in Hz per 5-ms frame, 0 where unvoiced (pyin at 10 ms, nearest-frame upsampled)."""
    f0, voiced, _ = librosa.pyin(x, fmin=F0_MIN, fmax=F0_MAX, sr=SR, frame_length=640, hop_length=2 * HOP,
                                 center=True)
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    idx = np.minimum(np.arange(n_frames) // 2, len(f0) - 1)
    return f0[idx]


def excitation(f0: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power excitation: a pulse train at F0 (one pulse per period, amplitude sqrt(period)) where voiced, white
    Gaussian noise where unvoiced (SPTK `excite`)."""
    f = np.repeat(f0, HOP)[:n]
    f = np.pad(f, (0, max(0, n - len(f))), mode='edge')
    e = rng.standard_normal(n)
    v = f > 0
    phase = np.cumsum(np.where(v, f / SR, 0.0))
    pulses = np.zeros(n)
    k = np.flatnonzero(np.diff(np.floor(phase), prepend=np.floor(phase[0])) > 0)
    pulses[k] = np.sqrt(SR / f[k])
    e[v] = pulses[v]
    return e


def sourcefilter(x: np.ndarray, order: int, seed: int = 0) -> np.ndarray:
    """16-kHz float in, 16-kHz float out of the same length and RMS."""
    x = x.astype(np.float32)
    win = librosa.filters.get_window('hann', WIN, fftbins=True)
    X = librosa.stft(x, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window='hann', center=True)
    n_frames = X.shape[1]
    power = np.abs(X.T) ** 2 / float(np.sum(win ** 2))          # [F, bins], per-sample power density
    log_amp = 0.5 * np.log(power + 1e-10)
    analysis, synthesis = mcep_bases(order)
    mc = log_amp @ analysis.T                                   # [F, order+1] mel-cepstrum
    env = min_phase(mc @ synthesis.T)                           # [F, bins] complex envelope response
    f0 = f0_track(x, n_frames)
    e = excitation(f0, len(x), np.random.default_rng(seed))
    E = librosa.stft(e.astype(np.float32), n_fft=N_FFT, hop_length=HOP, win_length=WIN, window='hann', center=True)
    y = librosa.istft(E * env.T, hop_length=HOP, win_length=WIN, n_fft=N_FFT, window='hann', center=True,
                      length=len(x))
    peak = float(np.abs(y).max()) or 1.0
    r_x, r_y = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), float(np.sqrt(np.mean(y ** 2)))
    return (y * (r_x / r_y if r_y > 1e-9 else 1.0) * min(1.0, 0.99 / (peak * r_x / max(r_y, 1e-9)))).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--manifest', default=str(SHARED_MANIFEST))
    ap.add_argument('--out', default=str(CACHE_DIR / 'sourcefilter'))
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--split-seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--limit', type=int, default=0, help='only the first N genuine files')
    ap.add_argument('--all', action='store_true',
                    help='every genuine file but the demo calls (train.py --all; each fold uses the rows of its own '
                         'training files, so this one manifest serves every fold)')
    ap.add_argument('--shard', default='', metavar='I/N',
                    help='rebuild only every N-th file from the I-th (0-based), to use several cores; a shard writes '
                         'no manifest: run once more without --shard to write it (finished files are kept)')
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_vocoder import fold_genuine
    if args.all:
        from devoxtrain.constants import DEMO_IDS
        from devoxtrain.data import read_corpus
        items = [it for it in read_corpus(f'manifest:{args.manifest}') if it.label == 'genuine' and it.id not in DEMO_IDS]
    else:
        items = fold_genuine(args.folds, args.fold, args.split_seed, args.manifest)
    items = sorted(items, key=lambda it: it.id)
    if args.limit:
        items = items[:args.limit]
    shard = None
    if args.shard:
        i, n = (int(v) for v in args.shard.split('/'))
        if not 0 <= i < n:
            ap.error(f'--shard {args.shard}: want I/N with 0 <= I < N')
        items, shard = items[i::n], args.shard
    resynthesise(items, Path(args.out), 'SPTK/MLSA-style mel-cepstral pulse/noise source-filter resynthesis',
                 lambda it: (f'sf_m{order_of(it)}', f'sourcefilter-m{order_of(it)}'),
                 lambda x, it: sourcefilter(x, order_of(it), int(hashlib.sha256(it.id.encode()).hexdigest()[:8], 16)),
                 every=50, write_manifest=shard is None)
    return 0


if __name__ == '__main__':
    sys.exit(main())
