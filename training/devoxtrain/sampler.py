"""Endless stream of augmented, class-balanced 1-s training batches (runs in a DataLoader worker)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from scipy.signal import resample_poly
from torch.utils.data import IterableDataset, get_worker_info

from .augment import AugConfig, Augmenter, rms_dbfs
from .cache import AMRWB_COPIES, DENOISE_COPIES, LACE_COPIES, MOBILE_COPIES, OPUS_BITRATES, SOURCE_COPIES, Store
from .constants import SPEECH_DBFS, SR, WINDOW
from .data import Item

# Speed perturbation (AugConfig.p_speed), as Kaldi's 0.9 / 1.1: a crop of f x 1 s resampled to 1 s (tempo and pitch
# together, a plain polyphase resampler, no phase-vocoder artefacts), f = num / den. It moves each talker's pitch and
# formants, a cheap stand-in for more speakers. Only crops the augmenter's channel then processes (the clean audio),
# never a precomputed codec copy, whose band edges would move with it.
SPEEDS = ((9, 10), (19, 20), (21, 20), (11, 10))
# AugConfig.speed_range 'wide': 0.8-1.2 (a child's or a deep voice from an adult's recording; formants move +-20 %)
SPEEDS_WIDE = ((4, 5), (17, 20), (9, 10), (19, 20), (21, 20), (11, 10), (23, 20), (6, 5))
# 'wider': 0.7-1.3 in steps of 0.05 (formants and pitch +-30 %)
SPEEDS_WIDER = ((7, 10), (3, 4)) + SPEEDS_WIDE + ((5, 4), (13, 10))
SPEED_RANGES = {'kaldi': SPEEDS, 'wide': SPEEDS_WIDE, 'wider': SPEEDS_WIDER}


class CropStream(IterableDataset):
    """Each sample: a label and a source, then a file, then a random 1-s crop (re-drawn up to 3 times if below
    -45 dBFS, zero-padded at a random offset if the file is shorter), then the same random phone-channel
    augmentation for either class.

    balance='label': label 50/50, then a source of that label (weight ~ sqrt(minutes)).
    balance='source': a source uniformly among those with BOTH labels, then label 50/50 within it. Every source is
    then exactly half genuine, half synthetic, so recognising the source (room, microphone, original sample rate,
    loudness of a demo page) says nothing about the label; genuine-only or synthetic-only sources serve only as
    babble. This is the main defence against the source confound in this data.

    pairs=P: a fraction P of each batch is drawn as matched pairs instead: a genuine file and a synthetic file with
    the same `pair_key` (the same utterance: a vocoder/codec copy-synthesis of the recording, or the same text and
    target speaker through a TTS), cropped at the same offset and put through the *identical* augmentation (same
    random draws: reverb, noise, babble, gain, channel, packet loss). Within a pair the speaker, text, source page,
    recording chain and channel are shared, so the only thing that tells the two apart is how the audio was made.

    Yields (audio [B, 16000], label [B], source index [B] into `self.sources`: for the source adversary)."""

    def __init__(self, items: list[Item], store: Store, aug: AugConfig, batch: int, seed: int,
                 balance: str = 'label', pairs: float = 0.0, synthetic_shares: dict[str, float] | None = None):
        if balance not in ('label', 'source'):
            raise ValueError(f'balance must be label or source, not {balance!r}')
        if not 0.0 <= pairs <= 1.0:
            raise ValueError(f'pairs must be a fraction in [0, 1], not {pairs!r}')
        self.store, self.aug_cfg, self.batch, self.seed, self.balance = store, aug, batch, seed, balance
        self._sources = [n for n, _, _ in SOURCE_COPIES if n in store.arrays]
        self._mobile = [n for n, _, _ in MOBILE_COPIES if n in store.arrays]
        if aug.p_mobile > 0 and not self._mobile:
            raise ValueError('p_mobile > 0 needs the mobile-leg copies in the cache (cache.build(..., mobile=True))')
        self._amrwb = [n for n, _ in AMRWB_COPIES if n in store.arrays]
        if aug.p_amrwb > 0 and not self._amrwb:
            raise ValueError('p_amrwb > 0 needs the AMR-WB copies in the cache (cache.build(..., amrwb=True))')
        self._lace = [n for n, _, _ in LACE_COPIES if n in store.arrays]
        if aug.p_lace > 0 and not self._lace:
            raise ValueError('p_lace > 0 needs the LACE / NoLACE copies in the cache (cache.build(..., lace_ids=...))')
        self._denoised = [n for n, _, _ in DENOISE_COPIES if n in store.arrays]
        if aug.p_denoise > 0 and not self._denoised:
            raise ValueError('p_denoise > 0 needs the denoised copy in the cache (cache.build(..., denoise=True))')
        self.groups: dict[int, list[tuple[list[str], float]]] = {}
        by = defaultdict(list)
        for it in items:
            by[(it.y, it.source)].append(it.id)
        for y in (0, 1):
            g = [(ids, float(np.sqrt(sum(store.index[i][1] for i in ids) / SR / 60)))
                 for (yy, _), ids in sorted(by.items()) if yy == y]
            if not g:
                raise ValueError(f'no training files with label {"synthetic" if y else "genuine"}')
            self.groups[y] = g
        if synthetic_shares:
            self._fix_shares(by, synthetic_shares)
        self.genuine_ids = [it.id for it in items if it.y == 0]
        self.sources = sorted({it.source for it in items})           # index = the source id each row is yielded with
        index = {s: i for i, s in enumerate(self.sources)}
        self._source_of = {it.id: index[it.source] for it in items}
        self.mixed = [(by[(0, src)], by[(1, src)]) for src in sorted({s for _, s in by})
                      if (0, src) in by and (1, src) in by]
        if balance == 'source' and not self.mixed:
            raise ValueError('balance=source needs at least one source with both genuine and synthetic files')
        by_pair: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for it in items:
            key = (it.extra or {}).get('pair_key')
            if key:
                by_pair[f'{it.source}|{key}'][it.y].append(it.id)
        self.pair_groups = [g for _, g in sorted(by_pair.items()) if g[0] and g[1]]
        if pairs > 0 and not self.pair_groups:
            raise ValueError('pairs > 0 needs files that share a pair_key across genuine and synthetic')
        self.n_pairs = int(round(pairs * batch / 2)) if self.pair_groups else 0

    def _fix_shares(self, by: dict, shares: dict[str, float]) -> None:
        """balance='label': the synthetic sources named in `shares` get exactly that fraction of the synthetic
        (non-pair) draws; the other synthetic sources share the rest by their usual sqrt(minutes) weights."""
        if self.balance != 'label':
            raise ValueError('synthetic_shares needs balance=label')
        srcs = [src for (yy, src) in sorted(by) if yy == 1]
        unknown = set(shares) - set(srcs)
        total = sum(shares.values())
        if unknown or not 0.0 <= total < 1.0 or set(shares) == set(srcs):
            raise ValueError(f'synthetic_shares {shares}: sources must be synthetic training sources ({unknown or "ok"}), '
                             'leave at least one other, and sum to less than 1')
        g = self.groups[1]
        rest = sum(w for src, (_, w) in zip(srcs, g) if src not in shares)
        self.groups[1] = [(ids, shares[src] / (1.0 - total) * rest if src in shares else w)
                          for src, (ids, w) in zip(srcs, g)]

    def synthetic_share(self, source: str) -> float:
        """The fraction of synthetic non-pair draws that come from `source` (balance='label')."""
        w = {self.sources[self._source_of[ids[0]]]: wt for ids, wt in self.groups[1]}
        return w.get(source, 0.0) / sum(w.values())

    def _crop(self, rng: np.random.Generator, iid: str, name: str, at: int | None = None,
              length: int = WINDOW) -> np.ndarray:
        """A random crop of `length` samples (1 s) of a file (re-drawn if near-silent), or the crop starting at `at`
        when given."""
        off, n = self.store.index[iid]
        clean = self.store.arrays['clean']
        arr = self.store.arrays[name]
        if n <= length:
            out = np.zeros(length, np.float32)
            s = int(rng.integers(0, length - n + 1))
            out[s:s + n] = arr[off:off + n] / 32768.0
            return out
        if at is not None:
            s = min(at, n - length)
            return (arr[off + s:off + s + length] / 32768.0).astype(np.float32)
        for _ in range(3):
            s = int(rng.integers(0, n - length + 1))
            if rms_dbfs(clean[off + s:off + s + length] / 32768.0) >= SPEECH_DBFS:
                break
        return (arr[off + s:off + s + length] / 32768.0).astype(np.float32)

    def _speed_crop(self, rng: np.random.Generator, iid: str, name: str) -> np.ndarray:
        """_crop, speed-perturbed with probability AugConfig.p_speed when it is the clean audio (SPEEDS)."""
        p = self.aug_cfg.p_speed
        if p <= 0 or name != 'clean' or rng.random() >= p:    # no draw at p = 0: older runs replay exactly
            return self._crop(rng, iid, name)
        return self._sped_crop(rng, iid, name, self._draw_factor(rng))

    def _sped_crop(self, rng: np.random.Generator, iid: str, name: str, factor: tuple[int, int],
                   at: int | None = None) -> np.ndarray:
        """A crop of factor x 1 s (from `at` when given) resampled to one window: speed factor num / den."""
        num, den = factor
        return _to_window(resample_poly(self._crop(rng, iid, name, at, length=WINDOW * num // den), den, num))

    def _speed_factor(self, rng: np.random.Generator, name: str) -> tuple[int, int] | None:
        """The speed factor of a matched pair (AugConfig.p_pair_speed, clean audio only), or None."""
        p = self.aug_cfg.p_pair_speed
        if p <= 0 or name != 'clean' or rng.random() >= p:    # no draw at p = 0: older runs replay exactly
            return None
        return self._draw_factor(rng)

    def _draw_factor(self, rng: np.random.Generator) -> tuple[int, int]:
        factors = SPEED_RANGES[self.aug_cfg.speed_range]
        return factors[int(rng.integers(len(factors)))]

    def _babble(self, rng: np.random.Generator) -> np.ndarray:
        iid = self.genuine_ids[int(rng.integers(len(self.genuine_ids)))]
        return self._crop(rng, iid, 'clean')

    def _pick(self, rng: np.random.Generator, y: int) -> str:
        if self.balance == 'source':
            ids = self.mixed[int(rng.integers(len(self.mixed)))][y]
            return ids[int(rng.integers(len(ids)))]
        g = self.groups[y]
        w = np.array([x[1] for x in g])
        ids = g[int(rng.choice(len(g), p=w / w.sum()))][0]
        return ids[int(rng.integers(len(ids)))]

    def __iter__(self):
        info = get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        aug = Augmenter(self.aug_cfg, self._babble)
        has_opus = all(f'opus{b}' in self.store.arrays for b in OPUS_BITRATES)
        while True:
            x = np.empty((self.batch, WINDOW), np.float32)
            y = np.empty(self.batch, np.float32)
            src = np.empty(self.batch, np.int64)
            for i in range(0, 2 * self.n_pairs, 2):
                x[i], x[i + 1], src[i], src[i + 1] = self._pair(rng, aug, has_opus)
                y[i], y[i + 1] = 0, 1
            for i in range(2 * self.n_pairs, self.batch):
                lab = int(rng.random() < 0.5)
                iid = self._pick(rng, lab)
                if self._clean(rng):
                    x[i] = aug(self._crop(rng, iid, 'clean'), 'wideband', rng, plain=True)
                else:
                    ch = aug.pick_channel(rng)
                    if ch == 'opus' and not has_opus:
                        ch = 'ulaw'
                    x[i] = aug(self._speed_crop(rng, iid, self._copy_name(rng, ch)), ch, rng)
                y[i] = lab
                src[i] = self._source_of[iid]
            yield torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(src)

    def _clean(self, rng: np.random.Generator) -> bool:
        """Whether this crop stays clean and wideband (AugConfig.p_clean; no draw at 0: older runs replay exactly)."""
        p = self.aug_cfg.p_clean
        return p > 0 and rng.random() < p

    def _copy_name(self, rng: np.random.Generator, ch: str) -> str:
        """Which stored copy a crop comes from: an Opus copy for the Opus channel; otherwise, with probability
        p_source_codec, an MP3/AAC copy (the recording was stored that way before the call), else the clean audio."""
        if ch == 'opus':
            return f'opus{int(rng.choice(OPUS_BITRATES))}'
        if ch == 'mobile':
            return self._mobile[int(rng.integers(len(self._mobile)))]
        if ch == 'lace':
            return self._lace[int(rng.integers(len(self._lace)))]
        if ch == 'amrwb':
            return self._amrwb[int(rng.integers(len(self._amrwb)))]
        if self.aug_cfg.p_denoise > 0 and rng.random() < self.aug_cfg.p_denoise:   # no draw at 0: replays exactly
            return self._denoised[int(rng.integers(len(self._denoised)))]
        p = self.aug_cfg.p_source_codec
        if p > 0 and self._sources and rng.random() < p:      # no draw at p = 0: older runs replay exactly
            return self._sources[int(rng.integers(len(self._sources)))]
        return 'clean'

    def _pair(self, rng: np.random.Generator, aug: Augmenter,
              has_opus: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
        gen_ids, syn_ids = self.pair_groups[int(rng.integers(len(self.pair_groups)))]
        g = gen_ids[int(rng.integers(len(gen_ids)))]
        sy = syn_ids[int(rng.integers(len(syn_ids)))]
        n = min(self.store.index[g][1], self.store.index[sy][1])
        ch = aug.pick_channel(rng)
        if ch == 'opus' and not has_opus:
            ch = 'ulaw'
        name = self._copy_name(rng, ch)
        clean = self.store.arrays['clean']
        at = 0
        for _ in range(3):   # an offset where the genuine side has speech
            at = int(rng.integers(0, max(1, n - WINDOW + 1)))
            off = self.store.index[g][0]
            if rms_dbfs(clean[off + at:off + at + WINDOW] / 32768.0) >= SPEECH_DBFS:
                break
        factor = self._speed_factor(rng, name)
        if factor is None:
            cg, cs = self._crop(rng, g, name, at), self._crop(rng, sy, name, at)
        else:    # both sides from the same offset and length, resampled alike
            cg, cs = self._sped_crop(rng, g, name, factor, at), self._sped_crop(rng, sy, name, factor, at)
        seed = int(rng.integers(2 ** 63))
        xg = aug(cg, ch, np.random.default_rng(seed))
        xs = aug(cs, ch, np.random.default_rng(seed))
        return xg, xs, self._source_of[g], self._source_of[sy]


def _to_window(y: np.ndarray) -> np.ndarray:
    """A resampled crop cut or zero-padded to exactly one window, float32."""
    y = y.astype(np.float32)
    return y[:WINDOW] if len(y) >= WINDOW else np.pad(y, (0, WINDOW - len(y)))
