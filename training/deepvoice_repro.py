#!/usr/bin/env python3
"""Reproduce the 1-s-window CNN-BiLSTM on DEEP-VOICE (DATASET-balanced.csv, 26 features per window) with a random
split and with splits that keep contiguous blocks of rows together, to measure how much of the published ~100%
is leakage between windows of the same recordings.

    python3 training/deepvoice_repro.py [--csv ../shared/data/deep-voice/DATASET-balanced.csv] [--out docs/deep-voice-repro.json]

A contiguous block of rows would approximate "windows of one recording" if the rows were in recording order. The
script measures whether they are (`order_check`: how far, in rows, each window's nearest neighbour of the same class
lies, against what a random order gives) and, with a 1-nearest-neighbour classifier, whether test windows have
near-twins in training.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


import numpy as np
import torch
from torch import nn

from devoxtrain.constants import REPO, SHARED
from devoxtrain.metrics import eer



class CnnBiLstm(nn.Module):
    """Conv1d over the 26-feature vector as a sequence, then a BiLSTM, then dense layers (the literature's shape)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv1d(32, 64, 3, padding=1),
                                  nn.ReLU(), nn.MaxPool1d(2))
        self.lstm = nn.LSTM(64, 32, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 1))

    def forward(self, x):                       # [B, 26]
        z = self.conv(x.unsqueeze(1)).transpose(1, 2)   # [B, 13, 64]
        _, (h, _) = self.lstm(z)
        return self.head(torch.cat([h[0], h[1]], dim=1)).squeeze(1)


def load(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import csv
    with open(path, newline='') as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    X = np.array([[float(v) for v in r[:-1]] for r in body], dtype=np.float32)
    y = np.array([1 if r[-1].strip().upper() == 'FAKE' else 0 for r in body], dtype=np.int64)
    return X, y, header[:-1]


def fit_eval(X, y, tr, te, seed, epochs) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    Xtr = torch.from_numpy((X[tr] - mu) / sd)
    ytr = torch.from_numpy(y[tr].astype(np.float32))
    Xte = torch.from_numpy((X[te] - mu) / sd)
    net = CnnBiLstm()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        net.train()
        perm = rng.permutation(len(tr))
        for i in range(0, len(perm), 128):
            b = perm[i:i + 128]
            loss = lossf(net(Xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        p = torch.sigmoid(net(Xte)).numpy()
    e, _ = eer(y[te], p)
    return {'accuracy': float(np.mean((p >= 0.5) == y[te])), 'eer': e, 'n_test': int(len(te))}


def one_nn(X, y, tr, te) -> float:
    """Accuracy of a 1-nearest-neighbour classifier: high only if test windows have near-copies in train."""
    from sklearn.neighbors import KNeighborsClassifier
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    knn = KNeighborsClassifier(n_neighbors=1).fit((X[tr] - mu) / sd, y[tr])
    return float(np.mean(knn.predict((X[te] - mu) / sd) == y[te]))


def order_check(X: np.ndarray, y: np.ndarray) -> dict:
    """Are consecutive rows consecutive windows? Row distance to each window's nearest same-class neighbour."""
    from sklearn.neighbors import NearestNeighbors
    offs = []
    for lab in (0, 1):
        idx = np.flatnonzero(y == lab)
        Z = (X[idx] - X[idx].mean(0)) / (X[idx].std(0) + 1e-6)
        _, nn = NearestNeighbors(n_neighbors=2).fit(Z).kneighbors(Z)
        offs.append(np.abs(nn[:, 1] - np.arange(len(idx))))
        n_class = len(idx)
    off = np.concatenate(offs)
    return {'median_nn_row_offset': int(np.median(off)),
            'median_offset_if_random': int(round((1 - 1 / np.sqrt(2)) * n_class)),
            'nn_within_20_rows': float(np.mean(off <= 20))}


def block_folds(n: int, y: np.ndarray, block: int, k: int, seed: int):
    """k folds of whole contiguous blocks; blocks are assigned to folds per label so each fold has both classes."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) // block
    fold_of_block = {}
    for lab in (0, 1):
        blocks = np.unique(ids[y == lab])
        rng.shuffle(blocks)
        for j, b in enumerate(blocks):
            fold_of_block[b] = j % k
    f = np.array([fold_of_block[b] for b in ids])
    for i in range(k):
        yield np.flatnonzero(f != i), np.flatnonzero(f == i)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--csv', default=os.path.join(SHARED, 'data', 'deep-voice', 'DATASET-balanced.csv'))
    ap.add_argument('--out', default=os.path.join(REPO, 'docs', 'deep-voice-repro.json'))
    ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--seed', type=int, default=1337)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    X, y, _ = load(args.csv)
    n = len(y)
    results = []
    order = order_check(X, y)
    print(f'order check: nearest same-class neighbour lies a median {order["median_nn_row_offset"]} rows away '
          f'(random order: ~{order["median_offset_if_random"]}); within 20 rows for {100 * order["nn_within_20_rows"]:.1f}%')

    def run(name, folds):
        accs, eers, nns = [], [], []
        for i, (tr, te) in enumerate(folds):
            r = fit_eval(X, y, tr, te, args.seed + i, args.epochs)
            accs.append(r['accuracy'])
            eers.append(r['eer'])
            nns.append(one_nn(X, y, tr, te))
        res = {'split': name, 'folds': len(accs), 'accuracy_mean': float(np.mean(accs)), 'accuracy_std': float(np.std(accs)),
               'eer_mean': float(np.mean(eers)), 'eer_std': float(np.std(eers)), 'one_nn_accuracy_mean': float(np.mean(nns)),
               'accuracy_per_fold': [round(a, 4) for a in accs]}
        results.append(res)
        print(f'{name:38s} acc {100 * res["accuracy_mean"]:6.2f}% ± {100 * res["accuracy_std"]:.2f}  '
              f'EER {100 * res["eer_mean"]:6.2f}%  1-NN acc {100 * res["one_nn_accuracy_mean"]:6.2f}%', flush=True)

    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(n)
    k = args.folds
    run(f'random windows, {k}-fold', [(np.setdiff1d(perm, perm[i::k]), perm[i::k]) for i in range(k)])
    for block in (250, 1000):
        run(f'contiguous blocks of {block} rows, {k}-fold', block_folds(n, y, block, k, args.seed))
    out = {'csv': os.path.relpath(args.csv, REPO), 'rows': int(n), 'features': int(X.shape[1]), 'order_check': order,
           'model': 'Conv1d(1-32-64, k3) + MaxPool + BiLSTM(32x2) + Dense(64) + sigmoid; Adam 1e-3, batch 128, '
                    f'{args.epochs} epochs, features standardised on the training fold',
           'results': results, 'wall_time_s': round(time.time() - t0, 1)}
    with open(args.out, 'w') as fh:
        json.dump(out, fh, indent=2)
        fh.write('\n')
    print(f'wrote {args.out} in {time.time() - t0:.0f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
