#!/usr/bin/env python3
"""Paired comparison of cross-validation runs of the same fold: which recipe is better on the same held-out files.

    python3 training/compare_runs.py training/runs/plain/cv-narrowband-f0 training/runs/exp/nb-naive-f0 [more runs]
        [--channel g711_ulaw] [--boot 1000] [--json OUT] [--by-family]
    python3 training/compare_runs.py RUN_A RUN_B --oof oof_lace.json --channel nolace12   # after lace_eval.py

The first run is the baseline. For each other run: window EER (every speech window of the held-out files) and file
EER (the verdict engine's smoothed call score, as cv_report.py computes it) of both runs, and the difference with a
95 % interval from a paired bootstrap over files (the same resampled files score both runs, so the interval is that
of the difference, much tighter than two separate intervals). A negative difference: the run is better.
--by-family: the same for each generator family (every held-out genuine file against that family's synthetic files,
as cv_report.py's per-family figures).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cv_report import load
from devoxtrain.metrics import eer


def _by_file(run: str, channel: str, name: str = 'oof.json') -> tuple[dict, dict]:
    rows, folds = load([run], name)
    return {r['id']: r for r in rows if r['channel'] == channel}, folds[0]


def _window_eer(files: list[dict]) -> float:
    y = np.concatenate([[f['y']] * sum(f['speech']) for f in files])
    s = np.concatenate([np.asarray(f['scores'])[np.asarray(f['speech'], bool)] for f in files])
    return eer(y, s)[0] * 100


def _file_eer(files: list[dict]) -> float:
    return eer(np.array([f['y'] for f in files]), np.array([f['file_score'] for f in files]))[0] * 100


def compare(base: dict, other: dict, boot: int, seed: int = 0) -> dict:
    ids = sorted(set(base) & set(other))
    if not ids:
        raise SystemExit('the runs share no held-out file: are they the same fold?')
    a = [base[i] for i in ids]
    b = [other[i] for i in ids]
    out = {'files': len(ids)}
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(ids), len(ids)) for _ in range(boot)]
    for name, fn in (('window_eer', _window_eer), ('file_eer', _file_eer)):
        ea, eb = fn(a), fn(b)
        diffs = np.array([fn([b[k] for k in d]) - fn([a[k] for k in d]) for d in draws])
        lo, hi = np.nanpercentile(diffs, [2.5, 97.5])   # nan: a draw without one class (a tiny family)
        out[name] = {'base': round(ea, 2), 'run': round(eb, 2), 'diff': round(eb - ea, 2),
                     'ci95': [round(float(lo), 2), round(float(hi), 2)]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='CV run folders (each with oof.json); the first is the baseline')
    ap.add_argument('--channel', default='g711_ulaw',
                    help='g711_ulaw or wideband (oof.json); with --oof oof_lace.json also a lace_eval.py channel')
    ap.add_argument('--oof', default='oof.json', help="the scores file in each run folder (lace_eval.py: oof_lace.json)")
    ap.add_argument('--boot', type=int, default=1000, help='bootstrap draws over files')
    ap.add_argument('--json', default=None, help='also write the figures here')
    ap.add_argument('--by-family', action='store_true', help='also per generator family (genuine vs that family)')
    args = ap.parse_args(argv)
    if len(args.runs) < 2:
        ap.error('give a baseline run and at least one run to compare')
    for r in args.runs:
        if not (Path(r) / args.oof).exists():
            ap.error(f'{r}: no {args.oof} (not a finished --folds run, or lace_eval.py not run on it)')
    base, meta = _by_file(args.runs[0], args.channel, args.oof)
    if not base:
        ap.error(f'{args.runs[0]}/{args.oof} has no {args.channel!r} scores')
    result = {'baseline': args.runs[0], 'channel': args.channel, 'fold': meta['fold'], 'runs': {}}
    print(f'baseline {args.runs[0]} (fold {meta["fold"]}, {args.channel})')
    for run in args.runs[1:]:
        other, m = _by_file(run, args.channel, args.oof)
        if m['fold'] != meta['fold'] or m['folds'] != meta['folds']:
            ap.error(f'{run} holds out fold {m["fold"]} of {m["folds"]}, the baseline fold {meta["fold"]} of {meta["folds"]}')
        c = compare(base, other, args.boot)
        result['runs'][run] = c
        for k in ('window_eer', 'file_eer'):
            v = c[k]
            print(f'  {run}: {k} {v["base"]:.2f} -> {v["run"]:.2f} %  diff {v["diff"]:+.2f} '
                  f'[{v["ci95"][0]:+.2f}, {v["ci95"][1]:+.2f}]  ({c["files"]} files)')
        if args.by_family:
            c['per_family'] = {}
            families = sorted({r['family'] for r in base.values() if r['y'] == 1})
            for fam in families:
                keep = {i for i, r in base.items() if r['y'] == 0 or r['family'] == fam}
                cf = compare({i: base[i] for i in keep}, {i: other[i] for i in keep if i in other}, args.boot)
                c['per_family'][fam] = cf
                n = sum(1 for i in keep if base[i]['y'] == 1)
                print(f'    {fam} ({n} synthetic files): ' + ', '.join(
                    f'{k} {cf[k]["base"]:.1f} -> {cf[k]["run"]:.1f} % diff {cf[k]["diff"]:+.1f} '
                    f'[{cf[k]["ci95"][0]:+.1f}, {cf[k]["ci95"][1]:+.1f}]' for k in ('window_eer', 'file_eer')))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
