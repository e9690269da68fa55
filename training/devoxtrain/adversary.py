"""Source adversary (training only, never exported): makes the embedding useless for telling the demo pages apart.

The data README's first trap is that a detector can score by recognising the *source* (room, microphone, original
sample rate, loudness of a demo page). A domain-adversarial head (Ganin & Lempitsky 2015, used for cross-dataset
anti-spoofing) tries to predict each crop's source from the embedding through a gradient-reversal layer: the head
learns to recognise sources, the network below it is pushed to remove what the head uses.

The head is *conditional on the label*: one softmax over the sources for genuine crops, another for synthetic ones.
An unconditional source classifier would also remove label information wherever sources differ in their
genuine/synthetic mix; within one label, knowing the page says nothing about fakeness, so that is what is removed.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


def reverse_grad(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by -lam on the way back."""
    return _ReverseGrad.apply(x, lam)


def dann_lambda(progress: float) -> float:
    """Ganin's schedule: 0 at the start, ~1 by the end (2 / (1 + e^(-10 p)) - 1), so the adversary does not fight a
    network that has not learned anything yet."""
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


class SourceAdversary(nn.Module):
    def __init__(self, emb_dim: int, n_sources: int, hidden: int = 64):
        super().__init__()
        if n_sources < 2:
            raise ValueError(f'a source adversary needs at least 2 training sources, not {n_sources}')
        self.n_sources = n_sources
        self.net = nn.Sequential(nn.Linear(emb_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2 * n_sources))

    def loss(self, emb: torch.Tensor, label: torch.Tensor, source: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        """(cross-entropy of the source given the label, through reversed gradients; the head's accuracy)."""
        z = self.net(reverse_grad(emb, lam)).view(-1, 2, self.n_sources)
        z = z[torch.arange(len(z)), label.long()]                      # the label's own softmax over sources
        ce = F.cross_entropy(z, source)
        acc = float((z.argmax(dim=1) == source).float().mean())
        return ce, acc
