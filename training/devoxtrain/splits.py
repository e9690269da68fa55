"""Train/dev/test splits that hold out whole generators (systems) AND whole speakers.

Two ways to seed the assignment, then one conflict-resolution pass that makes the hold-out strict:

1. By source (default for the shared manifest): every file of a test source goes to test, of a dev source to dev.
   Genuine-only sources (e.g. `resemblyzer`) are split by speaker with a seeded hash instead, so genuine LibriSpeech
   is in all three splits and the model cannot use "LibriSpeech = genuine" as a shortcut that test never punishes.
2. By hash (users' corpora without a source list): speakers and generator systems are each hashed (seeded) into
   test/dev/train fractions; a genuine file goes where its speaker goes, a synthetic file is kept only where its
   speaker and its system agree (`speaker_generator_mismatch` otherwise). With every system cloning every speaker
   (ASVspoof-style), that keeps about a third of the synthetic files, the price of a strict double hold-out.

Resolution, in priority test > dev > train, repeated until nothing changes:
- a speaker that appears in a higher split pulls its genuine files up into that split; its synthetic files follow only
  if their system is already in that split, otherwise they are dropped (reason `speaker_held_out`);
- a synthetic file whose system appears in a higher split is dropped (`generator_held_out`).
Partial edits (real speech with one regenerated span, labelled synthetic) are dropped everywhere: their 1-s windows
are mostly genuine, so as window labels they are wrong (`partial_edit`). Demo files never train (`demo_sample`).
So no speaker and no system key occurs in two splits, which `check_disjoint` verifies.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
import copy
from dataclasses import dataclass, field

from .constants import DEFAULT_SEED, DEMO_IDS, DEMO_SPEAKERS
from .data import Item
from .systems import family, is_partial_edit, system_key

SPLITS = ('test', 'dev', 'train')
_RANK = {s: i for i, s in enumerate(SPLITS)}


@dataclass
class SplitConfig:
    seed: int = DEFAULT_SEED
    test_sources: tuple[str, ...] = ()
    dev_sources: tuple[str, ...] = ()
    speaker_split_sources: tuple[str, ...] = ()   # genuine-only sources split by speaker hash
    test_frac: float = 0.25                      # hash mode, and speaker_split_sources
    dev_frac: float = 0.15
    test_speakers: tuple[str, ...] = ()          # their genuine files forced into test (demo samples' speakers)
    exclude_ids: tuple[str, ...] = ()            # never train (demo samples)
    drop_partial_edits: bool = True


# The default for ../shared/data/speech: five whole demo pages for test, seven for dev (see docs/model.md for why,
# and for the run that moved indextts_demo into training: the remaining dev pages were then scored inverted).
SHARED_DEFAULT = SplitConfig(
    test_sources=('espnet_tts_sample', 'lvc_vc_demo', 'minimax_speech_demo', 'flashspeech_demo', 'mars5_demo'),
    dev_sources=('indextts_demo', 'tortoise-tts', 'maskgct_demo', 'voicestar_demo', 'fishspeech_docs',
                 'advspeech', 'sparktts'),
    speaker_split_sources=('resemblyzer',),
)



def split_config(shared: bool, seed: int) -> SplitConfig:
    """The split of train.py, evaluate.py and compare.py: the shared manifest's (whole demo pages held out, the demo
    samples and their speakers in test) or, for users' corpora, the seeded hash split."""
    if not shared:
        return SplitConfig(seed=seed)
    cfg = copy.deepcopy(SHARED_DEFAULT)
    cfg.seed, cfg.exclude_ids, cfg.test_speakers = seed, DEMO_IDS, DEMO_SPEAKERS
    return cfg


@dataclass
class SplitResult:
    split: dict[str, str]                 # item id -> 'train' | 'dev' | 'test'
    dropped: dict[str, str]               # item id -> reason
    config: SplitConfig
    notes: list[str] = field(default_factory=list)

    def items(self, items: list[Item], name: str) -> list[Item]:
        return [it for it in items if self.split.get(it.id) == name]


def _hash_unit(seed: int, key: str) -> float:
    h = hashlib.sha256(f'{seed}:{key}'.encode()).digest()
    return int.from_bytes(h[:8], 'big') / 2**64


def _by_hash(seed: int, key: str, test_frac: float, dev_frac: float) -> str:
    u = _hash_unit(seed, key)
    return 'test' if u < test_frac else 'dev' if u < test_frac + dev_frac else 'train'


