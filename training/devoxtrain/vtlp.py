"""Vocal tract length perturbation (Jaitly & Hinton, 2013) of the filterbank: training only, never exported.

A talker's vocal tract length scales their formants by a factor alpha (about +-10 % between adults); VTLP draws
alpha per training crop and reads the power spectrum through a filterbank whose edges are warped by it, so the
network sees the same utterance as a talker with longer or shorter vocal tract. Unlike speed perturbation it moves
the formants alone: pitch, tempo and the waveform (where a generator's artefacts live) stay as they were, and both
classes are warped alike. The warp is Jaitly & Hinton's piecewise-linear one: f -> alpha f up to a knee, then a line
to Nyquist, so the band stays whole.

The bank of warped filterbanks is built once (one per factor of VTLP_ALPHAS, plus the plain one); a draw is an
index per row, and the front-end multiplies each row's power spectrum by its own filterbank (a batched matmul).
Hand-written: the warp is one line, and the draws come from the run's own seeded generator so that a run replays.
"""
from __future__ import annotations

import numpy as np
import torch

from .model import FrontEnd, mel_filterbank

VTLP_ALPHAS = tuple(round(0.90 + 0.02 * i, 2) for i in range(11))     # 0.90 ... 1.10
KNEE = 0.8                                                             # of Nyquist, as in the paper's f_hi


def warp_hz(f: np.ndarray, alpha: float, nyquist: float) -> np.ndarray:
    """Jaitly & Hinton's warp: alpha f below the knee, then linear so that Nyquist maps to itself."""
    f = np.asarray(f, dtype=np.float64)
    knee = KNEE * nyquist * min(alpha, 1.0) / alpha
    upper = nyquist - (nyquist - alpha * knee) * (nyquist - f) / (nyquist - knee)
    return np.where(f <= knee, alpha * f, upper)


class Vtlp:
    """Per-row filterbanks for FrontEnd.forward(x, fb=...): with probability p a row gets a factor drawn uniformly
    from VTLP_ALPHAS, otherwise the plain filterbank. The first `paired_rows` rows of a batch are matched pairs
    (sampler.CropStream lays pair k out as rows 2k, 2k + 1): both sides of a pair get the same warp, so that a pair
    still differs only in how it was made."""

    def __init__(self, front: FrontEnd, p: float, seed: int, alphas: tuple[float, ...] = VTLP_ALPHAS,
                 paired_rows: int = 0):
        if not 0.0 < p <= 1.0:
            raise ValueError(f'vtlp probability must be in (0, 1], not {p}')
        if paired_rows < 0 or paired_rows % 2:
            raise ValueError(f'paired_rows must be an even count, not {paired_rows}')
        self.paired_rows = paired_rows
        a = front.fb_args
        nyquist = a['sr'] / 2
        banks = [front.fb.detach().cpu().numpy()]
        for alpha in alphas:
            fb = mel_filterbank(a['n_fft'], a['n_mels'], fmin=a['fmin'], fmax=a['fmax'], scale=a['scale'], sr=a['sr'],
                                warp=lambda f, al=alpha: warp_hz(f, al, nyquist))
            banks.append(fb[:, :front.n_bins])
        self.bank = torch.tensor(np.stack(banks))                    # [1 + A, M, K]; row 0 is the plain filterbank
        self.alphas = (1.0, *alphas)
        self.p = p
        self.rng = np.random.default_rng([seed, 0x76746C70])         # its own stream: the crop draws stay as they were

    def draw(self, b: int) -> np.ndarray:
        """Index into self.alphas per row (0: unwarped)."""
        warped = self.rng.random(b) < self.p
        pick = self.rng.integers(1, len(self.alphas), size=b)
        idx = np.where(warped, pick, 0)
        n = min(self.paired_rows, b - b % 2)
        idx[1:n:2] = idx[0:n:2]
        return idx

    def __call__(self, b: int) -> torch.Tensor:
        """[b, M, K] filterbanks for one batch."""
        return self.bank[torch.from_numpy(self.draw(b))]
