#!/usr/bin/env python3
"""Paired neural-codec fakes: every genuine file of the shared corpus resynthesised through Lyra v2 (SoundStream
encoder -> residual VQ -> LyraGAN decoder, ../shared/models/lyra-v2, Apache-2.0) at 3.2, 6 or 9.2 kbps (one
bitrate per file, drawn with a seeded hash), aligned to the original by cross-correlation.

    python3 training/resynth_lyra.py                      # -> training/cache/lyra/{audio/*.flac, manifest.csv}
    python3 training/resynth_lyra.py --limit 20           # a quick look

Each output row is labelled synthetic with the original's speaker and source and `pair_key` = the original's
path, generator `lyra-v2-<kbps>kbps`: the same speaker, words, room and recording chain, only the generation
differs. train.py --paired-fakes training/cache/lyra/manifest.csv adds the rows whose original is in the training
split (never to a held-out split: the original's speaker would leak). Resumable: finished files are kept.
Measured cost: ~0.14 s of one CPU thread per second of audio (the README of lyra-v2).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path


import numpy as np

from devoxtrain.constants import CACHE_DIR, SHARED, SHARED_MANIFEST
from devoxtrain.data import read_manifest
from devoxtrain.resynth import resynthesise

LYRA = SHARED / 'models' / 'lyra-v2'
MANIFEST = SHARED_MANIFEST
QUANTIZERS = {3.2: 16, 6.0: 30, 9.2: 46}
FRAME = 320


class Lyra:
    """Fresh streaming interpreters per file (the encoder and decoder keep state between calls)."""

    def __init__(self, root: Path = LYRA):
        import tensorflow as tf   # heavy: only the generator needs it
        self.tf = tf
        self.root = root
        self.quant = tf.lite.Interpreter(model_path=str(root / 'quantizer.tflite'))
        self.q_enc = self.quant.get_signature_runner('encode')
        self.q_dec = self.quant.get_signature_runner('decode')

    def _runner(self, name: str):
        it = self.tf.lite.Interpreter(model_path=str(self.root / name), num_threads=1)
        return it.get_signature_runner('serving_default')

    def resynth(self, x: np.ndarray, kbps: float) -> np.ndarray:
        enc, dec = self._runner('soundstream_encoder.tflite'), self._runner('lyragan.tflite')
        nq = QUANTIZERS[kbps]
        n = (len(x) + FRAME - 1) // FRAME
        pad = np.zeros(n * FRAME + 2 * FRAME, np.float32)     # two extra frames flush the decoder's lag
        pad[:len(x)] = x
        out = np.zeros_like(pad)
        for i in range(n + 2):
            frame = pad[i * FRAME:(i + 1) * FRAME][None, :]
            f = next(iter(enc(input_audio=frame).values()))
            q = self.q_enc(input_frames=f, num_quantizers=np.int32(nq))
            idx = next(v for v in q.values() if v.ndim == 3).copy()
            idx[nq:] = -1
            d = next(iter(self.q_dec(encoding_indices=idx).values()))
            out[i * FRAME:(i + 1) * FRAME] = next(iter(dec(input_audio=d).values())).reshape(-1)
        lag = best_lag(x, out)
        return out[lag:lag + len(x)].astype(np.float32)


def best_lag(x: np.ndarray, y: np.ndarray, max_lag: int = 2 * FRAME) -> int:
    """The delay of y behind x (0..max_lag samples) that maximises their correlation over the first 10 s."""
    n = min(len(x), 160000)
    a = x[:n].astype(np.float64)
    best, arg = -np.inf, 0
    for lag in range(0, max_lag + 1):
        b = y[lag:lag + n].astype(np.float64)
        c = float(np.dot(a[:len(b)], b))
        if c > best:
            best, arg = c, lag
    return arg


def pick_kbps(key: str) -> float:
    h = int(hashlib.sha256(f'lyra:{key}'.encode()).hexdigest()[:8], 16)
    return sorted(QUANTIZERS)[h % len(QUANTIZERS)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--manifest', default=str(MANIFEST))
    ap.add_argument('--out', default=str(CACHE_DIR / 'lyra'))
    ap.add_argument('--limit', type=int, default=0, help='only the first N genuine files')
    args = ap.parse_args(argv)
    items = [it for it in read_manifest(args.manifest) if it.label == 'genuine']
    if args.limit:
        items = items[:args.limit]
    lyra = Lyra()
    resynthesise(items, Path(args.out), 'Lyra v2 resynthesis',
                 lambda it: (f'{pick_kbps(it.id):g}k', f'lyra-v2-{pick_kbps(it.id):g}kbps'),
                 lambda x, it: lyra.resynth(x, pick_kbps(it.id)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
