"""Decode every file once to 16 kHz int16 and precompute the codec copies of the training audio.

Layout under training/cache/<key>/ (gitignored): `<split>_clean.npy` (all files of the split concatenated),
`train_opus{8,16,24}.npy` (the same samples through libopus), `train_mp3_{24,48}.npy` / `train_aac_32.npy` (through
MP3 / AAC), `index.json` (id -> split, offset, length); on request the mobile-leg, RNNoise and LACE / NoLACE copies
(the last only for the files a run trains on, listed in `<split>_<name>.ids.json`). The key hashes the file list (each file's size and its first
and last 64 KiB, not its mtime: a corpus copied or re-mounted elsewhere keeps its cache, and hashing stays cheap for
corpora of many GB), the caps and the code version, so a changed corpus rebuilds; a copy missing from an existing
cache is computed on the next run.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from . import amrwb, channel
from .constants import SR
from .data import Item

CACHE_VERSION = 2
OPUS_BITRATES = (8, 16, 24)
# Perceptual-codec copies of the source recording (name, codec, kbps): MP3 and AAC are how audiobooks, podcasts,
# videos and demo pages store speech, so both classes must carry them alike (LibriSpeech came from MP3 and is
# genuine-only here: without them the model learns "MP3 artefacts = genuine", measured in docs/model.md).
SOURCE_COPIES = (('mp3_24', 'mp3', 24), ('mp3_48', 'mp3', 48), ('aac_32', 'aac', 32))
# Mobile legs as a SIP trunk receives them (name, codec, sox AMR-NB mode): AMR-NB 12.2 / 5.9 kbps or GSM-FR, then
# G.711 mu-law at the interconnect (channel.mobile_channel). Computed only for runs that ask for them (--mobile).
MOBILE_COPIES = (('amr12', 'amrnb', 7), ('amr59', 'amrnb', 2), ('gsm', 'gsm', 0))
# HD-voice mobile legs (name, AMR-WB mode; amrwb.roundtrip through Debian's libvo-amrwbenc0 / libopencore-amrwb0):
# AMR-WB 12.65 kbps (VoLTE's usual mode) and 6.60 kbps (poor radio), decoded at 16 kHz. The tandem to G.711 at the
# interconnect is drawn per crop by the augmenter (AugConfig.amrwb_tandem), so one copy serves both bands.
# Computed only for runs that ask for them (--amrwb).
AMRWB_COPIES = (('amrwb12', 2), ('amrwb6', 0))
# Neural processing before the leg (name, mode, kbps; channel.neural_channel): RNNoise denoising as a softphone or an
# agent's headset software applies it. Computed only for runs that ask for it (--denoise).
DENOISE_COPIES = (('rnnoise', 'rnnoise', 0),)
# Opus 1.5 decoded with its neural speech enhancement (name, mode, kbps; channel.neural_channel, npm
# @wasm-audio-decoders/opus-ml): LACE / NoLACE act on 16-kHz SILK frames only, i.e. at 12-16 kbps (at 6-9 kbps the
# output equals plain decoding). Computed only for the files that train in a run that asks for them (--lace): each
# copy's `<split>_<name>.ids.json` lists the files it holds; every other file's span is the clean audio, and a later
# run (another fold) adds its missing training files. Regenerate by deleting the copies; train.py --lace recomputes.
LACE_COPIES = (('lace12', 'lace', 12), ('lace16', 'lace', 16), ('nolace12', 'nolace', 12), ('nolace16', 'nolace', 16))


def copy_names(mobile: bool = False, denoise: bool = False, amrwb: bool = False) -> list[str]:
    names = [f'opus{b}' for b in OPUS_BITRATES] + [n for n, _, _ in SOURCE_COPIES]
    if mobile:
        names += [n for n, _, _ in MOBILE_COPIES]
    if denoise:
        names += [n for n, _, _ in DENOISE_COPIES]
    if amrwb:
        names += [n for n, _ in AMRWB_COPIES]
    return names


def _encode(name: str, piece: np.ndarray) -> np.ndarray:
    if name.startswith('opus'):
        return channel.opus_channel(piece, int(name[4:]))
    neural = next(((m, k) for n, m, k in DENOISE_COPIES + LACE_COPIES if n == name), None)
    if neural is not None:
        return channel.neural_channel(piece, neural[0], neural[1])
    hd = next((m for n, m in AMRWB_COPIES if n == name), None)
    if hd is not None:
        return amrwb.roundtrip(piece, hd)
    mobile = next(((c, m) for n, c, m in MOBILE_COPIES if n == name), None)
    if mobile is not None:
        return channel.mobile_channel(piece, mobile[0], mobile[1])
    codec, kbps = next((c, b) for n, c, b in SOURCE_COPIES if n == name)
    return channel.source_codec(piece, codec, kbps)


def load_audio(path: str, max_sec: float | None = None) -> np.ndarray:
    """Mono float32 at 16 kHz (resampled with a polyphase filter when the file is at another rate)."""
    info = sf.info(path)
    frames = -1 if max_sec is None else int(max_sec * info.samplerate)
    x, sr = sf.read(path, frames=frames, dtype='float32', always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        g = gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g).astype(np.float32)
        if max_sec is not None:
            x = x[:int(max_sec * SR)]
    return x


@dataclass
class Store:
    """Concatenated audio of one split: `arrays[name]` int16, `index[id] = (offset, length)`."""
    arrays: dict[str, np.ndarray]
    index: dict[str, tuple[int, int]]

    def get(self, iid: str, name: str = 'clean') -> np.ndarray:
        off, n = self.index[iid]
        return self.arrays[name][off:off + n]


_EDGE = 64 << 10


def _fingerprint(path: str) -> str:
    """Size and a hash of the first and last 64 KiB of a file: what a changed or re-encoded file changes."""
    h = hashlib.blake2b(digest_size=12)
    with open(path, 'rb') as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(fh.read(_EDGE))
        if size > 2 * _EDGE:
            fh.seek(size - _EDGE)
        h.update(fh.read(_EDGE))
    return f'{size}:{h.hexdigest()}'


def _key(items_by_split: dict[str, list[Item]], caps: dict[str, float], opus: bool) -> str:
    h = hashlib.sha256(f'v{CACHE_VERSION}:{caps}:{opus}'.encode())
    for split in sorted(items_by_split):
        for it in items_by_split[split]:
            h.update(f'{split}|{it.id}|{_fingerprint(it.path)}\n'.encode())
    return h.hexdigest()[:16]


def build(items_by_split: dict[str, list[Item]], cache_dir: str | os.PathLike, caps: dict[str, float],
          copies_for: tuple[str, ...] = ('train',), log=print, mobile: bool = False,
          denoise: bool = False, lace_ids: list[str] | None = None, amrwb: bool = False) -> dict[str, Store]:
    """mobile / denoise / amrwb: also the mobile-leg (MOBILE_COPIES) / denoised (DENOISE_COPIES) / AMR-WB
    (AMRWB_COPIES) copies of `copies_for`.
    lace_ids: also the Opus 1.5 LACE / NoLACE copies (LACE_COPIES) of `copies_for`, computed for these files only
    (the ones a run trains on); the other files' spans hold their clean audio."""
    key = _key(items_by_split, caps, bool(copies_for))
    root = Path(cache_dir) / key
    done = root / 'index.json'
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        index: dict[str, dict[str, tuple[int, int]]] = {}
        for split, items in items_by_split.items():
            # resumable: a split whose clean audio / Opus copy is already on disk is not recomputed
            t0 = time.time()
            idx_file, clean_file = root / f'{split}_index.json', root / f'{split}_clean.npy'
            if idx_file.exists() and clean_file.exists():
                idx = {k: tuple(v) for k, v in json.loads(idx_file.read_text()).items()}
                clean = np.load(clean_file)
            else:
                chunks, idx, off = [], {}, 0
                for it in items:
                    q = channel.to_int16(load_audio(it.path, caps.get(split)))
                    chunks.append(q)
                    idx[it.id] = (off, len(q))
                    off += len(q)
                clean = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
                np.save(clean_file, clean)
                idx_file.write_text(json.dumps(idx))
                log(f'cache: {split}: {len(items)} files, {off / SR / 60:.1f} min decoded in {time.time() - t0:.0f}s')
            index[split] = idx
        done.write_text(json.dumps(index))
    index = json.loads(done.read_text())
    for split in copies_for:
        if split in index:
            _copies(root, split, log, mobile, denoise, amrwb)
            if lace_ids:
                _partial_copies(root, split, index[split], lace_ids, LACE_COPIES, log)
    stores: dict[str, Store] = {}
    for split, idx in index.items():
        arrays = {'clean': np.load(root / f'{split}_clean.npy', mmap_mode='r')}
        if split in copies_for:
            for name in copy_names(mobile, denoise, amrwb):
                arrays[name] = np.load(root / f'{split}_{name}.npy', mmap_mode='r')
            if lace_ids:
                for name, _, _ in LACE_COPIES:
                    arrays[name] = np.load(root / f'{split}_{name}.npy', mmap_mode='r')
        stores[split] = Store(arrays=arrays, index={k: (int(v[0]), int(v[1])) for k, v in idx.items()})
    return stores


