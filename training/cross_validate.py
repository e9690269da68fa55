#!/usr/bin/env python3
"""Cross-validate one recipe: train.py --folds N --fold K for every K (one after the other), then cv_report.py.

    python3 training/cross_validate.py --recipe training/recipes/narrowband.json --folds 3 --channel g711_ulaw
    # -> training/runs/cv-narrowband-f{0,1,2}/ and training/runs/cv-narrowband.json

A fold whose run directory already holds oof.json is not trained again (rerun with --fresh).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def same_recipe(a: Path, b: Path) -> bool:
    """Two recipe files train the same way (their `_` comments and the `version` they ship as aside)."""
    if not a.exists():
        return False
    ra, rb = (json.loads(x.read_text()) for x in (a, b))
    def opts(r: dict) -> dict:
        return {k: v for k, v in r.items() if not k.startswith('_') and k != 'version'}
    return opts(ra) == opts(rb)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--recipe', required=True)
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--channel', default='g711_ulaw', choices=('wideband', 'g711_ulaw'),
                    help='the channel that calibrates the thresholds (the band the model serves)')
    ap.add_argument('--runs', default=str(HERE / 'runs'))
    ap.add_argument('--fresh', action='store_true')
    ap.add_argument('extra', nargs=argparse.REMAINDER, help='after --: more train.py options')
    args = ap.parse_args(argv)
    tag = Path(args.recipe).stem
    dirs = []
    for k in range(args.folds):
        out = Path(args.runs) / f'cv-{tag}-f{k}'
        dirs.append(str(out))
        if (out / 'oof.json').exists() and not args.fresh:
            if same_recipe(out / 'recipe.json', Path(args.recipe)):
                print(f'fold {k}: {out} done already', flush=True)
                continue
            print(f'fold {k}: {out} was trained with another recipe: training it again', flush=True)
        extra = [a for a in args.extra if a != '--']
        cmd = [sys.executable, str(HERE / 'train.py'), '--recipe', args.recipe, '--folds', str(args.folds),
               '--fold', str(k), '--out', str(out), '--version', f'cv-f{k}', '--overwrite', *extra]
        print('+', ' '.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return subprocess.run([sys.executable, str(HERE / 'cv_report.py'), *dirs, '--channel', args.channel,
                           '--out', str(Path(args.runs) / f'cv-{tag}.json')]).returncode


if __name__ == '__main__':
    sys.exit(main())