def assign_splits(items: list[Item], cfg: SplitConfig) -> SplitResult:
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError('item ids must be unique')
    split: dict[str, str] = {}
    dropped: dict[str, str] = {}
    by_source = bool(cfg.test_sources or cfg.dev_sources)
    for it in items:
        if cfg.drop_partial_edits and it.label == 'synthetic' and is_partial_edit(it.generator):
            dropped[it.id] = 'partial_edit'
            continue
        if it.label == 'genuine' and it.speaker in cfg.test_speakers:
            split[it.id] = 'test'
        elif by_source and it.source in cfg.test_sources:
            split[it.id] = 'test'
        elif by_source and it.source in cfg.dev_sources:
            split[it.id] = 'dev'
        elif by_source and it.source not in cfg.speaker_split_sources:
            split[it.id] = 'train'
        else:
            s_spk = _by_hash(cfg.seed, 'spk:' + it.speaker, cfg.test_frac, cfg.dev_frac)
            key = system_key(it.generator)
            if it.label == 'synthetic' and key not in ('', 'unknown'):
                # speakers and systems are hashed independently; a synthetic file whose speaker and system landed
                # in different splits cannot be used anywhere without leaking one of them
                if _by_hash(cfg.seed, 'sys:' + key, cfg.test_frac, cfg.dev_frac) != s_spk:
                    dropped[it.id] = 'speaker_generator_mismatch'
                    continue
            split[it.id] = s_spk

    live = {it.id: it for it in items if it.id in split}
    changed = True
    while changed:
        changed = False
        spk_top: dict[str, int] = {}
        sys_top: dict[str, int] = {}
        for iid, it in live.items():
            r = _RANK[split[iid]]
            spk_top[it.speaker] = min(spk_top.get(it.speaker, 9), r)
            if it.label == 'synthetic':
                k = system_key(it.generator)
                sys_top[k] = min(sys_top.get(k, 9), r)
        for iid in list(live):
            it = live[iid]
            r = _RANK[split[iid]]
            k = system_key(it.generator)
            if spk_top[it.speaker] < r:
                target = spk_top[it.speaker]
                if it.label == 'genuine' or sys_top.get(k) == target:
                    split[iid] = SPLITS[target]
                else:
                    dropped[iid] = 'speaker_held_out'
                    del split[iid]
                    del live[iid]
                changed = True
            elif it.label == 'synthetic' and sys_top[k] < r:
                dropped[iid] = 'generator_held_out'
                del split[iid]
                del live[iid]
                changed = True

    for iid in cfg.exclude_ids:
        if split.get(iid) == 'train':
            dropped[iid] = 'demo_sample'
            del split[iid]
    res = SplitResult(split=split, dropped=dropped, config=cfg)
    check_disjoint(items, res)
    return res


def check_disjoint(items: list[Item], res: SplitResult) -> None:
    """Raise if any speaker or system key occurs in two splits."""
    spk: dict[str, set[str]] = defaultdict(set)
    sys_: dict[str, set[str]] = defaultdict(set)
    for it in items:
        s = res.split.get(it.id)
        if s is None:
            continue
        spk[it.speaker].add(s)
        if it.label == 'synthetic':
            sys_[system_key(it.generator)].add(s)
    bad_spk = {k: v for k, v in spk.items() if len(v) > 1}
    bad_sys = {k: v for k, v in sys_.items() if len(v) > 1}
    if bad_spk or bad_sys:
        raise AssertionError(f'split leak: speakers {bad_spk} systems {bad_sys}')


def summarize(items: list[Item], res: SplitResult) -> dict:
    out: dict = {'seed': res.config.seed, 'splits': {}, 'dropped': dict(Counter(res.dropped.values()))}
    for name in SPLITS:
        its = res.items(items, name)
        out['splits'][name] = {
            'files': {lab: sum(1 for i in its if i.label == lab) for lab in ('genuine', 'synthetic')},
            'minutes': {lab: round(sum(i.duration_s for i in its if i.label == lab) / 60, 1)
                        for lab in ('genuine', 'synthetic')},
            'speakers': len({i.speaker for i in its}),
            'systems': sorted({system_key(i.generator) for i in its if i.label == 'synthetic'}),
            'families': sorted({family(i.generator) for i in its if i.label == 'synthetic'}),
            'sources': sorted({i.source for i in its}),
        }
    return out
