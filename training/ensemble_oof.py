#!/usr/bin/env python3
"""What an ensemble would buy: average the window scores (in log-odds) of several CV runs of the SAME fold into a
new run folder whose oof.json compare_runs.py and cv_report.py read like any other run.

    python3 training/ensemble_oof.py --out training/runs/exp/ens-f0 RUN_A RUN_B [RUN_C ...]
    python3 training/compare_runs.py RUN_A training/runs/exp/ens-f0

Only files every run scored are kept (two runs with different split seeds share most of their held-out files);
a file's windows are cut to the shortest run's count. Nothing is trained: an ensemble of N models costs N times
the detector's compute per window, which the runtime's 400-stream budget has to pay (docs/model.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _logit(p: list[float]) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='CV run folders of one fold (each with oof.json)')
    ap.add_argument('--out', required=True, help='the new run folder (oof.json and recipe.json are written)')
    args = ap.parse_args(argv)
    if len(args.runs) < 2:
        ap.error('an ensemble needs at least two runs')
    oofs = [json.loads((Path(r) / 'oof.json').read_text()) for r in args.runs]
    folds = {(o['meta']['folds'], o['meta']['fold']) for o in oofs}
    if len(folds) != 1:
        raise SystemExit(f'the runs hold out different folds: {sorted(folds)}')
    by = [{(f['id'], f['channel']): f for f in o['files']} for o in oofs]
    keys = sorted(set.intersection(*(set(b) for b in by)))
    if not keys:
        raise SystemExit('the runs share no held-out file')
    files = []
    for k in keys:
        rows = [b[k] for b in by]
        n = min(len(r['scores']) for r in rows)
        z = np.mean([_logit(r['scores'][:n]) for r in rows], axis=0)
        f = dict(rows[0])
        f['scores'] = [round(float(v), 6) for v in 1 / (1 + np.exp(-z))]
        f['speech'] = rows[0]['speech'][:n]
        files.append(f)
    meta = dict(oofs[0]['meta'])
    meta['recipe'] = 'ensemble of ' + ', '.join(args.runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'oof.json').write_text(json.dumps({'meta': meta, 'files': files}))
    (out / 'recipe.json').write_text(json.dumps({'ensemble': args.runs}, indent=2) + '\n')
    print(f'{len(files)} file x channel rows from {len(args.runs)} runs -> {out / "oof.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
