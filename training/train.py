#!/usr/bin/env python3
"""Train the DevoX phone model and write models/<name>/{model.onnx, card.json, README.md, evaluation.json}.

    python3 training/train.py                      # the shipped model (npm run train), seed 1337
    python3 training/train.py --corpus protocol:ASVspoof2019.LA.cm.train.trn.txt:LA/ASVspoof2019_LA_train/flac \
        --corpus meta:release_in_the_wild/meta.csv --out models/my-model   # your own corpora
    python3 training/train.py --smoke --out /tmp/x # a few steps on a tiny subset (CI)
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from devoxtrain import cache as cachemod
from devoxtrain import channel
from devoxtrain import cv
from devoxtrain.adversary import SourceAdversary, dann_lambda
from devoxtrain.augment import AugConfig
from devoxtrain.constants import CAPS, DEMO_IDS, REPO, SHARED_MANIFEST, SR, WINDOW
from devoxtrain.data import Item, read_corpus
from devoxtrain.log import log
from devoxtrain.metrics import SPEECH_DBFS, calibrate, eer, window_dbfs
from devoxtrain.mixup import Mixup
from devoxtrain.vtlp import Vtlp
from devoxtrain.model import DevoxNet, count_macs, count_params, oc_softmax_loss
from devoxtrain.sam import sam_step
from devoxtrain.sampler import CropStream
from devoxtrain.splits import assign_splits, split_config, summarize
from devoxtrain import onnx_io
from devoxtrain.report import finish_model_dir, git_commit
from devoxtrain.train_args import parse_args


def dev_windows(items: list[Item], store: cachemod.Store, per_file: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Dev windows every 1 s (at most `per_file` per file, speech only): all wideband windows first, then the same
    files through G.711 mu-law. Returns (windows, labels, number of wideband windows)."""
    blocks = []
    for cond in ('wideband', 'ulaw'):
        xs, ys = [], []
        for it in items:
            x = store.get(it.id).astype(np.float32) / 32768.0
            z = x if cond == 'wideband' else channel.g711_channel(x, 'ulaw')
            if len(z) < WINDOW:
                z = np.pad(z, (0, WINDOW - len(z)))
            starts = np.arange(0, len(z) - WINDOW + 1, SR)[:per_file]
            w = np.stack([z[s:s + WINDOW] for s in starts])
            keep = window_dbfs(w) >= SPEECH_DBFS
            if not keep.any():
                keep[0] = True
            xs.append(w[keep])
            ys.append(np.full(int(keep.sum()), it.y))
        blocks.append((np.concatenate(xs), np.concatenate(ys)))
    return (np.concatenate([blocks[0][0], blocks[1][0]]).astype(np.float32),
            np.concatenate([blocks[0][1], blocks[1][1]]), len(blocks[0][1]))


def dev_eer(net: DevoxNet, xw: np.ndarray, yw: np.ndarray, n_half: int) -> tuple[float, float, float]:
    """(mean, wideband, ulaw) window EER; xw holds the wideband windows first, then the ulaw ones."""
    p = onnx_io.torch_score(net, xw)
    cond = np.zeros(len(yw), bool)
    cond[n_half:] = True
    e_wb, _ = eer(yw[~cond], p[~cond])
    e_ul, _ = eer(yw[cond], p[cond])
    return (e_wb + e_ul) / 2, e_wb, e_ul


def dev_file_scores(sess, items: list[Item], store: cachemod.Store) -> tuple[np.ndarray, np.ndarray]:
    """Per dev file and condition (wideband, G.711 mu-law): sigmoid of the mean window log-odds over speech windows
    (runtime windowing, 1 s every 250 ms), as the verdict engine aggregates a call."""
    from devoxtrain.evaluation import score_files
    ys, ss = [], []
    for cond in ('wideband', 'g711_ulaw'):
        res = score_files(sess, items, lambda it: store.get(it.id).astype(np.float32) / 32768.0, cond)
        p = np.clip(res['w_score'].astype(np.float64), 1e-6, 1 - 1e-6)
        lo = np.log(p / (1 - p))
        for i, it in enumerate(items):
            m = res['w_file'] == i
            sp = m & res['w_speech']
            sel = sp if sp.any() else m
            ss.append(1 / (1 + np.exp(-lo[sel].mean())))
            ys.append(it.y)
    return np.array(ys), np.array(ss)


