#!/usr/bin/env python3
"""Is model B really better than model A? A paired, file-level bootstrap of the EER difference on dev and test.

    python3 training/compare.py models/devox-phone /path/to/other-model          # shared data, split seed from A's card
    python3 training/compare.py A B --splits dev --boot 500 --json

Both models score the same windows (runtime windowing: 1 s every 250 ms, speech windows only) of the same files,
wideband and through G.711 mu-law. Each bootstrap resample draws whole files with replacement (stratified by label)
and recomputes both models' window and file EERs on it, so the interval of B - A accounts for the files being
shared (paired) and for windows of one file being correlated. An interval that contains 0 means this data cannot
tell the two models apart. Dev is where models are chosen; test is shown for the record.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from devoxtrain import onnx_io
from devoxtrain.cache import load_audio
from devoxtrain.constants import CAPS, DEFAULT_SEED, SHARED_MANIFEST
from devoxtrain.data import read_corpus
from devoxtrain.evaluation import CONDITIONS, score_files
from devoxtrain.log import log
from devoxtrain.metrics import eer, file_bootstrap
from devoxtrain.splits import assign_splits, split_config


def _session(model_dir: str):
    try:
        with open(os.path.join(model_dir, 'card.json')) as fh:
            card = json.load(fh)
    except (OSError, ValueError) as e:
        raise SystemExit(f'{model_dir}: not a model directory with a readable card.json ({e})')
    path = os.path.join(model_dir, card['file'])
    if onnx_io.sha256(path) != card['sha256']:
        raise SystemExit(f'{path} does not match the sha256 in its card')
    return card, onnx_io.session(path, threads=1)


def _split_key(card: dict) -> tuple:
    """What decides a model's split on the shared data: its seed and the pages held out for dev and test."""
    s = card.get('splits', {})
    return int(s.get('seed', DEFAULT_SEED)), tuple(s.get('dev_sources', ())), tuple(s.get('test_sources', ()))


def paired(y_item: np.ndarray, a: dict, b: dict, n_boot: int, seed: int) -> dict:
    """EERs of A and B and the bootstrap interval of B - A, window and file level. a/b: score_files() results."""
    sp = a['w_speech']
    wf = a['w_file'][sp]
    wy = y_item[wf]
    sa, sb = a['w_score'][sp], b['w_score'][sp]
    fa, fb = a['f_score'], b['f_score']
    # one bootstrap over files serves both levels: window rows of the drawn files, and the drawn files themselves
    rows_of = [np.nonzero(wf == i)[0] for i in range(len(y_item))]
    d_win, d_file = [], []
    for files in file_bootstrap(y_item, np.arange(len(y_item)), n_boot, seed):
        rows = np.concatenate([rows_of[i] for i in files])
        d_win.append(eer(wy[rows], sb[rows])[0] - eer(wy[rows], sa[rows])[0])
        d_file.append(eer(y_item[files], fb[files])[0] - eer(y_item[files], fa[files])[0])

    def block(ea: float, eb: float, d: list[float]) -> dict:
        lo, hi = np.nanpercentile(d, [2.5, 97.5])
        return {'a_pct': round(100 * ea, 2), 'b_pct': round(100 * eb, 2), 'b_minus_a_pct': round(100 * (eb - ea), 2),
                'ci95_pct': [round(100 * lo, 2), round(100 * hi, 2)],
                'p_b_better': round(float(np.mean(np.array(d) < 0)), 3)}

    return {'window': block(eer(wy, sa)[0], eer(wy, sb)[0], d_win),
            'file': block(eer(y_item, fa)[0], eer(y_item, fb)[0], d_file),
            'files': int(len(y_item)), 'windows': int(len(wy))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('a', help='baseline model directory')
    ap.add_argument('b', help='candidate model directory')
    ap.add_argument('--splits', default='dev,test')
    ap.add_argument('--boot', type=int, default=500)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--limit', type=int, default=0, help='at most N files per label and split (a quick look; 0 = all)')
    ap.add_argument('--json', action='store_true', help='print one JSON object instead of the table')
    args = ap.parse_args(argv)
    for s in args.splits.split(','):
        if s not in ('dev', 'test'):
            raise SystemExit(f'--splits: dev and/or test, not {s!r}')
    card_a, sess_a = _session(args.a)
    card_b, sess_b = _session(args.b)
    split_a, split_b = (_split_key(c) for c in (card_a, card_b))
    if split_a != split_b:
        raise SystemExit(f'{args.b} was trained on another split than {args.a} ({split_b} vs {split_a}): on '
                         f"A's dev and test it would score files it trained on")
    items = read_corpus(f'manifest:{SHARED_MANIFEST}')
    split = assign_splits(items, split_config(True, split_a[0]))
    out = {'a': f'{card_a["name"]} {card_a["version"]} ({args.a})', 'b': f'{card_b["name"]} {card_b["version"]} ({args.b})',
           'boot': args.boot, 'results': {}}
    for s in args.splits.split(','):
        its = split.items(items, s)
        if args.limit > 0:
            its = [it for y in (0, 1) for it in [i for i in its if i.y == y][:args.limit]]
        y_item = np.array([it.y for it in its])
        for cond in CONDITIONS:
            audio = (lambda it: load_audio(it.path, CAPS[s]))
            ra = score_files(sess_a, its, audio, cond)
            rb = score_files(sess_b, its, audio, cond)
            out['results'][f'{s}/{cond}'] = r = paired(y_item, ra, rb, args.boot, args.seed)
            if not args.json:
                log(f'{s:4} {cond:9}  window EER A {r["window"]["a_pct"]:5.2f}%  B {r["window"]["b_pct"]:5.2f}%  '
                    f'B-A {r["window"]["b_minus_a_pct"]:+5.2f} [{r["window"]["ci95_pct"][0]:+.2f}, '
                    f'{r["window"]["ci95_pct"][1]:+.2f}]   file EER A {r["file"]["a_pct"]:5.2f}%  '
                    f'B {r["file"]["b_pct"]:5.2f}%  B-A {r["file"]["b_minus_a_pct"]:+5.2f} '
                    f'[{r["file"]["ci95_pct"][0]:+.2f}, {r["file"]["ci95_pct"][1]:+.2f}]  ({r["files"]} files)')
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
