"""Small neural vocoders trained here (CPU PyTorch): 80-band log-mel (16 kHz) -> waveform, for paired fakes.

Wang & Yamagishi (ICASSP 2023/2024) found vocoded copies of genuine speech to be effective spoofed training data: the
copy keeps the speaker, words, room and recording chain of its original, only the waveform generator differs. Two
families, the two that most modern TTS / VC systems end in:

- `hifigan`: HiFi-GAN-style generator (Kong et al. 2020): conv, then transposed-conv upsampling stages (8x8x4 for hop
  256, 8x5x4 for hop 160), each followed by a multi-receptive-field residual block (dilations 1, 3, 5), tanh out.
- `vocos`: Vocos-style (Siuzdenko et al. 2023): ConvNeXt blocks at frame rate predict the STFT log-magnitude and
  phase of each frame; an inverse STFT ("same" padding, so frame t is centred where the mel's frame t is) makes the
  waveform.

Both train with the multi-resolution STFT loss (spectral convergence + log-magnitude L1) plus the L1 of the log-mel
spectrogram; train_vocoder.py --gan then refines a trained generator adversarially against `Discriminator` (HiFi-GAN's
multi-period + UnivNet's multi-resolution STFT discriminators, small: least-squares GAN + feature matching). `mel_spec` is the one mel front-end the vocoder, its loss and
resynthesis share: slaney-mel 80 bands 0-8 kHz, Hann window n_fft = 4 x hop, reflect padding of (n_fft - hop) / 2 so
that a signal of T x hop samples has exactly T frames.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SR = 16000
N_MELS = 80


class Mel(nn.Module):
    """log-mel spectrogram [B, N_MELS, T] of x [B, T * hop]."""

    def __init__(self, hop: int = 256):
        super().__init__()
        import librosa   # the filterbank only
        self.hop, self.n_fft = hop, 4 * hop
        fb = librosa.filters.mel(sr=SR, n_fft=self.n_fft, n_mels=N_MELS, fmin=0.0, fmax=SR / 2)
        self.register_buffer('fb', torch.from_numpy(fb.astype(np.float32)), persistent=False)
        self.register_buffer('win', torch.hann_window(self.n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.n_fft - self.hop) // 2
        x = F.pad(x.unsqueeze(1), (pad, pad), mode='reflect').squeeze(1)
        s = torch.stft(x, self.n_fft, self.hop, window=self.win, center=False, return_complex=True).abs()
        return torch.log(torch.clamp(self.fb @ s, min=1e-5))


# ---------------------------------------------------------------------------------------------- HiFi-GAN style
class ResBlock(nn.Module):
    def __init__(self, ch: int, k: int = 3, dilations=(1, 3, 5)):
        super().__init__()
        self.c1 = nn.ModuleList(nn.Conv1d(ch, ch, k, dilation=d, padding=d * (k - 1) // 2) for d in dilations)
        self.c2 = nn.ModuleList(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in dilations)

    def forward(self, x):
        for a, b in zip(self.c1, self.c2):
            x = x + b(F.leaky_relu(a(F.leaky_relu(x, 0.1)), 0.1))
        return x


RATES = {256: (8, 8, 4), 160: (8, 5, 4)}


class HifiGan(nn.Module):
    def __init__(self, hop: int = 256, ch: int = 128):
        super().__init__()
        self.hop = hop
        self.pre = nn.Conv1d(N_MELS, ch, 7, padding=3)
        self.ups, self.res = nn.ModuleList(), nn.ModuleList()
        c = ch
        for r in RATES[hop]:
            self.ups.append(nn.ConvTranspose1d(c, c // 2, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2))
            c //= 2
            self.res.append(ResBlock(c))
        self.post = nn.Conv1d(c, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.pre(mel)
        for up, res in zip(self.ups, self.res):
            x = res(up(F.leaky_relu(x, 0.1)))
        return torch.tanh(self.post(F.leaky_relu(x, 0.1))).squeeze(1)


# ---------------------------------------------------------------------------------------------- Vocos style
class ConvNeXt(nn.Module):
    def __init__(self, dim: int, mult: int = 3):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.pw2 = nn.Linear(dim, mult * dim), nn.Linear(mult * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-2))

    def forward(self, x):                      # [B, C, T]
        y = self.dw(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class Vocos(nn.Module):
    def __init__(self, hop: int = 256, dim: int = 128, layers: int = 6):
        super().__init__()
        self.hop, self.n_fft = hop, 4 * hop
        self.pre = nn.Conv1d(N_MELS, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.Sequential(*[ConvNeXt(dim) for _ in range(layers)])
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.n_fft + 2)
        self.register_buffer('win', torch.hann_window(self.n_fft), persistent=False)

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse STFT with "same" padding: T frames -> T * hop samples (Vocos' ISTFT(padding='same'))."""
        B, _, T = spec.shape
        n, hop = self.n_fft, self.hop
        frames = torch.fft.irfft(spec, n, dim=1) * self.win[None, :, None]          # [B, n, T]
        size = (T - 1) * hop + n
        y = F.fold(frames, (1, size), (1, n), stride=(1, hop))[:, 0, 0]
        env = F.fold(self.win.square()[None, :, None].expand(1, n, T), (1, size), (1, n), stride=(1, hop))[0, 0, 0]
        pad = (n - hop) // 2
        return y[:, pad:size - pad] / env[pad:size - pad].clamp(min=1e-11)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.pre(mel).transpose(1, 2)).transpose(1, 2)
        x = self.out_norm(self.blocks(x).transpose(1, 2))
        h = self.head(x).transpose(1, 2)                                              # [B, n_fft + 2, T]
        logmag, phase = h.chunk(2, dim=1)
        mag = torch.exp(logmag).clamp(max=1e2)
        return self.istft(torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)))