class EmaWeights:
    """An exponential moving average of the weights (BatchNorm statistics copied), kept in a second network."""

    def __init__(self, net: DevoxNet, decay: float):
        if not 0.0 < decay < 1.0:
            raise SystemExit(f'--ema must be in (0, 1), not {decay}')
        self.decay = decay
        self.net = copy.deepcopy(net)
        self.net.freq_mask = 0
        self.net.vtlp = None
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: DevoxNet) -> None:
        for e, p in zip(self.net.parameters(), net.parameters()):
            e.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)
        for e, b in zip(self.net.buffers(), net.buffers()):
            e.copy_(b)


def repo_path(p: str) -> str:
    """Recipes name generated manifests from the repository root: p as given if it exists, else under the repo."""
    return str(REPO / p) if not Path(p).exists() and (REPO / p).exists() else p


def generated_store(rows: list, args, caps: dict) -> dict:
    """The cache of generated rows (paired fakes, extra synthetic speech). Their codec copies only when a crop can
    read one (Opus channel or MP3/AAC source copies): without them the merged store has the clean audio alone, and
    the crops drawn are the same (no draw reads a copy)."""
    p_opus = args.opus if args.opus is not None else AugConfig().p_opus
    copies = ('pool',) if p_opus > 0 or args.source_codec > 0 else ()
    return cachemod.build({'pool': rows}, args.cache_dir, {'pool': caps['train']}, copies_for=copies, log=log)