def _copies(root: Path, split: str, log, mobile: bool = False, denoise: bool = False, amrwb: bool = False) -> None:
    """The codec copies of a split's clean audio that are not on disk yet (resumable, atomic per copy)."""
    clean = None
    for name in copy_names(mobile, denoise, amrwb):
        target = root / f'{split}_{name}.npy'
        if target.exists():
            continue
        t0 = time.time()
        if clean is None:
            clean = np.load(root / f'{split}_clean.npy', mmap_mode='r')
        out = np.empty_like(clean)
        step = SR * 600                                          # 10-min pieces through ffmpeg
        for s in range(0, len(clean), step):
            piece = clean[s:s + step].astype(np.float32) / 32768.0
            out[s:s + step] = channel.to_int16(_encode(name, piece))
        tmp = root / f'{split}_{name}.tmp.npy'
        np.save(tmp, out)
        tmp.rename(target)
        log(f'cache: {split}: {name} copy in {time.time() - t0:.0f}s')


def _partial_copies(root: Path, split: str, index: dict, ids: list[str], copies: tuple, log) -> None:
    """Copies of `ids` only (e.g. LACE_COPIES of a fold's training files): `<split>_<name>.npy` is as long as the
    clean audio, the spans of `ids` processed, every other span the clean audio; `<split>_<name>.ids.json` lists the
    processed files. Files missing from an existing copy are added (resumable, atomic per copy). The files' spans are
    processed back to back in 10-min pieces (the codec state runs on across file boundaries, as in _copies)."""
    clean = None
    want = [i for i in ids if i in index]
    for name, _, _ in copies:
        target, listed = root / f'{split}_{name}.npy', root / f'{split}_{name}.ids.json'
        have = set(json.loads(listed.read_text())) if target.exists() and listed.exists() else set()
        todo = sorted((i for i in set(want) - have), key=lambda i: index[i][0])
        if not todo:
            continue
        t0 = time.time()
        if clean is None:
            clean = np.load(root / f'{split}_clean.npy', mmap_mode='r')
        out = np.array(np.load(target, mmap_mode='r')) if have else np.array(clean)
        spans = [(int(index[i][0]), int(index[i][1])) for i in todo]
        joined = np.concatenate([clean[o:o + n] for o, n in spans])
        done = np.empty_like(joined)
        step = SR * 600
        for s in range(0, len(joined), step):
            done[s:s + step] = channel.to_int16(_encode(name, joined[s:s + step].astype(np.float32) / 32768.0))
        at = 0
        for o, n in spans:
            out[o:o + n] = done[at:at + n]
            at += n
        tmp = root / f'{split}_{name}.tmp.npy'
        np.save(tmp, out)
        tmp.rename(target)
        listed.write_text(json.dumps(sorted(have | set(todo))))   # after the rename: the list never claims more
        log(f'cache: {split}: {name} copy of {len(todo)} files ({at / SR / 60:.1f} min) in {time.time() - t0:.0f}s')


def merge(a: Store, b: Store) -> Store:
    """One Store over two (the corpus and generated paired fakes): the arrays both have, concatenated in memory."""
    names = [n for n in a.arrays if n in b.arrays]
    arrays = {n: np.concatenate([np.asarray(a.arrays[n]), np.asarray(b.arrays[n])]) for n in names}
    base = len(a.arrays['clean'])
    index = dict(a.index)
    for k, (off, n) in b.index.items():
        if k in index:
            raise ValueError(f'cache merge: {k} is in both stores')
        index[k] = (off + base, n)
    return Store(arrays=arrays, index=index)
