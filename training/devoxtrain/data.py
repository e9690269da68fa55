"""Corpus readers: the shared manifest, ASVspoof-style protocol files, In-the-Wild meta.csv, folder-per-label.

Every reader returns a list of `Item`s with absolute audio paths and the labels 'genuine' / 'synthetic', so the
rest of the pipeline (splits, cache, training, evaluation) does not care where a corpus came from.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTS = ('.flac', '.wav', '.ogg', '.mp3')
GENUINE_DIRS = {'genuine', 'bonafide', 'bona-fide', 'real'}
SYNTHETIC_DIRS = {'synthetic', 'spoof', 'fake'}


class CorpusError(ValueError):
    """A corpus description (manifest, protocol, meta.csv, folder) that cannot be read as stated."""


@dataclass
class Item:
    id: str                 # unique within the corpus (relative path or protocol file id)
    path: str               # absolute path to the audio file
    label: str              # 'genuine' | 'synthetic'
    speaker: str
    generator: str = ''     # '' for genuine
    source: str = ''
    corpus: str = ''
    duration_s: float = 0.0
    license: str = ''
    extra: dict = field(default_factory=dict)

    @property
    def y(self) -> int:
        return 1 if self.label == 'synthetic' else 0


def _norm_label(raw: str, where: str) -> str:
    v = raw.strip().lower()
    if v in ('genuine', 'bonafide', 'bona-fide', 'bona_fide', 'real', '0'):
        return 'genuine'
    if v in ('synthetic', 'spoof', 'fake', '1'):
        return 'synthetic'
    raise CorpusError(f'{where}: unknown label {raw!r} (expected genuine/bonafide/bona-fide or synthetic/spoof)')


def read_manifest(manifest_csv: str | os.PathLike) -> list[Item]:
    """The shared data manifest (path,label,generator,speaker,source,corpus,orig_sample_rate,duration_s,...)."""
    manifest_csv = Path(manifest_csv)
    root = manifest_csv.parent
    items: list[Item] = []
    with open(manifest_csv, newline='') as fh:
        reader = csv.DictReader(fh)
        need = {'path', 'label', 'speaker'}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise CorpusError(f'{manifest_csv}: needs columns {sorted(need)}, has {reader.fieldnames}')
        for n, r in enumerate(reader, start=2):
            items.append(Item(
                id=r['path'], path=str((root / r['path']).resolve()),
                label=_norm_label(r['label'], f'{manifest_csv}:{n}'), speaker=r['speaker'],
                generator=r.get('generator', '') or '', source=r.get('source', '') or '',
                corpus=r.get('corpus', '') or '', duration_s=float(r.get('duration_s') or 0.0),
                license=r.get('license', '') or '',
                extra={'pair_key': r.get('pair_key', ''), 'orig_sample_rate': r.get('orig_sample_rate', ''),
                       'condition': r.get('condition', ''), 'stored_codec': r.get('stored_codec', '')}))
    return items


def _find_audio(base: Path, stem: str) -> Path:
    direct = base / stem
    if direct.suffix.lower() in AUDIO_EXTS and direct.is_file():
        return direct
    for ext in AUDIO_EXTS:
        p = base / (stem + ext)
        if p.is_file():
            return p
    for sub in ('flac', 'wav'):
        for ext in AUDIO_EXTS:
            p = base / sub / (stem + ext)
            if p.is_file():
                return p
    raise CorpusError(f'no audio file for {stem!r} under {base} (tried {", ".join(AUDIO_EXTS)}, flac/, wav/)')


def read_protocol(protocol_txt: str | os.PathLike, audio_dir: str | os.PathLike, source: str = '') -> list[Item]:
    """ASVspoof-style protocol: whitespace-separated `SPEAKER FILE ... SYSTEM bonafide|spoof ...`.

    Works for 2019 LA (`LA_0079 LA_T_1138215 - - bonafide`), 2021 (`LA_0009 LA_E_9332881 alaw ita_tx A07 spoof
    notrim eval`) and ASVspoof 5 style lines: the label is the token that reads bonafide/spoof, the system the token
    before it ('-' for bona fide).
    """
    protocol_txt, audio_dir = Path(protocol_txt), Path(audio_dir)
    items: list[Item] = []
    with open(protocol_txt) as fh:
        for n, line in enumerate(fh, start=1):
            tok = line.split()
            if not tok or tok[0].startswith('#'):
                continue
            idx = next((i for i, t in enumerate(tok) if t.lower() in ('bonafide', 'bona-fide', 'spoof')), -1)
            if idx < 2:
                raise CorpusError(f'{protocol_txt}:{n}: expected "SPEAKER FILE ... SYSTEM bonafide|spoof", got {line.strip()!r}')
            label = _norm_label(tok[idx], f'{protocol_txt}:{n}')
            system = tok[idx - 1] if idx - 1 >= 2 else '-'
            generator = '' if label == 'genuine' or system == '-' else system
            if label == 'synthetic' and not generator:
                generator = 'unknown'
            items.append(Item(id=tok[1], path=str(_find_audio(audio_dir, tok[1]).resolve()), label=label,
                              speaker=tok[0], generator=generator, source=source or protocol_txt.stem))
    return items


def read_meta_csv(meta_csv: str | os.PathLike, audio_dir: str | os.PathLike | None = None,
                  source: str = '') -> list[Item]:
    """In-the-Wild style meta.csv with columns file,speaker,label (label 'bona-fide' or 'spoof')."""
    meta_csv = Path(meta_csv)
    base = Path(audio_dir) if audio_dir else meta_csv.parent
    items: list[Item] = []
    with open(meta_csv, newline='') as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {'file', 'speaker', 'label'} <= set(reader.fieldnames):
            raise CorpusError(f'{meta_csv}: needs columns file,speaker,label, has {reader.fieldnames}')
        for n, r in enumerate(reader, start=2):
            label = _norm_label(r['label'], f'{meta_csv}:{n}')
            p = base / r['file']
            if not p.is_file():
                raise CorpusError(f'{meta_csv}:{n}: audio file {p} does not exist')
            items.append(Item(id=r['file'], path=str(p.resolve()), label=label, speaker=r['speaker'].strip(),
                              generator='unknown' if label == 'synthetic' else '',
                              source=source or meta_csv.parent.name))
    return items


def read_folders(root: str | os.PathLike, source: str = '') -> list[Item]:
    """A folder per label: root/{genuine|bonafide|real}/... and root/{synthetic|spoof|fake}/....

    Below a synthetic folder, the first sub-folder names the generator (synthetic/<generator>/x.wav); a file's speaker
    is the part of its name before the first '_' (`spk12_0003.wav` -> `spk12`), else the whole stem (one speaker per
    file, which makes speaker hold-out a file hold-out — name files SPEAKER_xxx to get real speaker hold-out).
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f'{root} is not a directory')
    items: list[Item] = []
    for top in sorted(root.iterdir()):
        if not top.is_dir():
            continue
        name = top.name.lower()
        if name in GENUINE_DIRS:
            label = 'genuine'
        elif name in SYNTHETIC_DIRS:
            label = 'synthetic'
        else:
            continue
        for p in sorted(top.rglob('*')):
            if p.suffix.lower() not in AUDIO_EXTS or not p.is_file():
                continue
            rel = p.relative_to(top)
            generator = ''
            if label == 'synthetic':
                generator = rel.parts[0] if len(rel.parts) > 1 else 'unknown'
            stem = p.stem
            speaker = stem.split('_')[0] if '_' in stem else stem
            items.append(Item(id=str(p.relative_to(root)), path=str(p.resolve()), label=label, speaker=speaker,
                              generator=generator, source=source or root.name))
    if not items:
        raise CorpusError(f'{root}: no audio under genuine|bonafide|real/ or synthetic|spoof|fake/')
    return items


