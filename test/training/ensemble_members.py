#!/usr/bin/env python3
"""Test helper: three small untrained member models for training/make_ensemble.py, in OUT/{nb-a,nb-b,wb}/ (model.pt,
model.onnx, card.json in train.py's layout: two with the narrowband front-end, one wideband) and OUT/cv.json (the
shipped narrowband card's cross-validation report, as cv_report.py writes it).

    python3 test/training/ensemble_members.py OUT
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from devoxtrain.model import DevoxNet
from devoxtrain.onnx_io import export

REPO = Path(__file__).resolve().parents[2]
BASE = {'widths': (8, 12, 16, 24, 32), 'emb_dim': 16, 'norm': 'global', 'backbone': 'plain', 'n_fft': 400,
        'stem_stride': 2, 'shortcut': 'conv'}
MEMBERS = {'nb-a': {'n_mels': 48, 'fmax': 4000.0, 'decimate': 2}, 'nb-b': {'n_mels': 48, 'fmax': 4000.0, 'decimate': 2},
           'wb': {'n_mels': 64, 'fmax': 8000.0}}


def main(out: Path) -> int:
    template = json.loads((REPO / 'models/devox-phone-nb/card.json').read_text())
    for seed, (name, extra) in enumerate(MEMBERS.items()):
        torch.manual_seed(seed)
        net = DevoxNet(**BASE, **extra).eval()
        for m in net.modules():                     # non-trivial BatchNorm statistics: not an identity-ish network
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        export(net, str(d / 'model.onnx'))
        torch.save({'config': net.config, 'state_dict': net.state_dict()}, d / 'model.pt')
        card = {k: template[k] for k in ('input', 'output', 'data', 'splits', 'license_note')}
        card.update(name=f'member-{name}', version=f'0.0.{seed}', band='narrowband' if name.startswith('nb') else 'wideband',
                    sha256=hashlib.sha256((d / 'model.onnx').read_bytes()).hexdigest(), file='model.onnx',
                    embedding={'name': 'embedding', 'dim': net.emb_dim},
                    training={'command': f'untrained test member {name}', 'recipe': f'test/{name}.json', 'seed': seed,
                              'steps': 0, 'batch': 1, 'best_step': 0})
        (d / 'card.json').write_text(json.dumps(card, indent=2) + '\n')
    (out / 'cv.json').write_text(json.dumps(template['cross_validation']) + '\n')
    print(json.dumps({'members': sorted(MEMBERS)}))
    return 0


if __name__ == '__main__':
    sys.exit(main(Path(sys.argv[1])))