def build(kind: str, hop: int = 256, size: int = 128, layers: int = 6) -> nn.Module:
    if kind == 'hifigan':
        return HifiGan(hop, size)
    if kind == 'vocos':
        return Vocos(hop, size, layers)
    raise ValueError(f'unknown vocoder kind {kind!r}')


# ---------------------------------------------------------------------------------------------- losses
RESOLUTIONS = ((256, 64), (512, 128), (1024, 256), (2048, 512))     # (n_fft, hop) at 16 kHz


def _mag(x: torch.Tensor, n: int, hop: int) -> torch.Tensor:
    return torch.stft(x, n, hop, window=torch.hann_window(n, device=x.device), return_complex=True).abs().clamp(min=1e-7)


def mrstft(y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-resolution STFT loss of y against x: (spectral convergence, log-magnitude L1), means over resolutions."""
    sc, lm = 0.0, 0.0
    for n, hop in RESOLUTIONS:
        a, b = _mag(y, n, hop), _mag(x, n, hop)
        sc = sc + torch.linalg.norm(a - b, dim=(1, 2)).div(torch.linalg.norm(b, dim=(1, 2)).clamp(min=1e-7)).mean()
        lm = lm + (a.log() - b.log()).abs().mean()
    return sc / len(RESOLUTIONS), lm / len(RESOLUTIONS)


# ---------------------------------------------------------------------------------------------- discriminators (GAN)
class PeriodDisc(nn.Module):
    """HiFi-GAN's period discriminator: the waveform folded to [B, 1, T / p, p], 2-D convs along time only."""

    def __init__(self, period: int, ch: int = 16):
        super().__init__()
        self.period = period
        chans = (1, ch, 2 * ch, 4 * ch, 4 * ch)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, (5, 1), (3, 1) if i < 3 else 1, padding=(2, 0))
                                   for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])))
        self.post = nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        B, T = x.shape
        p = self.period
        if T % p:
            x = F.pad(x[:, None], (0, p - T % p), mode='reflect')[:, 0]
        h = x.view(B, 1, -1, p)
        return _conv_stack(self.convs, self.post, h)


