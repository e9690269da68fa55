#!/usr/bin/env python3
"""Make a shipped model folder from trained member models: ONE ONNX graph (shared front-end where the members read the
same features, each member's network, the mean of their logits; `devoxtrain/ensemble.py`), its card and README, with
the figures of the ensemble's own cross-validation (cv_report.py over ensemble_oof.py folds of the member recipes).

    python3 training/make_ensemble.py --members training/runs/v24/all-narrowband training/runs/v24/all-sourcefilter \\
        --cv training/runs/v24/cv-narrowband-ensemble.json --name devox-phone-nb --band narrowband \\
        --version 2.4.0+nb --out models/devox-phone-nb --overwrite

It refuses unless the graph scores what its members score: on real 1-s windows of the corpus (and noise), the
ensemble's prob_synthetic equals sigmoid(mean(logit(member model.onnx))) within --tolerance, and PyTorch equals
onnxruntime. `ship.py` runs it for every model in `recipes/shipped.json`.
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

from devoxtrain.constants import DEMO_IDS
from devoxtrain.ensemble import EnsembleNet, ensemble_macs, load_model, save_ensemble
from devoxtrain.model import DevoxNet
from devoxtrain.onnx_io import export, session, time_inference, torch_score
from devoxtrain.report import demo_scores, frontend_text, git_commit, model_section
from devoxtrain.report_cv import render_cv_readme
from reexport import real_windows, scores


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(q / (1 - q))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--members', nargs='+', required=True, help='trained model folders (model.pt, model.onnx, card.json)')
    ap.add_argument('--cv', required=True, help="cv_report.py output of the ensemble's out-of-fold scores")
    ap.add_argument('--name', required=True)
    ap.add_argument('--band', required=True, choices=('narrowband', 'wideband'))
    ap.add_argument('--version', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--overwrite', action='store_true')
    ap.add_argument('--tolerance', type=float, default=1e-4)
    args = ap.parse_args(argv)
    if len(args.members) < 2:
        ap.error('an ensemble needs at least two members')
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        ap.error(f'{out} exists: give --overwrite')
    members = [Path(m) for m in args.members]
    for m in members:
        for f in ('card.json', 'model.pt', 'model.onnx'):
            if not (m / f).exists():
                ap.error(f'{m / f} not found')
    nets = [load_model(m) for m in members]
    if not all(isinstance(n, DevoxNet) for n in nets):
        ap.error('members must be single models, not ensembles')
    net = EnsembleNet(nets).eval()
    cv = json.loads(Path(args.cv).read_text())
    cards = [json.loads((m / 'card.json').read_text()) for m in members]

    x = np.concatenate([real_windows(448), (0.1 * np.random.default_rng(1).standard_normal((64, 16000))).astype(np.float32)])
    expected = 1 / (1 + np.exp(-np.mean([_logit(scores(str(m / 'model.onnx'), x)) for m in members], axis=0)))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = str(Path(tmp) / 'model.onnx')
        export(net, onnx_path)
        got = scores(onnx_path, x)
        vs_members = float(np.abs(got - expected).max())
        parity = float(np.abs(got - torch_score(net, x)).max())
        print(f'max |ensemble - mean of members| {vs_members:.2e}, |onnxruntime - PyTorch| {parity:.2e} over {len(x)} '
              'windows', flush=True)
        if not (vs_members <= args.tolerance and parity <= args.tolerance):
            print(f'make_ensemble: the graph does not score as its members (tolerance {args.tolerance:g}); nothing '
                  'written', file=sys.stderr)
            return 1
        out.mkdir(parents=True, exist_ok=True)     # only now: a refused ensemble leaves no folder behind
        for f in out.iterdir():
            if f.is_file():
                f.unlink()
        shutil.copyfile(onnx_path, out / 'model.onnx')
    save_ensemble(net, out / 'model.pt')

    macs = ensemble_macs(net)
    thresholds = dict(cv['thresholds'])
    thresholds['window_level'] = cv.get('window_thresholds')
    thresholds['source'] = f'cross-validated out-of-fold file scores of the ensemble ({args.cv})'
    sess = session(str(out / 'model.onnx'))
    base = cards[0]
    widths = ' and '.join('-'.join(str(w) for w in n.config['widths']) for n in nets)
    card = {
        'name': args.name, 'version': args.version,
        'sha256': hashlib.sha256((out / 'model.onnx').read_bytes()).hexdigest(), 'file': 'model.onnx',
        'input': base['input'], 'output': base['output'], 'band': args.band,
        'embedding': {'name': 'embedding', 'dim': int(net.emb_dim)},
        'thresholds': {k: v for k, v in thresholds.items() if k in ('eer', 'suspicious', 'synthetic')},
        'calibration': {'split': 'cross-validation', 'source': thresholds['source'],
                        'window_level_thresholds': thresholds['window_level'],
                        'aggregation': "the verdict engine's smoothed call score of each out-of-fold file"},
        'frontend': _frontends(nets, net.front_of),
        'model_config': net.config,
        'architecture': f'ensemble of {len(nets)} plain CNNs ({widths} channels; each: stem + 4 blocks of '
                        'conv3x3-BN-ReLU, mean/std pooling, 64-d embedding, linear head), score = sigmoid of the mean '
                        'of their logits, embedding = their embeddings concatenated',
        'params': int(sum(p.numel() for p in net.parameters())),
        'flops': {'per_window_flops': int(macs['flops']), 'per_window_mflops': macs['mflops'], 'macs': int(macs['macs']),
                  'frontend_macs': int(macs['frontend_macs']), 'network_macs': int(macs['network_macs']),
                  'note': 'FLOPs = 2 x multiply-accumulates; a front-end shared by members counts once'},
        'inference': time_inference(str(out / 'model.onnx')),
        'data': base['data'], 'splits': base['splits'],
        'metrics': {'demo_samples': _demos(sess, thresholds['eer'], Path(base['data']['corpora'][0].split(':', 1)[1])),
                    'export_parity_max_abs': parity, 'ensemble_vs_members_max_abs': vs_members},
        'training': {'command': 'python3 training/make_ensemble.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                     'recipe': ' + '.join(c['training'].get('recipe') or '?' for c in cards),
                     'seed': base['training']['seed'], 'steps': base['training']['steps'],
                     'batch': base['training']['batch'],
                     'members': [{'dir': str(m), 'version': c['version'], 'sha256': c['sha256'],
                                  'recipe': c['training'].get('recipe'), 'command': c['training']['command'],
                                  'best_step': c['training'].get('best_step'), 'steps': c['training']['steps']}
                                 for m, c in zip(members, cards)]},
        'cross_validation': cv,
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'git_commit': git_commit(),
        'license_note': base.get('license_note'),
    }
    (out / 'card.json').write_text(json.dumps(card, indent=2) + '\n')
    recipes = [json.loads((m / 'recipe.json').read_text()) for m in members if (m / 'recipe.json').exists()]
    if len(recipes) == len(members):        # what each member was trained with, as train.py leaves it beside a model
        (out / 'recipe.json').write_text(json.dumps({'ensemble': recipes}, indent=2) + '\n')
    (out / 'README.md').write_text(render_cv_readme(card, model_section(card)))
    print(f'wrote {out}: {card["params"]:,} parameters, {macs["mflops"]} MFLOPs per window, '
          f'{card["inference"]["batch64"]["windows_per_s"]:.0f} windows/s at batch 64 (1 thread); demo: '
          + ', '.join(f'{v["label"]} {v["g711_ulaw"]["file_score"]} (G.711)' for v in card['metrics']['demo_samples'].values()),
          flush=True)
    return 0


def _demos(sess, eer_threshold: float, manifest: Path) -> dict:
    """The two demo calls (never trained on), scored as train.py reports them (report.demo_scores)."""
    out = {}
    for iid in DEMO_IDS:
        label = 'genuine' if '/genuine/' in iid else 'synthetic'
        out[iid] = {'label': label, 'split': 'demo_sample',
                    **demo_scores(sess, str(manifest.parent / iid), label, eer_threshold)}
    return out


def _frontends(nets: list[DevoxNet], front_of: list[int]) -> str:
    """The card's front-end line: one per distinct front-end, naming the members that read it."""
    if len(set(front_of)) == 1:
        return f'one front-end shared by all {len(nets)} members: {frontend_text(nets[0].config)}'
    return '; '.join(f'member {", ".join(str(i + 1) for i, j in enumerate(front_of) if j == k)}: '
                     f'{frontend_text(nets[k].config)}' for k in dict.fromkeys(front_of))


if __name__ == '__main__':
    sys.exit(main())
