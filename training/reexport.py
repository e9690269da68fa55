#!/usr/bin/env python3
"""Re-export a trained model's weights (model.pt) into model.onnx with the current graph of devoxtrain/model.py, and
bring its card up to date: the same function, a faster graph, no retraining.

    python3 training/reexport.py models/devox-phone-nb [--tolerance 1e-4]

It refuses unless the new graph scores the same as the model.onnx it replaces, on real 1-s windows of the shared corpus
(from the training cache) and on noise: max |new - old| of prob_synthetic within --tolerance. Then it writes
model.onnx, updates the card's sha256, FLOPs, front-end text and inference timing, records the re-export in
`card.reexported`, and re-renders README.md. Used when the front-end's graph changed but not its function (2.1:
the narrowband low-pass + decimation + STFT became one composed strided conv).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from devoxtrain.constants import CACHE_DIR, WINDOW
from devoxtrain.model import build, count_macs
from devoxtrain.onnx_io import export, session, time_inference
from devoxtrain.report import frontend_text, model_section


def real_windows(n: int, seed: int = 0) -> np.ndarray:
    """n random 1-s windows of decoded corpus audio from the training cache (noise if there is no cache)."""
    rng = np.random.default_rng(seed)
    pools = sorted(Path(CACHE_DIR).glob('*/pool_clean.npy'))
    if not pools:
        return (0.1 * rng.standard_normal((n, WINDOW))).astype(np.float32)
    pool = np.load(pools[0], mmap_mode='r')
    starts = rng.integers(0, len(pool) - WINDOW, n)
    return np.stack([np.asarray(pool[s:s + WINDOW], np.float32) / 32768.0 for s in starts])


def scores(path: str, x: np.ndarray) -> np.ndarray:
    sess = session(path, threads=1)
    return np.concatenate([sess.run(['prob_synthetic'], {'audio': x[i:i + 64]})[0].ravel() for i in range(0, len(x), 64)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model_dir')
    ap.add_argument('--tolerance', type=float, default=1e-4)
    args = ap.parse_args(argv)
    d = Path(args.model_dir)
    for f in ('card.json', 'model.pt', 'model.onnx'):
        if not (d / f).exists():
            ap.error(f'{d / f} not found')
    card = json.loads((d / 'card.json').read_text())
    ckpt = torch.load(d / 'model.pt', map_location='cpu', weights_only=False)
    if 'ensemble' in ckpt:
        ap.error(f'{d} is an ensemble: make it again from its members with training/make_ensemble.py '
                 '(card.json training.members)')
    net = build(ckpt['config'])
    net.load_state_dict(ckpt['state_dict'])
    net.eval()
    x = np.concatenate([real_windows(448), (0.1 * np.random.default_rng(1).standard_normal((64, WINDOW))).astype(np.float32)])
    with tempfile.TemporaryDirectory() as tmp:
        new = str(Path(tmp) / 'model.onnx')
        export(net, new)
        diff = float(np.abs(scores(new, x) - scores(str(d / 'model.onnx'), x)).max())
        print(f'max |new - old| prob_synthetic over {len(x)} windows: {diff:.2e}', flush=True)
        if not diff <= args.tolerance:
            print(f'reexport: the new graph does not score as the old one ({diff:.2e} > {args.tolerance:g}); '
                  'model.onnx left as it was', file=sys.stderr)
            return 1
        shutil.copyfile(new, d / 'model.onnx')
    macs = count_macs(net)
    card['sha256'] = hashlib.sha256((d / 'model.onnx').read_bytes()).hexdigest()
    card['frontend'] = frontend_text(net.config)
    card['flops'] = {'per_window_flops': int(macs['flops']), 'per_window_mflops': macs['mflops'], 'macs': int(macs['macs']),
                     'frontend_macs': int(macs['frontend_macs']), 'network_macs': int(macs['network_macs']),
                     'note': 'FLOPs = 2 x multiply-accumulates'}
    card['inference'] = time_inference(str(d / 'model.onnx'))
    card['reexported'] = {'date': datetime.now(timezone.utc).isoformat(timespec='seconds'),
                          'why': 'same weights, same function, current graph of training/devoxtrain/model.py',
                          'max_abs_score_diff': diff, 'windows_checked': int(len(x))}
    (d / 'card.json').write_text(json.dumps(card, indent=2) + '\n')
    if card.get('cross_validation') is not None:
        from devoxtrain.report_cv import render_cv_readme
        (d / 'README.md').write_text(render_cv_readme(card, model_section(card)))
    print(f'wrote {d / "model.onnx"} (sha256 {card["sha256"][:12]}), card.json and README.md; '
          f'{card["inference"]["batch64"]["windows_per_s"]:.0f} windows/s at batch 64 (1 thread)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
