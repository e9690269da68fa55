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
import csv
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain.cache import load_audio
from devoxtrain.constants import CACHE_DIR, SHARED_MANIFEST
from devoxtrain.data import read_manifest

MAX_SEC = 30.0     # the training cache keeps 30 s per file
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
    out = Path(args.out)
    (out / 'audio').mkdir(parents=True, exist_ok=True)
    rows, t0, done_sec = [], time.time(), 0.0
    for k, it in enumerate(items):
        name = hashlib.sha256(it.id.encode()).hexdigest()[:16] + '_gl.flac'
        target = out / 'audio' / name
        if not target.exists():
            x = load_audio(it.path, MAX_SEC)
            y = resynth(x)
            tmp = target.with_suffix('.tmp.flac')
            sf.write(tmp, np.clip(y, -1, 1), SR, subtype='PCM_16')
            tmp.rename(target)
            done_sec += len(x) / SR
        rows.append({'path': f'audio/{name}', 'label': 'synthetic', 'generator': 'griffinlim-mel80',
                     'speaker': it.speaker, 'source': it.source, 'corpus': it.corpus, 'orig_sample_rate': '16000',
                     'duration_s': f'{min(it.duration_s, MAX_SEC):.3f}', 'pair_key': it.id,
                     'license': 'derived (Griffin-Lim mel resynthesis) from: ' + it.license,
                     'condition': 'resynthesis', 'stored_codec': 'flac'})
        if (k + 1) % 100 == 0:
            el = time.time() - t0
            print(f'{k + 1}/{len(items)} files, {done_sec:.0f} s of audio in {el:.0f} s', flush=True)
    with open(out / 'manifest.csv', 'w', newline='') as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f'{len(rows)} paired fakes -> {out / "manifest.csv"}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
