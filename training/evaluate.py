#!/usr/bin/env python3
"""Evaluate a trained model directory on the held-out test split (the same evaluation train.py runs at its end).

    python3 training/evaluate.py                         # models/devox-phone, shared data, print the tables
    python3 training/evaluate.py --write                 # also refresh metrics/inference in card.json and README.md
    python3 training/evaluate.py --model DIR --corpus meta:ITW/meta.csv   # another corpus (hash split, seed from card)

Reports window-level and file-level EER, per source and per generator family, wideband and through G.711 mu-law at
8 kHz (upsampled back to 16 kHz), genuine-score distribution per source and a source probe on the embedding, the
partial edits and the demo samples, and onnxruntime CPU inference cost (batch 1 and 64). Thresholds are read from
the card (they were calibrated on dev at training time); the sha256 of model.onnx is checked first.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

from devoxtrain import onnx_io
from devoxtrain.cache import load_audio
from devoxtrain.constants import CAPS, DEFAULT_MODEL_DIR, DEFAULT_SEED, DEMO_IDS, SHARED_MANIFEST
from devoxtrain.data import read_corpus
from devoxtrain.log import log
from devoxtrain.report import eval_table, render_readme, run_evaluation, source_table, strip_scores
from devoxtrain.splits import assign_splits, split_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default=str(DEFAULT_MODEL_DIR))
    ap.add_argument('--corpus', action='append')
    ap.add_argument('--write', action='store_true', help='update card.json metrics/inference and README.md')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--readme-only', action='store_true', help='only re-render README.md from card.json')
    args = ap.parse_args(argv)
    card_path = os.path.join(args.model, 'card.json')
    with open(card_path) as fh:
        card = json.load(fh)
    if args.readme_only:
        with open(os.path.join(args.model, 'README.md'), 'w') as fh:
            fh.write(render_readme(card))
        return 0
    onnx_path = os.path.join(args.model, card['file'])
    if onnx_io.sha256(onnx_path) != card['sha256']:
        raise SystemExit(f'{onnx_path} does not match the sha256 in {card_path}')
    specs = args.corpus or [f'manifest:{SHARED_MANIFEST}']
    items = [it for spec in specs for it in read_corpus(spec)]
    seed = int(card.get('splits', {}).get('seed', DEFAULT_SEED))
    shared = specs == [f'manifest:{SHARED_MANIFEST}']
    split = assign_splits(items, split_config(shared, seed))
    test_items = split.items(items, 'test')
    sess = onnx_io.session(onnx_path, threads=args.threads)
    t0 = time.time()
    ev, partial, demo, codecs = run_evaluation(sess, items, split, test_items, lambda it: load_audio(it.path, CAPS['test']),
                                       card['thresholds']['eer'], DEMO_IDS if shared else (), False, log)
    timing = onnx_io.time_inference(onnx_path, reps=50)
    new = copy.deepcopy(card)
    new['metrics']['test'] = strip_scores(ev)
    new['metrics']['partial_edits'] = partial
    new['metrics']['codec_shift'] = codecs
    new['metrics']['demo_samples'] = demo
    new['inference'] = timing
    print(eval_table(new))
    print()
    print(source_table(new))
    print(json.dumps({'partial_edits': partial, 'codec_shift': codecs, 'demo_samples': demo, 'inference': timing,
                      'eval_wall_s': round(time.time() - t0, 1)}, indent=1))
    if args.write:
        new['training']['wall_time_s']['evaluation'] = round(time.time() - t0, 1)
        with open(card_path, 'w') as fh:
            json.dump(new, fh, indent=2)
            fh.write('\n')
        with open(os.path.join(args.model, 'README.md'), 'w') as fh:
            fh.write(render_readme(new))
        log(f'updated {card_path} and README.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
