#!/usr/bin/env python3
"""Make the shipped models (`npm run train`), as `recipes/shipped.json` lists them. For each model:

1. every member recipe (`recipes/<member>.json`) is cross-validated: leave-source-out folds, one model per fold
   (cross_validate.py -> RUNS/cv-<member>-f{k}/, RUNS/cv-<member>.json); a fold already trained with the same
   recipe is kept;
2. every member is trained on all data with a fixed step count (train.py --all -> RUNS/all-<member>/); a member
   already trained there with the same recipe is kept, so a recipe shared by two models trains once;
3. the ensemble's out-of-fold scores are its members' averaged per fold (ensemble_oof.py) and pooled on the model's
   channel (cv_report.py -> RUNS/cv-<model>-ensemble.json): its figures and verdict thresholds;
4. make_ensemble.py joins the all-data members into one graph in models/<dir>, with that report.

A model with one member is that member trained on all data with its own report's thresholds (train.py --all).

    python3 training/ship.py                          # both models, ~3 h on 2 cores from nothing
    python3 training/ship.py --only narrowband [--runs training/runs/v22]

Generated paired fakes (outside git) are made first when a member recipe needs them (FAKES below).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from cross_validate import same_recipe

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHIPPED = HERE / 'recipes' / 'shipped.json'
# Generated paired fakes (outside git) by the folder their manifest lives in: the command that makes them, every
# genuine file but the demo calls, so one manifest serves every fold and the all-data model.
FAKES = {'lyra': ['resynth_lyra.py'], 'sourcefilter': ['resynth_sourcefilter.py', '--all']}


def run(cmd: list[str]) -> None:
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def make_fakes(recipe: Path) -> None:
    fakes = json.loads(recipe.read_text()).get('paired_fakes')
    if fakes and not (REPO / fakes).exists():     # generated audio lives outside git: make it first
        maker = FAKES.get((REPO / fakes).parent.name)
        if not maker:
            raise SystemExit(f'{recipe}: no command known to make {fakes} (FAKES in training/ship.py)')
        run([sys.executable, str(HERE / maker[0]), *maker[1:], '--out', str((REPO / fakes).parent)])


def member(name: str, channel: str, runs: Path, folds: int, version: str) -> Path:
    """Cross-validate and train one member recipe on all data; returns its all-data run folder."""
    recipe = Path('training/recipes') / f'{name}.json'          # relative to the repository: cards quote it
    make_fakes(REPO / recipe)
    run([sys.executable, str(HERE / 'cross_validate.py'), '--recipe', str(recipe), '--folds', str(folds),
         '--channel', channel, '--runs', str(runs)])
    out = runs / f'all-{name}'
    if (out / 'model.onnx').exists() and same_recipe(out / 'recipe.json', REPO / recipe):
        print(f'{out}: trained on all data with this recipe already', flush=True)
        return out
    run([sys.executable, 'training/train.py', '--recipe', str(recipe), '--all', '--thresholds-from',
         str(runs / f'cv-{name}.json'), '--version', version, '--out', str(out), '--overwrite'])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shipped = {k: v for k, v in json.loads(SHIPPED.read_text()).items() if not k.startswith('_')}
    ap.add_argument('--version', default=None, help="default: each model's own \"version\" in recipes/shipped.json")
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--only', choices=sorted(shipped), action='append')
    ap.add_argument('--runs', default=str(HERE / 'runs' / 'plain'))
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    for band in args.only or sorted(shipped):
        spec = shipped[band]
        version = f'{args.version or spec["version"]}+{band[0]}b'
        alls = [member(m, spec['channel'], runs, args.folds, f'{version}-{m}') for m in spec['members']]
        if len(alls) == 1:
            run([sys.executable, 'training/train.py', '--recipe', f'training/recipes/{spec["members"][0]}.json',
                 '--all', '--thresholds-from', str(runs / f'cv-{spec["members"][0]}.json'), '--version', version,
                 '--out', spec['out'], '--overwrite'])
            continue
        tag = f'{band}-ensemble'
        fold_dirs = []
        for k in range(args.folds):
            fold_dirs.append(str(runs / f'cv-{tag}-f{k}'))
            run([sys.executable, str(HERE / 'ensemble_oof.py'), '--out', fold_dirs[-1],
                 *[str(runs / f'cv-{m}-f{k}') for m in spec['members']]])
        run([sys.executable, str(HERE / 'cv_report.py'), *fold_dirs, '--channel', spec['channel'],
             '--out', str(runs / f'cv-{tag}.json')])
        run([sys.executable, str(HERE / 'make_ensemble.py'), '--members', *map(str, alls), '--cv',
             str(runs / f'cv-{tag}.json'), '--name', spec['name'], '--band', band, '--version', version,
             '--out', spec['out'], '--overwrite'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