def _conv_stack(convs: nn.ModuleList, post: nn.Module, h: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A discriminator's body: leaky-ReLU convs, then the logit conv; returns the flat logits and every feature map
    (for feature matching)."""
    fmaps = []
    for c in convs:
        h = F.leaky_relu(c(h), 0.1)
        fmaps.append(h)
    h = post(h)
    fmaps.append(h)
    return h.flatten(1), fmaps


class SpecDisc(nn.Module):
    """UnivNet's multi-resolution (STFT) discriminator, one resolution: 2-D convs over the log-magnitude spectrogram."""

    def __init__(self, n_fft: int, hop: int, ch: int = 16):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer('win', torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([nn.Conv2d(1, ch, (3, 9), padding=(1, 4))] +
                                   [nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)) for _ in range(3)] +
                                   [nn.Conv2d(ch, ch, (3, 3), padding=(1, 1))])
        self.post = nn.Conv2d(ch, 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        s = torch.stft(x, self.n_fft, self.hop, window=self.win, return_complex=True).abs()
        h = torch.log(s.clamp(min=1e-5))[:, None].transpose(2, 3)           # [B, 1, T, F]
        return _conv_stack(self.convs, self.post, h)


PERIODS = (2, 3, 5, 7, 11)
DISC_RESOLUTIONS = ((1024, 256), (512, 128), (256, 64))             # (n_fft, hop) at 16 kHz


class Discriminator(nn.Module):
    """Multi-period (HiFi-GAN: periods 2, 3, 5, 7, 11) + multi-resolution STFT (UnivNet) discriminators, small
    channel counts for CPU. forward(x) -> (one logit map per sub-discriminator, their feature maps)."""

    def __init__(self, ch: int = 16, periods=PERIODS, resolutions=DISC_RESOLUTIONS):
        super().__init__()
        self.discs = nn.ModuleList([PeriodDisc(p, ch) for p in periods] +
                                   [SpecDisc(n, h, ch) for n, h in resolutions])

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outs = [d(x) for d in self.discs]
        return [o[0] for o in outs], [o[1] for o in outs]


def d_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN discriminator loss: real -> 1, generated -> 0, summed over sub-discriminators."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean() for r, f in zip(real, fake))


def g_adv_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN generator loss: generated -> 1."""
    return sum(((1 - f) ** 2).mean() for f in fake)


def feature_loss(fr: list[list[torch.Tensor]], fg: list[list[torch.Tensor]]) -> torch.Tensor:
    """Feature matching (HiFi-GAN): L1 between the discriminators' feature maps of real and generated audio."""
    return sum((r.detach() - g).abs().mean() for a, b in zip(fr, fg) for r, g in zip(a, b))


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def load(path) -> tuple[nn.Module, Mel, dict]:
    ck = torch.load(path, map_location='cpu', weights_only=False)
    cfg = ck['config']
    net = build(cfg['kind'], cfg['hop'], cfg['size'], cfg.get('layers', 6))
    net.load_state_dict(ck['state'])
    net.eval()
    return net, Mel(cfg['hop']), cfg


@torch.no_grad()
def vocode(net: nn.Module, mel_fn: Mel, x: np.ndarray, chunk_s: float = 10.0) -> np.ndarray:
    """x (16 kHz float) -> its mel -> the vocoder's waveform, same length. Long files go in chunks of ~chunk_s with
    one second of context each side (cross-faded nothing: the context is cut off)."""
    hop = mel_fn.hop
    n = len(x)
    T = math.ceil(n / hop)
    xp = np.pad(x, (0, T * hop - n)).astype(np.float32)
    mel = mel_fn(torch.from_numpy(xp)[None])                     # [1, 80, T]
    step, ctx = max(1, int(chunk_s * SR / hop)), int(SR / hop)
    out = []
    for t0 in range(0, T, step):
        a, b = max(0, t0 - ctx), min(T, t0 + step + ctx)
        y = net(mel[:, :, a:b])[0]
        out.append(y[(t0 - a) * hop:(min(T, t0 + step) - a) * hop])
    return torch.cat(out).numpy()[:n]
