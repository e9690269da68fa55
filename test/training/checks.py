#!/usr/bin/env python3
"""Measurements behind test/training/*.test.ts (the test oracles of training/devoxtrain). Each sub-command prints one
JSON object; the tap tests assert on it. Run from the repository root with training/ on the import path (what
test/training/python.ts does), or with the devoxtrain package installed (pip install -e training):

    PYTHONPATH=training python3 test/training/checks.py SUBCOMMAND [ARGS]

    readers TMPDIR     # writes tiny wav/flac fixtures + protocol/meta/folders, reads them
    splits             # split properties on the shared manifest and a hash-mode corpus
    augment            # what each augmentation does to a signal, measured
    g711               # G.711 tables (compared with alawmulaw in the TS test)
    pairs              # matched-pair batches: same offset, identical augmentation
    cache-key          # the cache key follows the audio (not mtimes or paths)
    bootstrap          # file-level bootstrap intervals of the EER
    adversary          # source adversary: gradient reversal, conditional head, ramp
    parity [MODEL_DIR] [--dump F32] [--variant default|oc|narrowband|phase|asp]  # PyTorch vs ort
    vocoder            # the small vocoders: shapes, exact inverse STFT, chunked = whole, resynthesis manifest
    extra-synthetic    # CropStream's fixed share of synthetic draws for extra (unpaired) sources
    debian-tts         # synth_debian_tts.py: a few files per engine, 16 kHz, level, manifest (needs the Debian TTS)
    sourcefilter       # resynth_sourcefilter.py: the mel-cepstral source-filter vocoder and its paired manifest
    speed              # the sampler's speed perturbation: pitch x f, 1 s, nothing drawn when off
    pair-speed         # the same on matched pairs: one factor for both sides
    mixup              # train.py --mixup: convex mixes of a batch, labels mixed alike, seeded
    fmin               # train.py --fmin: the filterbank reads nothing below it, the card says so
    asp                # train.py --pool asp: uniform weights = mean/std pooling; weights follow the scorer
    vtlp               # train.py --vtlp: warped filterbanks move a tone's band by alpha; draws; never exported

The augmentation oracle lives in checks_augment.py, the generated-data ones (vocoder, extra-synthetic, debian-tts,
sourcefilter) in checks_generated.py, the training options' (adversary, mixup, fmin, asp, vtlp) in
checks_options.py, the synthetic test signal in checks_signals.py; this file dispatches.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain import augment, channel
from devoxtrain.constants import SHARED_MANIFEST, SR
from devoxtrain.data import CorpusError, Item, read_corpus, read_folders, read_manifest, read_meta_csv, read_protocol
from devoxtrain.splits import SHARED_DEFAULT, SplitConfig, assign_splits
from devoxtrain.systems import system_key

from checks_augment import cmd_augment
from checks_generated import cmd_debian_tts, cmd_extra_synthetic, cmd_sourcefilter, cmd_vocoder
from checks_options import cmd_adversary, cmd_asp, cmd_fmin, cmd_mixup, cmd_vtlp
from checks_sampler import cmd_pair_speed, cmd_speed
from checks_signals import speechlike as _speechlike


def _tone(sec=0.5, f=440.0, amp=0.3):
    t = np.arange(int(sec * SR)) / SR
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _brief(items: list[Item]) -> list[dict]:
    return [{'id': it.id, 'label': it.label, 'speaker': it.speaker, 'generator': it.generator, 'source': it.source,
             'exists': os.path.isfile(it.path)} for it in items]


def _error(fn) -> str | None:
    try:
        fn()
    except CorpusError as e:
        return f'CorpusError: {e}'
    return None


def cmd_readers(tmp: str) -> dict:
    d = Path(tmp)
    (d / 'flac').mkdir(parents=True, exist_ok=True)
    for name in ('LA_T_0001', 'LA_T_0002', 'LA_E_0003'):
        sf.write(d / 'flac' / f'{name}.flac', _tone(), SR)
    (d / 'proto.txt').write_text('LA_0079 LA_T_0001 - - bonafide\n'
                                 'LA_0080 LA_T_0002 - A07 spoof\n'
                                 '\n'
                                 'LA_0009 LA_E_0003 alaw ita_tx A13 spoof notrim eval\n')
    (d / 'itw').mkdir(exist_ok=True)
    for name in ('0.wav', '1.wav', '2.wav'):
        sf.write(d / 'itw' / name, _tone(f=300), SR)
    (d / 'itw' / 'meta.csv').write_text('file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness,bona-fide\n'
                                        '2.wav,Barack Obama,bona-fide\n')
    for rel in ('folders/bonafide/spk1_a.wav', 'folders/spoof/genA/spk1_b.wav', 'folders/spoof/genB/spk2_c.flac',
                'folders/notes/ignored.wav'):
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, _tone(f=500), SR)
    (d / 'man').mkdir(exist_ok=True)
    sf.write(d / 'man' / 'g.flac', _tone(), SR)
    sf.write(d / 'man' / 's.flac', _tone(), SR)
    (d / 'man' / 'manifest.csv').write_text('path,label,generator,speaker,source\ng.flac,genuine,,s1,x\n'
                                            's.flac,synthetic,VALL-E X,s1,x\n')
    (d / 'bad').mkdir(exist_ok=True)
    (d / 'bad' / 'meta.csv').write_text('file,speaker,label\n0.wav,A,maybe\n')
    (d / 'bad' / 'missing.csv').write_text('file,speaker,label\nnope.wav,A,spoof\n')
    (d / 'bad' / 'proto.txt').write_text('LA_0079 LA_T_0001 - -\n')
    return {
        'protocol': _brief(read_protocol(d / 'proto.txt', d)),
        'meta': _brief(read_meta_csv(d / 'itw' / 'meta.csv')),
        'folders': _brief(read_folders(d / 'folders')),
        'manifest': _brief(read_manifest(d / 'man' / 'manifest.csv')),
        'auto': {'folders': len(read_corpus(str(d / 'folders'))), 'meta': len(read_corpus(str(d / 'itw' / 'meta.csv'))),
                 'protocol': len(read_corpus(f'protocol:{d / "proto.txt"}:{d}'))},
        'errors': {
            'bad_label': _error(lambda: read_meta_csv(d / 'bad' / 'meta.csv', d / 'itw')),
            'missing_file': _error(lambda: read_meta_csv(d / 'bad' / 'missing.csv')),
            'bad_protocol_line': _error(lambda: read_protocol(d / 'bad' / 'proto.txt', d)),
            'no_labels_folder': _error(lambda: read_folders(d / 'itw')),
            'unknown_spec': _error(lambda: read_corpus(str(d / 'proto.txt'))),
        },
    }


def _leaks(items: list[Item], res) -> dict:
    spk, sys_ = {}, {}
    for it in items:
        s = res.split.get(it.id)
        if s is None:
            continue
        spk.setdefault(it.speaker, set()).add(s)
        if it.label == 'synthetic':
            sys_.setdefault(system_key(it.generator), set()).add(s)
    return {'speakers_in_two_splits': sorted(k for k, v in spk.items() if len(v) > 1),
            'systems_in_two_splits': sorted(k for k, v in sys_.items() if len(v) > 1)}


def cmd_splits() -> dict:
    out: dict = {}
    if SHARED_MANIFEST.exists():
        items = read_manifest(SHARED_MANIFEST)
        res = assign_splits(items, SHARED_DEFAULT)
        res2 = assign_splits(items, SHARED_DEFAULT)
        by = {s: res.items(items, s) for s in ('train', 'dev', 'test')}
        out['shared'] = {
            **_leaks(items, res),
            'deterministic': res.split == res2.split,
            'counts': {s: len(v) for s, v in by.items()},
            'labels': {s: sorted({i.label for i in v}) for s, v in by.items()},
            'partial_edits_kept': sum(1 for it in items if res.split.get(it.id) and 'edit(partial)' in it.generator),
            'dropped': len(res.dropped),
            'files_in_two_splits': 0,
        }
    # a synthetic hash-mode corpus: 40 speakers, 12 systems, including a partial edit system
    rng = np.random.default_rng(0)
    items = []
    for i in range(400):
        spk = f'spk{int(rng.integers(40))}'
        if rng.random() < 0.4:
            items.append(Item(id=f'g{i}', path='', label='genuine', speaker=spk))
        else:
            gen = ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A09', 'A10', 'A11',
                   'VoiceCraft-edit(partial)'][int(rng.integers(12))]
            items.append(Item(id=f's{i}', path='', label='synthetic', speaker=spk, generator=gen))
    res = assign_splits(items, SplitConfig(seed=7))
    out['hash_mode'] = {**_leaks(items, res),
                        'counts': {s: len(res.items(items, s)) for s in ('train', 'dev', 'test')},
                        'partial_edits_kept': sum(1 for it in items if res.split.get(it.id) and 'partial' in it.generator),
                        'dropped': {r: list(res.dropped.values()).count(r) for r in set(res.dropped.values())}}
    return out


def cmd_pairs() -> dict:
    """CropStream(pairs=1.0) on a store where each pair's genuine and synthetic audio are the same samples: if the
    pair is cropped at the same offset and augmented with identical draws, the two rows come out bit-identical.
    Group A and group B hold different audio, and an unpaired file holds a third; pairs never mix groups."""
    from devoxtrain.augment import AugConfig
    from devoxtrain.cache import OPUS_BITRATES, Store
    from devoxtrain.sampler import CropStream
    rng = np.random.default_rng(11)
    sigs = {k: channel.to_int16(augment.normalize_loudness(_speechlike(rng, 3.0 + i))) for i, k in enumerate('ABU')}
    items, parts, index, off = [], [], {}, 0
    for iid, key, lab in (('a-gen', 'A', 'genuine'), ('a-syn', 'A', 'synthetic'), ('b-gen', 'B', 'genuine'),
                          ('b-syn', 'B', 'synthetic'), ('u-syn', 'U', 'synthetic')):
        extra = {'pair_key': key} if key != 'U' else {}
        items.append(Item(id=iid, path=iid, label=lab, speaker=key, source=f'page{key}', extra=extra))
        parts.append(sigs[key])
        index[iid] = (off, len(sigs[key]))
        off += len(sigs[key])
    clean = np.concatenate(parts)
    arrays = {'clean': clean, **{f'opus{b}': clean for b in OPUS_BITRATES}}
    stream = CropStream(items, Store(arrays=arrays, index=index), AugConfig(), batch=8, seed=5, pairs=1.0)
    batches = iter(stream)
    rows, labels, identical, distinct_pairs, source_ok = 0, [], 0, 0, 0
    for _ in range(6):
        x, y, src = next(batches)
        x, y, src = x.numpy(), y.numpy(), src.numpy()
        labels.append(y.tolist())
        for i in range(0, len(x), 2):
            rows += 1
            identical += int(np.array_equal(x[i], x[i + 1]))
            # both rows of a pair carry the index of their (shared) page; the unpaired page never appears
            source_ok += int(src[i] == src[i + 1] and stream.sources[src[i]] in ('pageA', 'pageB'))
            if i >= 2 and not np.array_equal(x[i], x[i - 2]):
                distinct_pairs += 1
    try:
        CropStream([it for it in items if 'pair_key' not in it.extra] + [items[0]], Store(arrays=arrays, index=index),
                   AugConfig(), batch=8, seed=5, pairs=0.5)
        no_pairs_error = None
    except ValueError as e:
        no_pairs_error = str(e)
    # unpaired rows: genuine audio only from page A, synthetic only from page U -> the yielded source follows the label
    one_each = CropStream([items[0], items[4]], Store(arrays=arrays, index=index), AugConfig(), batch=16, seed=5)
    _, y1, s1 = next(iter(one_each))
    pages_by_label = sorted({(int(a), one_each.sources[b]) for a, b in zip(y1.numpy(), s1.numpy())})
    return {'pairs': rows, 'identical_pairs': identical, 'distinct_consecutive_pairs': distinct_pairs,
            'labels': labels, 'groups': len(stream.pair_groups), 'no_pairs_error': no_pairs_error,
            'sources': stream.sources, 'pairs_with_their_page': source_ok, 'pages_by_label': pages_by_label}


def cmd_cache_key(tmp: str) -> dict:
    """The cache key follows the audio, not the file system: a touched (or re-mounted, or copied) corpus keeps its key,
    a changed file anywhere in it (middle bytes excepted: only size and both ends are read) gets a new one."""
    import shutil
    from devoxtrain.cache import _key
    root = Path(tmp) / 'corpus'
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    items = []
    for i in range(3):
        p = root / f'f{i}.flac'
        sf.write(p, (rng.normal(0, 0.1, 16000 * (i + 1))).astype(np.float32), SR)
        items.append(Item(id=f'f{i}.flac', path=str(p), label='genuine', speaker='s', source='x'))
    caps = {'train': 30.0}
    k0 = _key({'train': items}, caps, True)
    os.utime(items[1].path, (1, 1))
    k_touched = _key({'train': items}, caps, True)
    moved = Path(tmp) / 'moved'
    shutil.copytree(root, moved)
    k_moved = _key({'train': [Item(id=it.id, path=str(moved / it.id), label=it.label, speaker=it.speaker,
                                   source=it.source) for it in items]}, caps, True)
    sf.write(items[2].path, (rng.normal(0, 0.1, 16000 * 3)).astype(np.float32), SR)
    k_changed = _key({'train': items}, caps, True)
    k_caps = _key({'train': items}, {'train': 20.0}, True)
    return {'touched_same': k_touched == k0, 'moved_same': k_moved == k0, 'changed_differs': k_changed != k0,
            'caps_differs': k_caps != k_changed}


def cmd_bootstrap() -> dict:
    """File-level bootstrap of the EER: resamples keep the label counts, and when the windows of a file share an
    offset (as real windows of one recording do) the file-level interval is wider than one that treats windows as
    independent."""
    from devoxtrain.metrics import eer, eer_ci, file_bootstrap
    rng = np.random.default_rng(0)
    n_files, per_file = 300, 20
    y_f = (np.arange(n_files) % 3 == 0).astype(int)             # 100 synthetic, 200 genuine files
    y = np.repeat(y_f, per_file)
    g = np.repeat(np.arange(n_files), per_file)
    s = 0.6 * y + np.repeat(rng.normal(0, 1, n_files), per_file) + rng.normal(0, 0.5, len(y))
    counts = set()
    for idx in file_bootstrap(y, g, 50, seed=1):
        files = np.unique(g[idx])
        counts.add((int((y[idx] == 0).sum()), int((y[idx] == 1).sum())))
        assert len(idx) % per_file == 0 and len(files) <= n_files
    lo_f, hi_f = eer_ci(y, s, g, n_boot=300)
    lo_w, hi_w = eer_ci(y, s, None, n_boot=300)
    return {'eer': eer(y, s)[0], 'file_ci': [lo_f, hi_f], 'window_ci': [lo_w, hi_w], 'row_counts': sorted(counts)}


def cmd_g711() -> dict:
    vals = np.arange(-32768, 32768).astype(np.int16)
    x = vals.astype(np.float32) / 32768.0
    return {'samples': vals.tolist(),
            'ulaw_encode': channel.g711_encode(x, 'ulaw').tolist(), 'alaw_encode': channel.g711_encode(x, 'alaw').tolist(),
            'ulaw_decode': (channel.g711_decode(np.arange(256, dtype=np.uint8), 'ulaw') * 32768).astype(int).tolist(),
            'alaw_decode': (channel.g711_decode(np.arange(256, dtype=np.uint8), 'alaw') * 32768).astype(int).tolist()}


VARIANTS = {  # random-init graphs for the parity check: train.py's default (1.1) and its options
    'default': {},
    'oc': {'head': 'oc'},
    'narrowband': {'n_mels': 40, 'fmax': 4000.0},
    'phase': {'phase': True},
    'asp': {'pool': 'asp', 'backbone': 'plain', 'widths': (16, 24, 32, 48, 64)},
}


def cmd_parity(model_dir: str | None, dump: str | None = None, variant: str = 'default') -> dict:
    import torch
    from devoxtrain import onnx_io
    from devoxtrain.model import DevoxNet
    torch.manual_seed(0)
    # random init: the graph train.py builds by default (1.1), or one of its options
    net = DevoxNet(**{'n_mels': 60, 'scale': 'linear', 'n_fft': 256, 'stem_stride': 2, 'shortcut': 'conv',
                      **VARIANTS[variant]})
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir:
            from devoxtrain.ensemble import load_model
            saved = torch.load(Path(model_dir) / 'model.pt', map_location='cpu', weights_only=True)
            if 'state_dict' in saved or 'ensemble' in saved:
                net = load_model(model_dir)         # one network, or an ensemble of them (make_ensemble.py)
            else:                                   # plain state dict of the default configuration
                net.load_state_dict(saved)
            onnx_path = str(Path(model_dir) / 'model.onnx')
        else:
            net.eval()
            # give BatchNorm non-trivial statistics so the check is not of an identity-ish network
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
            onnx_path = os.path.join(tmp, 'model.onnx')
            onnx_io.export(net, onnx_path)
        net.eval()
        rng = np.random.default_rng(2)
        speech = _speechlike(rng, 2.0)
        # index 2 is digital silence: parity.test.ts gives it a looser bound (SILENCE)
        wins = [0.3 * rng.standard_normal(SR), 0.001 * rng.standard_normal(SR), np.zeros(SR), speech[:SR],
                speech[SR // 2:SR // 2 + SR], channel.g711_channel(speech[:SR], 'ulaw'), np.clip(3 * speech[:SR], -1, 1)]
        x = np.stack(wins).astype(np.float32)
        if dump:
            x.tofile(dump)                      # raw float32 [n, 16000], for onnxruntime-node in the TS test
        sess = onnx_io.session(onnx_path)
        p_ort, e_ort = onnx_io.score(sess, x)
        p_one = np.concatenate([onnx_io.score(sess, x[i:i + 1])[0] for i in range(len(x))])
        with torch.no_grad():
            logit, e_pt = net(torch.from_numpy(x))
        p_pt = torch.sigmoid(logit).numpy()
        ins = [(i.name, [d if isinstance(d, int) else str(d) for d in
                         [s.dim_value or s.dim_param for s in i.type.tensor_type.shape.dim]]) for i in
               __import__('onnx').load(onnx_path).graph.input]
        return {'model': onnx_path if model_dir else 'random-init export', 'windows': len(x),
                'max_abs_prob': float(np.max(np.abs(p_pt - p_ort))), 'max_abs_embedding': float(np.max(np.abs(e_pt.numpy() - e_ort))),
                'embedding_diff_per_window': np.max(np.abs(e_pt.numpy() - e_ort), axis=1).tolist(),
                'max_abs_batch1_vs_batch': float(np.max(np.abs(p_one - p_ort))),
                'probs_torch': p_pt.tolist(), 'probs_onnx': p_ort.tolist(),
                'inputs': ins, 'outputs': [o.name for o in sess.get_outputs()],
                'output_shapes': [list(map(str, o.shape)) for o in sess.get_outputs()]}


# the checks that take no argument, and those that take a scratch directory
PLAIN = {'splits': cmd_splits, 'augment': cmd_augment, 'g711': cmd_g711, 'pairs': cmd_pairs,
         'bootstrap': cmd_bootstrap, 'adversary': cmd_adversary, 'extra-synthetic': cmd_extra_synthetic,
         'speed': cmd_speed, 'pair-speed': cmd_pair_speed, 'mixup': cmd_mixup, 'fmin': cmd_fmin, 'asp': cmd_asp,
         'vtlp': cmd_vtlp}
SCRATCH = {'cache-key': cmd_cache_key, 'vocoder': cmd_vocoder, 'debian-tts': cmd_debian_tts,
           'sourcefilter': cmd_sourcefilter}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[0]
    if cmd in PLAIN:
        out = PLAIN[cmd]()
    elif cmd in SCRATCH:
        with tempfile.TemporaryDirectory() as tmp:
            out = SCRATCH[cmd](tmp)
    elif cmd == 'readers':
        out = cmd_readers(argv[1] if len(argv) > 1 else tempfile.mkdtemp())
    elif cmd == 'parity':
        rest = argv[1:]
        opts = {}
        for flag in ('--dump', '--variant'):
            if flag in rest:
                i = rest.index(flag)
                opts[flag[2:]] = rest[i + 1]
                rest = rest[:i] + rest[i + 2:]
        out = cmd_parity(rest[0] if rest else None, opts.get('dump'), opts.get('variant', 'default'))
    else:
        print(f'unknown check {cmd!r}\n{__doc__}', file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
