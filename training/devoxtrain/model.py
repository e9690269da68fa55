"""The DevoX phone model: raw 16 kHz waveform [B, 16000] -> prob_synthetic [B] (+ embedding [B, D]).

The feature front-end lives inside the graph, so the runtime hands over samples and nothing else:
DC removal -> pre-emphasis -> STFT as a fixed Conv1d (Hann window of n_fft samples: 20 ms in 1.0, 16 ms in 1.1;
10-ms hop; ONNX's STFT op measured ~4x slower in onnxruntime CPU than the equivalent GEMM) -> power -> triangular
filterbank (48 Slaney-mel bands in 1.0, 60 linearly spaced bands in 1.1) -> log with a floor (default 50 dB)
below the window's mean band energy (exactly gain-invariant) -> mean removal over the window, either per band
(`norm='band'`: also removes a static channel/recording colour) or global (`norm='global'`: gain only, keeps the
spectral envelope) -> division by the window's std.
Back-end: a small residual depthwise-separable CNN with mean+std pooling over time (1.1: the stem conv strides 2x2
and the blocks' shortcuts are strided 1x1 convs, ~3x less onnxruntime CPU per window than 1.0).
Head: linear + BCE, or optionally one-class softmax (`head='oc'`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .constants import SR, WINDOW


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0), m * 200.0 / 3)


def mel_filterbank(n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float = SR / 2, scale: str = 'mel',
                   sr: float = SR, warp=None) -> np.ndarray:
    """Triangular filters (peak 1) on the Slaney mel scale (linear below 1 kHz), or linearly spaced
    (scale='linear', as LFCC front-ends in anti-spoofing use: equal resolution at high frequencies): [n, n_fft//2+1].
    `warp` (Hz -> Hz, training only: vtlp.py) moves the filters' edges."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    if scale == 'linear':
        edges = np.linspace(fmin, fmax, n_mels + 2)
    else:
        edges = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2))
    if warp is not None:
        edges = warp(edges)
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / max(c - lo, 1e-9)
        down = (hi - freqs) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0, np.minimum(up, down))
        if fb[i].sum() == 0:                       # narrower than a bin: take the nearest bin
            fb[i, int(np.argmin(np.abs(freqs - c)))] = 1.0
    return fb.astype(np.float32)


