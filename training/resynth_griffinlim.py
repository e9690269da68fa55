#!/usr/bin/env python3
"""Paired classic-vocoder fakes: every genuine file of the shared corpus turned into an 80-band log-mel spectrogram
(the usual TTS acoustic-model target: 1024-point STFT, 256 hop at 16 kHz) and back to a waveform by Griffin-Lim
(librosa's mel inversion, 32 iterations): the same speaker, words, room and recording chain as the original, only
the waveform generation differs: phase rebuilt from magnitudes and the spectral detail the mel bands drop.

    python3 training/resynth_griffinlim.py                 # -> training/cache/griffinlim/{audio/*.flac, manifest.csv}
    python3 training/resynth_griffinlim.py --limit 20      # a quick look

Rows are labelled synthetic, generator `griffinlim-mel80`, `pair_key` = the original's path, as resynth_lyra.py's;
train.py --paired-fakes training/cache/griffinlim/manifest.csv adds the rows whose original is in the training split.
Resumable: finished files are kept. Needs librosa (pip install librosa).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from devoxtrain.constants import CACHE_DIR, SHARED_MANIFEST
from devoxtrain.data import read_manifest
from devoxtrain.resynth import resynthesise

SR = 16000


def resynth(x: np.ndarray) -> np.ndarray:
    import librosa   # only the generator needs it
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=1024, hop_length=256, n_mels=80, fmax=8000, power=1.0)
    y = librosa.feature.inverse.mel_to_audio(mel, sr=SR, n_fft=1024, hop_length=256, fmax=8000, power=1.0, n_iter=32,
                                             length=len(x))
    peak = float(np.abs(y).max()) or 1.0
    return (y * min(1.0, 0.99 / peak) * (np.sqrt(np.mean(x ** 2)) / max(np.sqrt(np.mean(y ** 2)), 1e-9))
            ).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--manifest', default=str(SHARED_MANIFEST))
    ap.add_argument('--out', default=str(CACHE_DIR / 'griffinlim'))
    ap.add_argument('--limit', type=int, default=0, help='only the first N genuine files')
    args = ap.parse_args(argv)
    items = [it for it in read_manifest(args.manifest) if it.label == 'genuine']
    if args.limit:
        items = items[:args.limit]
    resynthesise(items, Path(args.out), 'Griffin-Lim mel resynthesis', lambda it: ('gl', 'griffinlim-mel80'),
                 lambda x, it: resynth(x), every=100)
    return 0


if __name__ == '__main__':
    sys.exit(main())
