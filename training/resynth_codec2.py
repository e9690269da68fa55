#!/usr/bin/env python3
"""Paired classic-vocoder fakes through Codec 2 (David Rowe's sinusoidal low-bitrate speech codec; Debian package
`codec2`, its `c2enc` / `c2dec` tools): every genuine file of the shared corpus down to 8 kHz, encoded and decoded
at 3200 bit/s (even files) or 1300 bit/s (odd files), back to 16 kHz and level-matched: the same speaker, words and
recording chain as the original, only the waveform is rebuilt by a parametric (harmonic sinusoidal) synthesiser.
A narrowband vocoder, like the channel the narrowband model serves.

    python3 training/resynth_codec2.py                 # -> training/cache/codec2/{audio/*.flac, manifest.csv}
    python3 training/resynth_codec2.py --limit 20      # a quick look

Rows are labelled synthetic, generator `codec2-3200` / `codec2-1300`, `pair_key` = the original's path, as
resynth_griffinlim.py's; train.py --paired-fakes training/cache/codec2/manifest.csv adds the rows whose original is
in the training split. Resumable: finished files are kept. The decoder's delay is measured per file by
cross-correlation and removed (it is a few 10-ms frames), so a pair is aligned.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from devoxtrain.constants import CACHE_DIR, SHARED_MANIFEST
from devoxtrain.data import Item, read_manifest
from devoxtrain.resample import resample
from devoxtrain.resynth import resynthesise

SR = 16000
MODES = ('3200', '1300')


def mode_of(it: Item) -> str:
    return MODES[int(hashlib.sha256(it.id.encode()).hexdigest(), 16) % len(MODES)]


def _envelope(x: np.ndarray, hop: int = 16) -> np.ndarray:
    """Log energy in 10-ms windows every 1 ms: a parametric codec keeps the envelope, not the waveform's phase."""
    e = np.convolve(x.astype(np.float64) ** 2, np.ones(160) / 160, 'same')[::hop]
    v = np.log(e + 1e-8)
    return v - v.mean()


def envelope_lag(x: np.ndarray, y: np.ndarray, max_lag_ms: int = 60) -> int:
    """The delay of y behind x in samples (0..max_lag_ms), from the envelopes' cross-correlation at 1-ms steps."""
    ex, ey = _envelope(x), _envelope(y)
    n = min(len(ex), len(ey)) - max_lag_ms
    if n <= 0:
        return 0
    scores = [float(np.dot(ex[:n], ey[k:k + n])) for k in range(max_lag_ms + 1)]
    return 16 * int(np.argmax(scores))


def codec2_roundtrip(x16: np.ndarray, mode: str) -> np.ndarray:
    """16-kHz float in, 16-kHz float out of the same length, aligned with the input and at its RMS."""
    x8 = resample(x16.astype(np.float32), SR, 8000)
    pcm = (np.clip(x8, -1, 1) * 32767).astype('<i2')
    with tempfile.TemporaryDirectory() as d:
        raw, bits, dec = Path(d, 'in.raw'), Path(d, 'in.c2'), Path(d, 'out.raw')
        raw.write_bytes(pcm.tobytes())
        subprocess.run(['c2enc', mode, str(raw), str(bits)], check=True, capture_output=True)
        subprocess.run(['c2dec', mode, str(bits), str(dec)], check=True, capture_output=True)
        y8 = np.frombuffer(dec.read_bytes(), '<i2').astype(np.float32) / 32768
    y = resample(y8, 8000, SR)
    lag = envelope_lag(x16, y)
    out = np.zeros_like(x16, dtype=np.float32)
    tail = y[lag:lag + len(x16)]
    out[:len(tail)] = tail
    r_x, r_y = float(np.sqrt(np.mean(x16 ** 2))), float(np.sqrt(np.mean(out ** 2)))
    return (out * (r_x / r_y if r_y > 1e-9 else 1.0)).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--manifest', default=str(SHARED_MANIFEST))
    ap.add_argument('--out', default=str(CACHE_DIR / 'codec2'))
    ap.add_argument('--limit', type=int, default=0, help='only the first N genuine files')
    args = ap.parse_args(argv)
    if not (shutil.which('c2enc') and shutil.which('c2dec')):
        raise SystemExit('c2enc / c2dec not found: apt-get install codec2')
    items = [it for it in read_manifest(args.manifest) if it.label == 'genuine']
    if args.limit:
        items = items[:args.limit]
    resynthesise(items, Path(args.out), 'Codec 2 resynthesis', lambda it: (f'c2_{mode_of(it)}', f'codec2-{mode_of(it)}'),
                 lambda x, it: codec2_roundtrip(x, mode_of(it)), every=100)
    return 0


if __name__ == '__main__':
    sys.exit(main())
