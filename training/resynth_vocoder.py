#!/usr/bin/env python3
"""Paired neural-vocoder fakes: the genuine files of one CV fold's training split, each as its 80-band log-mel
spectrogram back through the small vocoders trained here (train_vocoder.py -> training/runs/vocoder/<name>/vocoder.pt):
the same speaker, words, room and recording chain as the original, only the waveform generator differs.

    python3 training/resynth_vocoder.py        # every vocoder under training/runs/vocoder, fold 0 of 3
    # -> training/cache/vocoder/<name>/{audio/*.flac, manifest.csv} and training/cache/vocoder/manifest.csv (all)

The whole thing from nothing, as the fold-0 experiment (experiments/nb21-vocoder.json) made it: four vocoders by
wall-clock budget (20 + 20 + 10 + 10 min; on a loaded machine fewer steps fit: train.json records them), then the
copies (~0.1-0.2 s of CPU per second of audio per vocoder):

    python3 training/train_vocoder.py --kind hifigan --size 128 --hop 256 --minutes 20 --name hifigan-c128-h256
    python3 training/train_vocoder.py --kind vocos --size 192 --hop 256 --minutes 20 --name vocos-d192-h256
    python3 training/train_vocoder.py --kind hifigan --size 64 --hop 160 --minutes 10 --seed 2 --name hifigan-c64-h160
    python3 training/train_vocoder.py --kind vocos --size 128 --hop 160 --minutes 10 --seed 2 --name vocos-d128-h160
    python3 training/resynth_vocoder.py

The GAN-refined vocoders (experiments/nb21-vocoder-gan.json) in their own folders, the copies in their own cache:

    python3 training/train_vocoder.py --gan --init training/runs/vocoder/hifigan-c128-h256/vocoder.pt --minutes 20 \
        --out training/runs/vocoder-gan --name hifigan-c128-h256-gan          # and hifigan-c64-h160 likewise
    python3 training/resynth_vocoder.py --vocoders training/runs/vocoder-gan --out training/cache/vocoder-gan

Only the fold's training genuine files are resynthesised (the vocoders never saw the files the fold holds out, and
train.py --paired-fakes keeps only fakes whose original trains anyway). Rows are labelled synthetic, generator
`vocoder-<name>`, `pair_key` = the original's path, as resynth_griffinlim.py's; each copy's RMS is matched to its
original's (peak kept under 0.99). Resumable: finished files are kept.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

from devoxtrain import vocoder as V
from devoxtrain.constants import CACHE_DIR, DEFAULT_SEED
from devoxtrain.resynth import resynthesise
from train_vocoder import fold_genuine

HERE = Path(__file__).resolve().parent


def level_match(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(y).max()) or 1.0
    return (y * min(1.0, 0.99 / peak) * (np.sqrt(np.mean(x ** 2)) / max(np.sqrt(np.mean(y ** 2)), 1e-9))
            ).astype(np.float32)


def combine(out: Path, names: list[str], file: str = 'manifest.csv') -> Path:
    """One manifest of every vocoder's rows (train.py --paired-fakes takes one file), paths relative to `out`."""
    rows = []
    for name in names:
        with open(out / name / 'manifest.csv', newline='') as fh:
            for r in csv.DictReader(fh):
                r['path'] = f'{name}/{r["path"]}'
                rows.append(r)
    path = out / file
    with open(path, 'w', newline='') as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f'{len(rows)} rows of {len(names)} vocoders -> {path}', flush=True)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--vocoders', default=str(HERE / 'runs' / 'vocoder'), help='folder of <name>/vocoder.pt')
    ap.add_argument('--only', action='append', default=[], metavar='NAME', help='just these vocoders (repeatable)')
    ap.add_argument('--out', default=str(CACHE_DIR / 'vocoder'))
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--split-seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--combined', default=None, metavar='FILE',
                    help='the combined manifest\'s name under --out (default manifest.csv; with --only: none unless given)')
    ap.add_argument('--limit', type=int, default=0, help='only the first N genuine files')
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpts = sorted(Path(args.vocoders).glob('*/vocoder.pt'))
    if args.only:
        ckpts = [c for c in ckpts if c.parent.name in args.only]
    if not ckpts:
        sys.exit(f'resynth_vocoder.py: no */vocoder.pt under {args.vocoders}: train one with train_vocoder.py first')
    items = sorted(fold_genuine(args.folds, args.fold, args.split_seed), key=lambda it: it.id)
    if args.limit:
        items = items[:args.limit]
    out = Path(args.out)
    names = []
    for ck in ckpts:
        net, mel, cfg = V.load(ck)
        name = ck.parent.name
        print(f'{name}: {cfg["kind"]} hop {cfg["hop"]} size {cfg["size"]}, {len(items)} files', flush=True)
        resynthesise(items, out / name, f'{name}, a {cfg["kind"]}-style neural vocoder trained on the fold\'s '
                     'training genuine speech', lambda it, n=name: ('voc', f'vocoder-{n}'),
                     lambda x, it, net=net, mel=mel: level_match(V.vocode(net, mel, x), x), every=100)
        names.append(name)
    if args.combined or not args.only:
        combine(out, names, args.combined or 'manifest.csv')
    return 0


if __name__ == '__main__':
    sys.exit(main())