def read_corpus(spec: str) -> list[Item]:
    """One corpus from a command-line spec:
    `manifest:PATH.csv`, `protocol:PROTOCOL.txt:AUDIO_DIR`, `meta:META.csv[:AUDIO_DIR]`, `folders:ROOT`,
    or a bare path (a .csv with a `path` column is a manifest, with a `file` column a meta.csv; a directory is
    folder-per-label)."""
    kind, _, rest = spec.partition(':')
    if kind == 'manifest':
        return read_manifest(rest)
    if kind == 'protocol':
        proto, _, audio = rest.partition(':')
        if not audio:
            raise CorpusError(f'{spec}: protocol needs protocol:FILE:AUDIO_DIR')
        return read_protocol(proto, audio)
    if kind == 'meta':
        meta, _, audio = rest.partition(':')
        return read_meta_csv(meta, audio or None)
    if kind == 'folders':
        return read_folders(rest)
    p = Path(spec)
    if p.is_dir():
        return read_folders(p)
    if p.suffix == '.csv' and p.is_file():
        with open(p, newline='') as fh:
            header = next(csv.reader(fh), [])
        if 'path' in header:
            return read_manifest(p)
        if 'file' in header:
            return read_meta_csv(p)
    raise CorpusError(f'cannot tell what kind of corpus {spec!r} is (use manifest:, protocol:, meta: or folders:)')
