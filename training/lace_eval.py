#!/usr/bin/env python3
"""What a wideband model sees from an Opus 1.5 client: re-score cross-validation runs' held-out files through Opus at
12 / 16 kbps decoded by libopus 1.5 with LACE or NoLACE (scripts/neural-channel.ts, cache.LACE_COPIES), and write
each run's window scores next to its own, in the format of oof.json, so that compare_runs.py pairs two runs on them:

    python3 training/lace_eval.py training/runs/exp/wb-naive-f0 training/runs/exp/wb21-lace-f0 \\
        --channels lace16,nolace12
    python3 training/compare_runs.py training/runs/exp/wb-naive-f0 training/runs/exp/wb21-lace-f0 \\
        --oof oof_lace.json --channel nolace12

The held-out audio is the training cache's (30 s per file, as oof.json scored it); its LACE / NoLACE spans are added
to the cache's partial copies (cache._partial_copies: the held-out files are processed once, for every run of the
fold). Several runs of one fold are fine (each run gets its own RUN/oof_lace.json: its oof.json rows plus one row per
file and channel; channels scored by an earlier call are kept). `opus8` / `opus16` / `opus24` score the plain-decoded
ffmpeg copies the cache already holds: the same bitrates without the neural enhancement, for reference. Out-of-fold
for every run; nothing here trains.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from devoxtrain import cache as cachemod
from devoxtrain import onnx_io
from devoxtrain.constants import CACHE_DIR, CAPS, SHARED_MANIFEST
from devoxtrain.data import read_corpus
from devoxtrain.metrics import cut_windows, speech_windows

NAMES = [n for n, _, _ in cachemod.LACE_COPIES]
PLAIN = [f'opus{b}' for b in cachemod.OPUS_BITRATES]      # the full copies every cache has (ffmpeg libopus, plain decoding)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='CV run folders (each with oof.json)')
    ap.add_argument('--channels', default='lace16,nolace12',
                    help=f'comma-separated, of {NAMES}, or the plain-decoded references {PLAIN}')
    ap.add_argument('--cache-dir', default=str(CACHE_DIR))
    ap.add_argument('--out-name', default='oof_lace.json', help='written into each run folder')
    args = ap.parse_args(argv)
    chans = [c for c in args.channels.split(',') if c]
    bad = sorted(set(chans) - set(NAMES) - set(PLAIN))
    if bad:
        ap.error(f'unknown channels {bad}; known: {NAMES + PLAIN}')
    oofs = {r: json.loads((Path(r) / 'oof.json').read_text()) for r in args.runs}
    ids = sorted({f['id'] for o in oofs.values() for f in o['files']})
    t0 = time.time()
    items = read_corpus(f'manifest:{SHARED_MANIFEST}')       # the pooled cache of train.py (same key)
    store = cachemod.build({'pool': items}, args.cache_dir, {'pool': CAPS['train']}, copies_for=('pool',),
                           log=lambda m: print(m, flush=True))['pool']
    missing = [i for i in ids if i not in store.index]
    if missing:
        raise SystemExit(f'{len(missing)} held-out files are not in the cache (e.g. {missing[0]})')
    root = Path(args.cache_dir) / cachemod._key({'pool': items}, {'pool': CAPS['train']}, True)
    copies = tuple(c for c in cachemod.LACE_COPIES if c[0] in chans)
    cachemod._partial_copies(root, 'pool', store.index, ids, copies, log=lambda m: print(m, flush=True))
    arrays = {n: np.load(root / f'pool_{n}.npy', mmap_mode='r') for n in chans}
    print(f'held-out copies ready ({time.time() - t0:.0f} s)', flush=True)
    for run, oof in oofs.items():
        sess = onnx_io.session(str(Path(run) / 'model.onnx'))
        rows = [f for f in oof['files'] if f['channel'] in ('wideband', 'g711_ulaw')]
        out = Path(run) / args.out_name
        if out.exists():          # channels scored before and not asked for again are kept
            old = json.loads(out.read_text())
            rows += [f for f in old['files'] if f['channel'] not in ('wideband', 'g711_ulaw', *chans)]
            chans_all = sorted({f['channel'] for f in rows} - {'wideband', 'g711_ulaw'} | set(chans))
        else:
            chans_all = chans
        ref = [f for f in rows if f['channel'] == 'wideband']
        for c in chans:
            for f in ref:
                off, n = store.index[f['id']]
                win = cut_windows(arrays[c][off:off + n].astype(np.float32) / 32768.0)
                p, _ = onnx_io.score(sess, win)
                rows.append(dict(f, channel=c, scores=[round(float(v), 5) for v in p],
                                 speech=[bool(v) for v in speech_windows(win)]))
            print(f'{run}: {c} scored ({time.time() - t0:.0f} s)', flush=True)
        meta = dict(oof['meta'], lace_eval={'channels': chans_all, 'tool': 'training/lace_eval.py'})
        out.write_text(json.dumps({'meta': meta, 'files': rows}) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
