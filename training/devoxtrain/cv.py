"""Leave-source-out cross-validation folds and the out-of-fold scores that `cv_report.py` pools.

Fold assignment: every demo page (a `source` with both labels, or synthetic only) goes whole into one of N folds;
pages are dealt largest first (by minutes), each to the fold with the fewest minutes so far, ties broken by a
seeded hash, so folds are about equal in size and the assignment is reproducible. Genuine-only corpora
(`resemblyzer`, LibriSpeech) are split by speaker hash, 1/N per fold. `assign_splits` then makes the hold-out
strict: no speaker and no generator system of the test fold is trained on (their files elsewhere are dropped).
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .data import Item
from .evaluation import CONDITIONS
from .metrics import cut_windows, speech_windows
from .onnx_io import score
from .splits import SplitConfig
from .systems import family

SPEAKER_SPLIT = ('resemblyzer',)


def fold_sources(items: list[Item], n_folds: int, seed: int) -> list[list[str]]:
    """The demo pages of each fold (see the module docstring)."""
    if n_folds < 2:
        raise ValueError(f'cross-validation needs at least 2 folds, not {n_folds}')
    minutes: dict[str, float] = defaultdict(float)
    for it in items:
        if it.source not in SPEAKER_SPLIT:
            minutes[it.source] += it.duration_s / 60
    if len(minutes) < n_folds:
        raise ValueError(f'{len(minutes)} sources cannot fill {n_folds} folds')

    def tie(s: str) -> str:
        return hashlib.sha256(f'{seed}:{s}'.encode()).hexdigest()

    folds: list[list[str]] = [[] for _ in range(n_folds)]
    size = [0.0] * n_folds
    for src in sorted(minutes, key=lambda s: (-minutes[s], tie(s))):
        k = min(range(n_folds), key=lambda i: (size[i], tie(f'{src}:{i}')))
        folds[k].append(src)
        size[k] += minutes[src]
    return [sorted(f) for f in folds]


def cv_split_config(items: list[Item], n_folds: int, fold: int, seed: int, exclude_ids: tuple[str, ...]) -> SplitConfig:
    """Fold `fold` (0-based) is the test split; there is no dev split (fixed step count, the last weights)."""
    if not 0 <= fold < n_folds:
        raise ValueError(f'--fold must be in 0..{n_folds - 1}, not {fold}')
    folds = fold_sources(items, n_folds, seed)
    return SplitConfig(seed=seed, test_sources=tuple(folds[fold]), dev_sources=(),
                       speaker_split_sources=SPEAKER_SPLIT, test_frac=1.0 / n_folds, dev_frac=0.0,
                       exclude_ids=exclude_ids)


def all_split_config(seed: int, exclude_ids: tuple[str, ...]) -> SplitConfig:
    """Everything trains (the shipped model once the recipe is chosen); `exclude_ids` (the demo calls) never do."""
    return SplitConfig(seed=seed, test_sources=(), dev_sources=(), speaker_split_sources=(),
                       test_frac=0.0, dev_frac=0.0, exclude_ids=exclude_ids)


def write_oof(path: Path, sess, items: list[Item], audio, meta: dict) -> None:
    """Every runtime window score (1 s every 250 ms) of every test file, wideband and through G.711 mu-law, with
    its speech flag: what cv_report.py needs for window/file EERs, per-family tables and verdict calibration."""
    rows = []
    for cond, fn in CONDITIONS.items():
        for it in items:
            win = cut_windows(fn(audio(it)))
            p, _ = score(sess, win)
            rows.append({'id': it.id, 'label': it.label, 'source': it.source, 'family': family(it.generator),
                         'generator': it.generator, 'condition': (it.extra or {}).get('condition', ''),
                         'channel': cond, 'scores': [round(float(v), 5) for v in p],
                         'speech': [bool(v) for v in speech_windows(win)]})
    path.write_text(json.dumps({'meta': meta, 'files': rows}) + '\n')


def fold_summary(items: list[Item], n_folds: int, seed: int) -> list[dict]:
    return [{'fold': k, 'sources': s} for k, s in enumerate(fold_sources(items, n_folds, seed))]


def clone_config(cfg: SplitConfig) -> SplitConfig:
    return copy.deepcopy(cfg)


def speech_log_odds(scores: np.ndarray, speech: np.ndarray) -> float:
    """The verdict engine's file score: mean log-odds of the speech windows (all windows when none is speech)."""
    p = np.clip(scores.astype(np.float64), 1e-6, 1 - 1e-6)
    lo = np.log(p / (1 - p))
    sel = speech if speech.any() else np.ones(len(p), bool)
    return float(lo[sel].mean())
