"""The DevoX speaker-embedding model: raw 16 kHz waveform [B, N] -> L2-normalised embedding [B, D].

Same front-end as the narrowband detector (devoxtrain.model.FrontEnd: low-pass and decimate to 8 kHz inside the
graph, 25-ms Hann STFT, 48 mel bands over 0-4 kHz, log with a relative floor), but with per-band mean removal
(cepstral-mean normalisation: a static channel colour is removed, which a speaker model must ignore). Back-end: the
plain conv3x3-BN-ReLU-maxpool CNN of the detector, mean+std pooling over time, a linear embedding layer; trained
with additive-angular-margin softmax (AAM, ArcFace) over the training speakers. Only the telephone band reaches the
network, so wideband and G.711 legs are embedded alike.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .constants import MIN_SPEECH_RATIO, SPEECH_DBFS, SPEECH_FRAME, SR, WINDOW
from .model import FrontEnd, PlainBlock


class SpeakerNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 64, 96), emb_dim: int = 128, n_mels: int = 48,
                 n_fft: int = 400, floor_db: float = -50.0):
        super().__init__()
        self.config = {'widths': list(widths), 'emb_dim': emb_dim, 'n_mels': n_mels, 'n_fft': n_fft,
                       'floor_db': floor_db}
        self.front = FrontEnd(n_fft=n_fft, n_mels=n_mels, norm='band', floor_db=floor_db, fmax=SR / 4, decimate=2)
        chans = [1, *widths]
        self.stem = PlainBlock(chans[0], chans[1], pool=True)
        self.blocks = nn.Sequential(*[PlainBlock(chans[i], chans[i + 1], pool=i < len(chans) - 2)
                                      for i in range(1, len(chans) - 1)])
        self.emb = nn.Sequential(nn.Linear(2 * widths[-1], emb_dim), nn.BatchNorm1d(emb_dim))
        self.emb_dim = emb_dim
        self.freq_mask = 0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Unnormalised embedding [B, D]."""
        f = self.front(audio)
        if self.training and self.freq_mask > 0:
            b, _, m, _ = f.shape
            width = torch.randint(0, self.freq_mask + 1, (b, 1))
            start = (torch.rand(b, 1) * (m - width + 1)).long()
            band = torch.arange(m)[None, :]
            f = f * (~((band >= start) & (band < start + width)))[:, None, :, None].to(f.dtype)
        z = self.blocks(self.stem(f)).mean(dim=2)                           # [B, C, T']
        stats = torch.cat([z.mean(dim=2), torch.sqrt(z.var(dim=2, unbiased=False) + 1e-5)], dim=1)
        return self.emb(stats)


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax: logit of the true class cos(theta + m), scaled by s."""

    def __init__(self, emb_dim: int, n_classes: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_classes, emb_dim) * 0.01)
        self.margin, self.scale = margin, scale

    def forward(self, e: torch.Tensor, y: torch.Tensor, margin: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.margin if margin is None else margin
        cos = F.linear(F.normalize(e, dim=1), F.normalize(self.w, dim=1)).clamp(-1 + 1e-7, 1 - 1e-7)
        sin = torch.sqrt(1.0 - cos * cos)
        phi = cos * math.cos(m) - sin * math.sin(m)
        # past theta + m > pi the margin would raise the logit again: fall back to the CosFace form there
        phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
        onehot = F.one_hot(y, cos.shape[1]).to(cos.dtype)
        logits = self.scale * (onehot * phi + (1 - onehot) * cos)
        return F.cross_entropy(logits, y), (cos.argmax(dim=1) == y).float().mean()


class ExportWrapper(nn.Module):
    """What goes into ONNX: audio [B, N] -> embedding [B, D], L2-normalised."""

    def __init__(self, net: SpeakerNet):
        super().__init__()
        self.net = net

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(audio), dim=1)


def export(net: SpeakerNet, path: str) -> None:
    import warnings

    import onnx
    net.eval()
    wrapper = ExportWrapper(net).eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(wrapper, (torch.zeros(2, WINDOW),), path, input_names=['audio'], output_names=['embedding'],
                          dynamic_axes={'audio': {0: 'batch'}, 'embedding': {0: 'batch'}},
                          opset_version=17, dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def speech_ratio(w: np.ndarray) -> float:
    """Share of 20-ms frames above -45 dBFS RMS: the runtime's speech measure of a window (src/media/window-meter.ts)."""
    n = len(w) // SPEECH_FRAME
    if n == 0:
        return 0.0
    f = np.asarray(w[:n * SPEECH_FRAME], np.float64).reshape(n, SPEECH_FRAME)
    rms = np.sqrt((f * f).mean(axis=1) + 1e-20)
    return float((20 * np.log10(rms + 1e-12) > SPEECH_DBFS).mean())


def speech_windows(x: np.ndarray, hop: int) -> np.ndarray:
    """The runtime's 1-s windows of x every `hop` samples that count as speech (>= MIN_SPEECH_RATIO); [K, WINDOW]."""
    if len(x) < WINDOW:
        x = np.pad(x, (0, WINDOW - len(x)))
    out = [x[s:s + WINDOW] for s in range(0, len(x) - WINDOW + 1, hop)]
    keep = [w for w in out if speech_ratio(w) >= MIN_SPEECH_RATIO]
    return np.stack(keep).astype(np.float32) if keep else np.zeros((0, WINDOW), np.float32)


def mean_embedding(embs: np.ndarray) -> np.ndarray | None:
    """The runtime's accumulator: mean of the windows' unit embeddings, renormalised."""
    if len(embs) == 0:
        return None
    m = embs.mean(axis=0)
    return (m / max(float(np.linalg.norm(m)), 1e-9)).astype(np.float32)


def count_macs(net: SpeakerNet) -> dict:
    """Multiply-accumulates per 1-s window (hooks on Conv2d/Linear plus the front-end's composed conv and filterbank)."""
    macs = {'network': 0}

    def conv_hook(m, i, o):
        macs['network'] += int(o[0].numel()) * int(np.prod(m.kernel_size)) * (m.in_channels // m.groups)

    def lin_hook(m, i, o):
        macs['network'] += m.in_features * m.out_features

    hooks = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else lin_hook)
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, WINDOW))
    net.train(was)
    for h in hooks:
        h.remove()
    fe = net.front
    front = fe.kernel.shape[0] * fe.kernel.shape[-1] * fe.n_frames + fe.fb.numel() * fe.n_frames
    total = front + macs['network']
    return {'macs': total, 'frontend_macs': front, 'network_macs': macs['network'], 'per_window_mflops': round(2 * total / 1e6, 2),
            'params': sum(p.numel() for p in net.parameters())}