class FrontEnd(nn.Module):
    def __init__(self, n_fft: int = 320, hop: int = 160, n_mels: int = 48, preemph: float = 0.97,
                 floor_db: float = -50.0, norm: str = 'band', scale: str = 'mel', fmax: float = SR / 2,
                 phase: bool = False, decimate: int = 1, fmin: float = 0.0):
        super().__init__()
        self.phase = phase
        if not 0.0 <= fmin < fmax:
            raise ValueError(f'fmin must be in [0, fmax), not {fmin!r}')
        if norm not in ('band', 'global'):
            raise ValueError(f'norm must be band or global, not {norm!r}')
        if decimate not in (1, 2):
            raise ValueError(f'decimate must be 1 or 2, not {decimate!r}')
        if decimate == 2 and (fmax > SR / 4 or n_fft % 2 or hop % 2):
            raise ValueError('decimate=2 needs fmax <= 4 kHz and an even n_fft and hop')
        self.norm = norm
        self.decimate = decimate
        # decimate=2 (narrowband models): a 63-tap Kaiser low-pass (-6 dB at 4 kHz, -47 dB at 4.5 kHz,
        # -78 dB at 5 kHz) with stride 2 takes the waveform to 8 kHz, then the STFT of the same window length in seconds and
        # the same bin spacing: features of the telephone band only, whatever the input carries above it. Both
        # steps are linear, so the graph runs them as ONE strided conv whose kernel is their composition
        # (`kernel`, 2K x 461 taps at stride 2*hop): onnxruntime runs a separate 1-channel 63-tap conv over the
        # whole window ~3x slower than the STFT GEMM itself. Same outputs as the two steps, to float rounding.
        n_fft, hop = n_fft // decimate, hop // decimate
        sr = SR / decimate
        if decimate == 2:
            from scipy.signal import firwin
            lp = firwin(63, 4000.0, window=('kaiser', 7.0), fs=SR)
            self.register_buffer('lowpass', torch.tensor(lp, dtype=torch.float32)[None, None, :])
        self.n_fft, self.hop, self.preemph = n_fft, hop, preemph
        self.fb_args = {'n_fft': n_fft, 'n_mels': n_mels, 'fmin': fmin, 'fmax': fmax, 'scale': scale, 'sr': sr}   # vtlp.py
        fb = mel_filterbank(n_fft, n_mels, fmin=fmin, fmax=fmax, scale=scale, sr=sr)
        # only the STFT bins the filterbank reads are computed (fmax 4 kHz: half the front-end's multiply-adds)
        self.n_bins = n_fft // 2 + 1 if fmax >= sr / 2 else int(np.nonzero(fb.any(axis=0))[0].max()) + 1
        fb = fb[:, :self.n_bins]
        k = np.arange(self.n_bins)[:, None]
        t = np.arange(n_fft)[None, :]
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)       # periodic Hann
        amp = 2.0 / win.sum()                                                 # full-scale sine -> |X| = 1
        basis = np.concatenate([np.cos(2 * np.pi * k * t / n_fft) * win, -np.sin(2 * np.pi * k * t / n_fft) * win]) * amp
        self.register_buffer('basis', torch.tensor(basis, dtype=torch.float32)[:, None, :])
        if decimate == 2:   # basis (at 8 kHz) composed with low-pass + decimation (at 16 kHz); derived, not saved
            taps = len(lp)
            kernel = np.zeros((basis.shape[0], 2 * (n_fft - 1) + taps))
            for n in range(n_fft):
                kernel[:, 2 * n:2 * n + taps] += basis[:, n, None] * lp[None, :]
            self.register_buffer('kernel', torch.tensor(kernel, dtype=torch.float32)[:, None, :], persistent=False)
        self.register_buffer('fb', torch.tensor(fb))
        self.floor = float(10 ** (floor_db / 10))
        self.n_frames = (WINDOW // decimate - n_fft) // hop + 1

    def forward(self, x: torch.Tensor, fb: torch.Tensor | None = None) -> torch.Tensor:   # [B, N] -> [B, 1, M, T]
        """`fb` [B, M, K]: one filterbank per row instead of `self.fb` (training only: vtlp.py)."""
        x = x - x.mean(dim=1, keepdim=True)
        x = torch.cat([x[:, :1], x[:, 1:] - self.preemph * x[:, :-1]], dim=1).unsqueeze(1)
        if self.decimate == 2:     # = conv1d(conv1d(x, lowpass, stride 2, padding 31), basis, stride hop)
            y = F.conv1d(x, self.kernel, stride=2 * self.hop, padding=self.lowpass.shape[-1] // 2)
        else:
            y = F.conv1d(x, self.basis, stride=self.hop)                      # [B, 2K, T]
        re, im = y[:, :self.n_bins], y[:, self.n_bins:]
        p = re * re + im * im
        mel = torch.matmul(self.fb if fb is None else fb, p)                 # [B, M, T]
        # relative floor (gain-invariant) plus an absolute one ~ -80 dB re a full-scale sine, so that digital
        # silence gives constant features instead of amplified rounding noise
        floor = self.floor * mel.mean(dim=(1, 2), keepdim=True) + 1e-8
        lm = torch.log(mel + floor)
        if self.norm == 'band':
            lm = lm - lm.mean(dim=2, keepdim=True)          # per-band: removes a static channel colour
        else:
            lm = lm - lm.mean(dim=(1, 2), keepdim=True)     # global: gain only, keeps the spectral envelope
        lm = lm / torch.clamp(lm.std(dim=(1, 2), keepdim=True), min=0.1)   # speech: std ~1-3; silence: ~0
        if not self.phase:
            return lm.unsqueeze(1)
        return torch.stack([lm, self._phase_coherence(re, im, p, floor)], dim=1)

    def _phase_coherence(self, re: torch.Tensor, im: torch.Tensor, p: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
        """Per band and frame, in [-1, 1]: the energy-weighted cosine of each bin's second phase difference over
        three frames (phi_t - 2 phi_{t-1} + phi_{t-2}, the change of its phase advance). A steady partial scores
        ~1 whatever its frequency, noise ~0: how coherent the phase of the signal is over time, which the power
        features cannot see (vocoders and codecs rebuild phase). Only multiplications and sums (no atan2)."""
        ar = re[:, :, 1:] * re[:, :, :-1] + im[:, :, 1:] * im[:, :, :-1]      # a = X_t conj(X_{t-1})
        ai = im[:, :, 1:] * re[:, :, :-1] - re[:, :, 1:] * im[:, :, :-1]
        cr = ar[:, :, 1:] * ar[:, :, :-1] + ai[:, :, 1:] * ai[:, :, :-1]      # a_t conj(a_{t-1})
        mag = torch.sqrt(p[:, :, 2:] * p[:, :, :-2] + 1e-30) * p[:, :, 1:-1]   # |X_t| |X_{t-1}|^2 |X_{t-2}|
        coh = torch.matmul(self.fb, cr) / (torch.matmul(self.fb, mag) + floor * floor)
        z = torch.zeros_like(coh[:, :, :1])
        return torch.cat([z, z, coh], dim=2)


class DSBlock(nn.Module):
    """Residual depthwise-separable block: dw3x3(stride) -> pw -> dw3x3 -> pw, with a 1x1 shortcut when shapes change."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int], shortcut: str = 'pool'):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False), nn.BatchNorm2d(cout),
            nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout))
        if cin == cout and stride == (1, 1):
            self.short = nn.Identity()
        elif shortcut == 'conv':   # strided 1x1 conv: onnxruntime CPU runs AvgPool(ceil_mode) + its layout reorders slowly
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.short = nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True) if stride != (1, 1) else nn.Identity(),
                                       nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))


class PlainBlock(nn.Module):
    """conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool (none for the last block): the plain log-mel CNN of the
    usual anti-spoofing baselines. Dense 3x3 convolutions do ~9x the multiply-adds per parameter of the
    depthwise-separable blocks, which is where this backbone's capacity comes from."""

    def __init__(self, cin: int, cout: int, pool: bool):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(2) if pool else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DevoxNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96, 128), emb_dim: int = 64, n_mels: int = 48,
                 dropout: float = 0.2, norm: str = 'band', floor_db: float = -50.0, scale: str = 'mel',
                 n_fft: int = 320, stem_stride: int = 1, shortcut: str = 'pool', head: str = 'linear',
                 fmax: float = SR / 2, phase: bool = False, backbone: str = 'ds', decimate: int = 1,
                 fmin: float = 0.0, pool: str = 'stats'):
        """Defaults reproduce devox-phone 1.0.0; train.py's defaults choose the faster graph (n_fft 256, stem stride 2,
        strided-conv shortcuts: ~3x less onnxruntime CPU time per window)."""
        super().__init__()
        if shortcut not in ('pool', 'conv'):
            raise ValueError(f'shortcut must be pool or conv, not {shortcut!r}')
        if head not in ('linear', 'oc'):
            raise ValueError(f'head must be linear or oc, not {head!r}')
        if backbone not in ('ds', 'plain'):
            raise ValueError(f'backbone must be ds or plain, not {backbone!r}')
        if pool not in ('stats', 'asp'):
            raise ValueError(f'pool must be stats or asp, not {pool!r}')
        self.config = {'widths': list(widths), 'emb_dim': emb_dim, 'n_mels': n_mels, 'dropout': dropout,
                       'norm': norm, 'floor_db': floor_db, 'scale': scale, 'n_fft': n_fft, 'stem_stride': stem_stride,
                       'shortcut': shortcut, 'head': head, 'fmax': fmax}
        if phase:
            self.config['phase'] = True           # absent when off: older cards and checkpoints load unchanged
        if backbone != 'ds':
            self.config['backbone'] = backbone    # likewise
        if decimate != 1:
            self.config['decimate'] = decimate    # likewise
        if fmin:
            self.config['fmin'] = fmin            # likewise
        if pool != 'stats':
            self.config['pool'] = pool            # likewise
        self.front = FrontEnd(n_fft=n_fft, n_mels=n_mels, norm=norm, floor_db=floor_db, scale=scale, fmax=fmax,
                              phase=phase, decimate=decimate, fmin=fmin)
        if backbone == 'plain':   # stem + 4 plain blocks, pooled 2x2 after all but the last
            chans = [2 if phase else 1, *widths]
            self.stem = PlainBlock(chans[0], chans[1], pool=True)
            self.blocks = nn.Sequential(*[PlainBlock(chans[i], chans[i + 1], pool=i < len(chans) - 2)
                                          for i in range(1, len(chans) - 1)])
        else:
            self.stem = nn.Sequential(nn.Conv2d(2 if phase else 1, widths[0], 3, stem_stride, 1, bias=False),
                                      nn.BatchNorm2d(widths[0]),
                                      nn.ReLU(inplace=True))
            strides = [(2, 2), (2, 2), (2, 2), (2, 1)]
            self.blocks = nn.Sequential(*[DSBlock(widths[i], widths[i + 1], strides[i], shortcut)
                                          for i in range(len(widths) - 1)])
        c = widths[-1]
        # attentive statistics pooling (Okabe et al., 2018): a frame's weight from a small two-layer scorer, so the
        # mean and std over time lean on the frames that tell (voiced speech, a transition) instead of all alike
        self.attn = nn.Sequential(nn.Linear(c, 32), nn.Tanh(), nn.Linear(32, 1)) if pool == 'asp' else None
        self.emb = nn.Sequential(nn.Linear(2 * c, emb_dim), nn.BatchNorm1d(emb_dim), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(dropout)
        self.head_type = head
        if head == 'oc':
            # One-class softmax (Zhang et al., 2021): genuine embeddings gather around one direction w, synthetic ones
            # are only pushed away from it; logit = alpha * (mid - cos(e, w)), see oc_softmax_loss().
            self.w = nn.Parameter(torch.randn(emb_dim) / math.sqrt(emb_dim))
        else:
            self.head = nn.Linear(emb_dim, 1)
        self.emb_dim = emb_dim
        self.freq_mask = 0    # training only (never exported): blank a random span of up to this many bands per row
        self.vtlp = None      # training only (never exported): a vtlp.Vtlp drawing a warped filterbank per row

    def _mask_bands(self, f: torch.Tensor) -> torch.Tensor:
        b, _, m, _ = f.shape
        width = torch.randint(0, self.freq_mask + 1, (b, 1))
        start = (torch.rand(b, 1) * (m - width + 1)).long()
        band = torch.arange(m)[None, :]
        keep = ~((band >= start) & (band < start + width))
        return f * keep[:, None, :, None].to(f.dtype)        # 0 = the band's mean after normalisation

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        warped = self.vtlp(audio.shape[0]) if self.training and self.vtlp is not None else None
        f = self.front(audio, warped)
        if self.training and self.freq_mask > 0:
            f = self._mask_bands(f)
        return self.embed(f)

    def embed(self, f: torch.Tensor) -> torch.Tensor:
        """Front-end features [B, 1, M, T] -> embedding [B, D] (an ensemble runs a shared front-end once)."""
        z = self.blocks(self.stem(f))                                        # [B, C, F', T']
        z = z.mean(dim=2)                                                    # [B, C, T']
        if self.attn is None:
            stats = torch.cat([z.mean(dim=2), torch.sqrt(z.var(dim=2, unbiased=False) + 1e-5)], dim=1)
        else:
            w = torch.softmax(self.attn(z.transpose(1, 2)), dim=1).transpose(1, 2)    # [B, 1, T'], sums to 1
            mu = (w * z).sum(dim=2)
            var = (w * z * z).sum(dim=2) - mu * mu
            stats = torch.cat([mu, torch.sqrt(torch.clamp(var, min=0.0) + 1e-5)], dim=1)
        return self.emb(stats)

    def logit(self, e: torch.Tensor) -> torch.Tensor:
        """Embedding [B, D] -> logit [B]."""
        if self.head_type == 'oc':
            cos = (F.normalize(self.drop(e), dim=1) * F.normalize(self.w, dim=0)).sum(dim=1)
            return OC_SCORE_GAIN * (0.5 * (OC_M_GENUINE + OC_M_SYNTHETIC) - cos)
        return self.head(self.drop(e)).squeeze(1)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (logit [B], embedding [B, D])."""
        e = self.features(audio)
        return self.logit(e), e


# OC-softmax scale and margins as in the paper. The model's logit is OC_SCORE_GAIN * (mid - cos) in [-2.3, 2.8]:
# a gentler scale than alpha, so that the exported sigmoid does not saturate in float32 and the verdict engine's
# mean of window log-odds is not dominated by its clamp; only the loss uses alpha.
OC_ALPHA, OC_M_GENUINE, OC_M_SYNTHETIC, OC_SCORE_GAIN = 20.0, 0.9, 0.2, 5.0


def oc_softmax_loss(logit: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """OC-softmax: genuine (y=0) is penalised unless cos > m_genuine, synthetic unless cos < m_synthetic, each
    through softplus(alpha * violation). With z = alpha * (mid - cos) that is softplus(+-z + margin)."""
    z = logit * (OC_ALPHA / OC_SCORE_GAIN)
    margin = OC_ALPHA * (OC_M_GENUINE - OC_M_SYNTHETIC) / 2
    return F.softplus(torch.where(y > 0.5, -z, z) + margin).mean()


class ExportWrapper(nn.Module):
    """What goes into ONNX: audio -> (prob_synthetic, embedding)."""

    def __init__(self, net: DevoxNet):
        super().__init__()
        self.net = net

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit, emb = self.net(audio)
        return torch.sigmoid(logit), emb


def build(config: dict) -> DevoxNet:
    c = dict(config)
    c['widths'] = tuple(c['widths'])
    return DevoxNet(**c)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_macs(net: DevoxNet) -> dict:
    """Multiply-accumulates per 1-s window, by hooks on Conv/Linear plus the front-end matmul; FLOPs = 2 x MACs."""
    macs = {'frontend': 0, 'network': 0}

    def conv_hook(mod, inp, out):
        k = int(np.prod(mod.kernel_size)) * (mod.in_channels // mod.groups)
        part = 'frontend' if mod is None else 'network'
        macs[part] += int(out[0].numel()) * k

    def lin_hook(mod, inp, out):
        macs['network'] += mod.in_features * mod.out_features

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    fe = net.front
    stft = fe.kernel if fe.decimate == 2 else fe.basis
    macs['frontend'] = stft.shape[0] * stft.shape[-1] * fe.n_frames + fe.fb.numel() * fe.n_frames
    was = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, WINDOW))
    net.train(was)
    for h in hooks:
        h.remove()
    total = macs['frontend'] + macs['network']
    return {'macs': total, 'flops': 2 * total, 'frontend_macs': macs['frontend'], 'network_macs': macs['network'],
            'mflops': round(2 * total / 1e6, 2)}
