"""The loop shared by the paired-fake generators (resynth_lyra.py, resynth_griffinlim.py): every genuine file of a
manifest through a resynthesis, written once as 16-bit FLAC (resumable: finished files are kept), and a manifest of
synthetic rows paired with their originals (`pair_key` = the original's id) for train.py --paired-fakes."""
from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .cache import load_audio
from .constants import SR
from .data import Item

MAX_SEC = 30.0     # the training cache keeps 30 s per file


def resynthesise(items: list[Item], out: Path, method: str, variant: Callable[[Item], tuple[str, str]],
                 synth: Callable[[np.ndarray, Item], np.ndarray], every: int = 50,
                 write_manifest: bool = True) -> Path:
    """variant(item) -> (file-name suffix, generator label); synth(x, item) -> y (same length, 16 kHz).
    `method` names the resynthesis in each row's licence note. Returns the manifest's path (written unless
    write_manifest is False: a shard of a parallel run leaves it to a final pass over every file)."""
    (out / 'audio').mkdir(parents=True, exist_ok=True)
    rows, t0, done_sec = [], time.time(), 0.0
    for k, it in enumerate(items):
        suffix, generator = variant(it)
        name = hashlib.sha256(it.id.encode()).hexdigest()[:16] + f'_{suffix}.flac'
        target = out / 'audio' / name
        if not target.exists():
            x = load_audio(it.path, MAX_SEC)
            y = synth(x, it)
            tmp = target.with_suffix('.tmp.flac')
            sf.write(tmp, np.clip(y, -1, 1), SR, subtype='PCM_16')
            tmp.rename(target)
            done_sec += len(x) / SR
        rows.append({'path': f'audio/{name}', 'label': 'synthetic', 'generator': generator,
                     'speaker': it.speaker, 'source': it.source, 'corpus': it.corpus, 'orig_sample_rate': str(SR),
                     'duration_s': f'{min(it.duration_s, MAX_SEC):.3f}', 'pair_key': it.id,
                     'license': f'derived ({method}) from: ' + it.license, 'condition': 'resynthesis',
                     'stored_codec': 'flac'})
        if (k + 1) % every == 0:
            el = time.time() - t0
            print(f'{k + 1}/{len(items)} files, {done_sec:.0f} s of audio in {el:.0f} s '
                  f'({el / max(done_sec, 1e-9):.2f} s per s)', flush=True)
    manifest = out / 'manifest.csv'
    if not write_manifest:
        return manifest
    with open(manifest, 'w', newline='') as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f'{len(rows)} paired fakes -> {manifest}', flush=True)
    return manifest
