"""Mixup (Zhang et al., ICLR 2018) of a training batch: each crop mixed with another crop of the batch.

x' = lam * x + (1 - lam) * x[perm], y' = lam * y + (1 - lam) * y[perm], lam ~ Beta(alpha, alpha) per crop; the
BCE head takes the soft target as it is. A crop mixed with one of the other class carries some of both, so the
detector is asked for a score in between rather than a confident one: a regulariser of the decision boundary,
reported to help anti-spoofing models generalise to unseen attacks. Hand-written: it is four lines, and the
draws come from the run's own seeded generator so that a run replays.
"""
from __future__ import annotations

import numpy as np
import torch


class Mixup:
    def __init__(self, alpha: float, seed: int):
        if alpha <= 0:
            raise ValueError(f'mixup alpha must be > 0, not {alpha}')
        self.alpha = alpha
        self.rng = np.random.default_rng([seed, 0x6D6978])     # its own stream: the crop draws stay as they were

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, N] float, y [B] float in {0, 1} -> mixed x and soft y (new tensors; the inputs are untouched)."""
        b = x.shape[0]
        lam = torch.from_numpy(self.rng.beta(self.alpha, self.alpha, size=b).astype(np.float32))
        perm = torch.from_numpy(self.rng.permutation(b))
        return lam[:, None] * x + (1 - lam[:, None]) * x[perm], lam * y + (1 - lam) * y[perm]
