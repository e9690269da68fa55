#!/usr/bin/env python3
"""Make the shipped models (`npm run train`): for each shipped recipe, cross-validate it (leave-source-out folds,
cross_validate.py -> training/runs/plain/cv-<recipe>.json), then train it on all data with that report's
thresholds and figures (train.py --all --thresholds-from ...), into models/<dir>.

    python3 training/ship.py                          # both models (narrowband, wideband), ~2-3 h on 2 cores
    python3 training/ship.py --only narrowband

Each recipe carries the version of the model it makes (`"version"`, e.g. 2.1.0 -> 2.1.0+nb); --version overrides it
for every recipe.

Shipped recipes (training/recipes/*.json) and where they go:
  narrowband.json -> models/devox-phone-nb (G.711 / 8 kHz streams), thresholds calibrated through G.711 mu-law
  wideband.json   -> models/devox-phone    (Opus / 16 kHz streams, and every stream without a narrowband model),
                     thresholds calibrated wideband
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHIPPED = {'narrowband': ('models/devox-phone-nb', 'g711_ulaw'), 'wideband': ('models/devox-phone', 'wideband')}
# Generated paired fakes (outside git) by the folder their manifest lives in: the command that makes them, every
# genuine file but the demo calls, so one manifest serves every fold and the all-data model.
FAKES = {'lyra': ['resynth_lyra.py'], 'sourcefilter': ['resynth_sourcefilter.py', '--all']}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--version', default=None, help="default: each recipe's own \"version\"")
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--only', choices=sorted(SHIPPED), action='append')
    ap.add_argument('--runs', default=str(HERE / 'runs' / 'plain'))
    args = ap.parse_args(argv)
    for name in args.only or sorted(SHIPPED):
        out, channel = SHIPPED[name]
        recipe = f'training/recipes/{name}.json'
        spec = json.loads((REPO / recipe).read_text())
        version = args.version or spec.get('version')
        if not version:
            ap.error(f'{recipe} has no "version": give --version')
        fakes = spec.get('paired_fakes')
        if fakes and not (REPO / fakes).exists():     # generated audio lives outside git: make it first
            maker = FAKES.get((REPO / fakes).parent.name)
            if not maker:
                ap.error(f'{recipe}: no command known to make {fakes} (FAKES in training/ship.py)')
            subprocess.run([sys.executable, str(HERE / maker[0]), *maker[1:], '--out', str((REPO / fakes).parent)],
                           check=True, cwd=REPO)
        subprocess.run([sys.executable, str(HERE / 'cross_validate.py'), '--recipe', str(REPO / recipe),
                        '--folds', str(args.folds), '--channel', channel, '--runs', args.runs], check=True, cwd=REPO)
        subprocess.run([sys.executable, 'training/train.py', '--recipe', recipe, '--all', '--thresholds-from',
                        str(Path(args.runs) / f'cv-{name}.json'), '--version', f'{version}+{name[0]}b', '--out', out,
                        '--overwrite'], check=True, cwd=REPO)
    return 0


if __name__ == '__main__':
    sys.exit(main())