def main(argv=None) -> int:
    args = parse_args(argv, __doc__)
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    specs = args.corpus or [f'manifest:{SHARED_MANIFEST}']
    items: list[Item] = []
    for spec in specs:
        items += read_corpus(spec)
    shared = specs == [f'manifest:{SHARED_MANIFEST}']
    demo_ids = DEMO_IDS if shared else ()
    if args.folds:
        cfg = cv.cv_split_config(items, args.folds, args.fold, args.split_seed, demo_ids)
        args.select_from = 1.0                        # fixed step count: the last weights, never the test fold's best
    elif args.all:
        cfg = cv.all_split_config(args.split_seed, demo_ids)
        # fixed step count here too: the dev split of --all is the two demo calls (perfectly separated at every
        # step, so "best dev" was the first evaluation: 2.1.0 shipped its step-1000 weights of 3,000)
        args.select_from = 1.0
    else:
        cfg = split_config(shared, args.split_seed)
    split = assign_splits(items, cfg)
    by_split = {s: split.items(items, s) for s in ('train', 'dev', 'test')}
    if args.folds:
        by_split['dev'] = by_split['test']            # monitoring only: the learning curve on the held-out fold
    elif args.all:
        # nothing is held out: the demo calls (never trained on) are the only "test", the thresholds come from CV
        by_id = {it.id: it for it in items}
        by_split['dev'] = by_split['test'] = [by_id[i] for i in demo_ids if i in by_id]
    caps = dict(CAPS)
    steps, batch, eval_every, per_file = args.steps, args.batch, args.eval_every, 10
    if args.smoke:
        rng = np.random.default_rng(args.split_seed)     # the subset is part of the split
        for s in by_split:
            keep = []
            for lab in ('genuine', 'synthetic'):
                pool = [it for it in by_split[s] if it.label == lab]
                keep += [pool[i] for i in sorted(rng.choice(len(pool), min(4, len(pool)), replace=False))]
            by_split[s] = keep
        caps = {'train': 4.0, 'dev': 4.0, 'test': 4.0}
        steps, batch, eval_every, per_file = min(steps, 6), min(batch, 8), 3, 2
    if args.drop_train_source:
        unknown = set(args.drop_train_source) - {it.source for it in by_split['train']}
        if unknown:
            raise SystemExit(f'--drop-train-source: no training files from {sorted(unknown)}')
        for it in by_split['train']:
            if it.source in args.drop_train_source:    # recorded as dropped, so the card's data summary says so
                del split.split[it.id]
                split.dropped[it.id] = 'train_source_dropped'
        by_split['train'] = [it for it in by_split['train'] if it.source not in args.drop_train_source]
        log(f'training without {args.drop_train_source}: {len(by_split["train"])} files left')
    for s in ('train', 'dev', 'test'):
        labs = {it.label for it in by_split[s]}
        if labs != {'genuine', 'synthetic'}:
            raise SystemExit(f'split {s!r} needs both genuine and synthetic files, has {sorted(labs)}: '
                             'add data or use corpora with more speakers/generators')
    summary = summarize(items, split)
    log(f'splits: ' + ', '.join(f'{s} {v["files"]}' for s, v in summary['splits'].items())
        + f'; dropped {summary["dropped"]}')

    # One pooled cache of the whole corpus (30 s per file and its codec copies), shared by every split, fold and
    # recipe: a fold or an --all run reuses what the first run decoded.
    pool = items if not args.smoke else list({it.id: it for s in by_split.values() for it in s}.values())
    pooled = cachemod.build({'pool': pool}, args.cache_dir, {'pool': caps['train']}, copies_for=('pool',), log=log,
                            mobile=args.mobile > 0, denoise=args.denoise > 0, amrwb=args.amrwb > 0,
                            lace_ids=[it.id for it in by_split['train']] if args.lace > 0 else None)
    stores = {s: pooled['pool'] for s in ('train', 'dev', 'test')}
    if args.paired_fakes:
        args.paired_fakes = repo_path(args.paired_fakes)
        if not Path(args.paired_fakes).exists():
            if not args.smoke:
                sys.exit(f'train.py: --paired-fakes {args.paired_fakes} does not exist; generate it first with the '
                         'resynth_*.py script of its folder (training/README.md; ship.py does it for you)')
            log(f'smoke: no paired fakes at {args.paired_fakes} (generated by a training/resynth_*.py); training without them')
            args.paired_fakes, args.pairs = None, 0.0
    if args.paired_fakes:
        fakes = read_corpus(f'manifest:{args.paired_fakes}')
        train_ids = {it.id for it in by_split['train']}
        extra = generated_store(fakes, args, caps)
        fakes = [it for it in fakes if (it.extra or {}).get('pair_key') in train_ids]
        originals = {it.id: it for it in by_split['train']}
        for f in fakes:     # --pairs draws a fake with its original: one key for both
            orig = originals[f.extra['pair_key']]
            key = orig.extra.get('pair_key') or orig.id
            orig.extra['pair_key'] = f.extra['pair_key'] = key
        by_split['train'] = by_split['train'] + fakes
        stores['train'] = cachemod.merge(pooled['pool'], extra['pool'])
        log(f'paired fakes: {len(fakes)} files from {args.paired_fakes} whose original trains')
    extra_sources: list[str] = []
    if args.extra_synthetic:
        args.extra_synthetic = repo_path(args.extra_synthetic)
        if not Path(args.extra_synthetic).exists():
            sys.exit(f'train.py: --extra-synthetic {args.extra_synthetic} does not exist; generate it first: '
                     'python3 training/synth_debian_tts.py (a few CPU-minutes)')
        extras = read_corpus(f'manifest:{args.extra_synthetic}')
        if args.smoke:
            extras = extras[:4]
        extra_sources = sorted({it.source for it in extras})
        clash = set(extra_sources) & {it.source for it in items}
        if clash or any(it.label != 'synthetic' for it in extras):
            raise SystemExit(f'--extra-synthetic: rows must be synthetic and from sources not in the corpus '
                             f'(clash: {sorted(clash)})')
        extra = generated_store(extras, args, caps)
        for it in extras:       # unpaired: no pair_key, whatever the manifest says
            it.extra = {**(it.extra or {}), 'pair_key': ''}
        by_split['train'] = by_split['train'] + extras
        stores['train'] = cachemod.merge(stores['train'], extra['pool'])
        log(f'extra synthetic: {len(extras)} files ({sum(it.duration_s for it in extras) / 60:.1f} min) from '
            f'{args.extra_synthetic}, training split only, sources {extra_sources}')
    t_cache = time.time() - t_start

    xdev, ydev, n_half = dev_windows(by_split['dev'], stores['dev'], per_file)
    log(f'dev: {n_half} windows per condition (wideband, G.711 mu-law)')

    net = DevoxNet(widths=args.widths, norm=args.norm, floor_db=args.floor_db, scale=args.fbank, n_mels=args.bands, n_fft=args.n_fft,
                   stem_stride=args.stem_stride, shortcut=args.shortcut, head=args.head,
                   fmax=args.fmax, phase=args.phase, backbone=args.backbone, decimate=args.decimate, fmin=args.fmin, pool=args.pool)
    params, macs = count_params(net), count_macs(net)
    log(f'model: {params} parameters, {macs["mflops"]} MFLOPs per 1-s window')
    aug = AugConfig(p_eq=args.eq, p_source_codec=args.source_codec, p_clean=args.clean_crops)
    for opt, field in (('p_reverb', 'p_reverb'), ('p_noise', 'p_noise'), ('p_babble', 'p_babble'),
                       ('p_loss', 'p_packet_loss'), ('p_bandlimit', 'p_bandlimit')):
        if getattr(args, opt) is not None:
            setattr(aug, field, getattr(args, opt))
    if args.g711 is not None:   # only when asked: the default draws stay bit-identical
        aug.p_ulaw, aug.p_alaw = args.g711 * 2 / 3, args.g711 / 3
    if args.opus is not None:
        aug.p_opus = args.opus
    aug.p_mobile = args.mobile
    aug.p_denoise = args.denoise
    aug.p_lace = args.lace
    aug.p_agc = args.agc
    aug.p_amrwb, aug.amrwb_tandem = args.amrwb, args.amrwb_tandem
    aug.p_speed, aug.p_pair_speed, aug.speed_range = args.speed, args.pair_speed, args.speed_range
    aug.p_rawboost, aug.rawboost_algo = args.rawboost, args.rawboost_algo
    net.freq_mask = args.freq_mask
    ema = EmaWeights(net, args.ema) if args.ema > 0 else None
    mixer = Mixup(args.mixup, args.seed) if args.mixup > 0 else None
    shares = ({src: args.extra_share / len(extra_sources) for src in extra_sources}
              if extra_sources and args.extra_share > 0 else None)
    stream = CropStream(by_split['train'], stores['train'], aug, batch, args.seed, balance=args.balance,
                        pairs=args.pairs, synthetic_shares=shares)
    net.vtlp = Vtlp(net.front, args.vtlp, args.seed, paired_rows=2 * stream.n_pairs) if args.vtlp > 0 else None
    if extra_sources:
        log('extra synthetic share of synthetic crops: '
            + ', '.join(f'{src} {stream.synthetic_share(src):.3f}' for src in extra_sources))
    loader = DataLoader(stream, batch_size=None, num_workers=1, prefetch_factor=4, persistent_workers=False)
    adversary = SourceAdversary(net.emb_dim, len(stream.sources)) if args.adversary > 0 else None
    if adversary is not None:
        log(f'source adversary over {len(stream.sources)} training sources, weight {args.adversary}')
    opt = torch.optim.AdamW(list(net.parameters()) + (list(adversary.parameters()) if adversary else []),
                            lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    lossf = oc_softmax_loss if args.head == 'oc' else torch.nn.BCEWithLogitsLoss()
    best = {'eer': 2.0, 'step': 0, 'state': copy.deepcopy(net.state_dict())}
    history = []
    t_train = time.time()
    run_loss, run_adv = 0.0, [0.0, 0.0]
    it_loader = iter(loader)
    for step in range(1, steps + 1):
        x, y, src = next(it_loader)
        if mixer is not None:
            x, y = mixer(x, y)
        net.train()
        if args.sam > 0:                     # sharpness-aware step (sam.py): the detector loss at a perturbed point
            det_loss = sam_step(list(net.parameters()), lambda: lossf(net(x)[0], y), opt, args.sam)
            sched.step()
        else:
            logit, emb = net(x)
            loss = det_loss = lossf(logit, y)
            if adversary is not None:
                adv_ce, adv_acc = adversary.loss(emb, y, src, dann_lambda(step / steps))
                loss = loss + args.adversary * adv_ce
                run_adv[0] += adv_ce.item()
                run_adv[1] += adv_acc
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if ema is not None:
            ema.update(net)
        run_loss += det_loss.item()
        if step % eval_every == 0 or step == steps:
            e, e_wb, e_ul = dev_eer(ema.net if ema is not None else net, xdev, ydev, n_half)
            history.append({'step': step, 'loss': round(run_loss / eval_every, 4), 'dev_eer_wideband': round(e_wb, 4),
                            'dev_eer_ulaw': round(e_ul, 4), 'elapsed_s': round(time.time() - t_train, 1)})
            adv = ''
            if adversary is not None:
                history[-1].update(adversary_ce=round(run_adv[0] / eval_every, 4),
                                   adversary_acc=round(run_adv[1] / eval_every, 4))
                adv = f' (source adversary ce {run_adv[0] / eval_every:.3f} acc {run_adv[1] / eval_every:.3f}, ' \
                      f'chance {1 / len(stream.sources):.3f})'
            log(f'step {step}/{steps} loss {run_loss / eval_every:.4f} dev EER wb {100 * e_wb:.2f}% '
                f'ulaw {100 * e_ul:.2f}% ({(time.time() - t_train) / step:.2f}s/step){adv}')
            run_loss, run_adv = 0.0, [0.0, 0.0]
            if e < best['eer'] and step >= args.select_from * steps:
                best = {'eer': e, 'step': step,
                        'state': copy.deepcopy((ema.net if ema is not None else net).state_dict())}
    del it_loader, loader
    t_train = time.time() - t_train
    net.load_state_dict(best['state'])
    net.freq_mask = 0
    net.vtlp = None
    net.eval()
    log(f'best dev step {best["step"]} (mean window EER {100 * best["eer"]:.2f}%)')

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / 'model.onnx'
    onnx_io.export(net, str(onnx_path))
    torch.save({'config': net.config, 'state_dict': net.state_dict()}, out / 'model.pt')  # for test/training/checks.py parity
    sess = onnx_io.session(str(onnx_path), threads=args.threads)
    p_ort, _ = onnx_io.score(sess, xdev)
    p_pt = onnx_io.torch_score(net, xdev)
    parity = float(np.max(np.abs(p_ort - p_pt)))
    log(f'export parity on {len(xdev)} dev windows: max |torch - onnxruntime| = {parity:.2e}')
    window_thresholds = calibrate(ydev, p_ort)
    # The verdict engine compares thresholds with a smoothed score (mean window log-odds over the speech of a call,
    # docs/events.md), much narrower than single windows: calibrate on the same aggregation, per dev file.
    thresholds = calibrate(*dev_file_scores(sess, by_split['dev'], stores['dev']))
    thresholds['window_level'] = window_thresholds
    cross_validation = None
    if args.thresholds_from:
        src = Path(args.thresholds_from)
        if not src.exists():   # the CV of this recipe may still be running: wait for its report
            log(f'waiting for {src} (the cross-validation report of this recipe)')
            while not src.exists():
                time.sleep(30)
        cross_validation = json.loads(src.read_text())
        thresholds = dict(cross_validation['thresholds'])
        thresholds['window_level'] = cross_validation.get('window_thresholds')
        thresholds['source'] = f'cross-validated out-of-fold file scores ({args.thresholds_from})'
    log(f'thresholds (dev files, mean log-odds): {thresholds}')

    train_info = {
        'command': 'python3 training/train.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        'seed': args.seed, 'steps': steps, 'batch': batch, 'lr': args.lr, 'optimizer': f'AdamW wd {args.weight_decay:g}, one-cycle' + (f', SAM rho {args.sam}' if args.sam > 0 else ''),
        'best_step': best['step'], 'history': history, 'augmentation': aug.__dict__,
        'balance': args.balance, 'pairs': args.pairs, 'dropped_train_sources': args.drop_train_source, 'freq_mask': args.freq_mask, 'ema': args.ema,
        'adversary': args.adversary, 'select_from': args.select_from, 'crop_sec': 1.0, 'cache_caps_sec': caps, 'threads': args.threads, 'smoke': args.smoke,
        'wall_time_s': {'cache': round(t_cache, 1), 'train': round(t_train, 1)},
        'mode': f'cv fold {args.fold}/{args.folds}' if args.folds else 'all data' if args.all else 'train/dev/test',
        'recipe': args.recipe, 'paired_fakes': args.paired_fakes,
        'extra_synthetic': args.extra_synthetic, 'extra_share': args.extra_share,
        **({'mixup_alpha': args.mixup} if args.mixup > 0 else {}),
        **({'vtlp': args.vtlp} if args.vtlp > 0 else {}),
        'machine': f'{platform.machine()} {os.cpu_count()} cores (shared)', 'torch': torch.__version__,
    }
    finish_model_dir(out=out, name=args.name, version=args.version, net=net, sess=sess, items=items, split=split,
                     by_split=by_split, stores=stores, thresholds=thresholds, params=params, macs=macs,
                     parity=parity, train_info=train_info, corpora=specs, demo_ids=demo_ids,
                     t_start=t_start, git_commit=git_commit(), smoke=args.smoke, log=log,
                     extras=not (args.folds or args.all), cross_validation=cross_validation)
    if args.recipe:
        shutil.copyfile(args.recipe, out / 'recipe.json')
    if args.folds:
        cv.write_oof(out / 'oof.json', sess, by_split['test'],
                     lambda it: stores['test'].get(it.id).astype(np.float32) / 32768.0,
                     {'folds': args.folds, 'fold': args.fold, 'test_sources': list(cfg.test_sources),
                      'seed': args.seed, 'steps': steps, 'recipe': args.recipe})
        log(f'out-of-fold window scores -> {out / "oof.json"}')
    log(f'done in {time.time() - t_start:.0f}s -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
