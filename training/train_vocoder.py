#!/usr/bin/env python3
"""Train one small neural vocoder (devoxtrain/vocoder.py: 80-band log-mel at 16 kHz -> waveform) on CPU, on the
genuine speech of one leave-source-out CV fold's TRAINING split only (the split train.py --folds N --fold K draws:
same manifest, same seed, demo calls excluded), so no genuine file that fold holds out is ever seen.

    python3 training/train_vocoder.py --kind hifigan --size 128 --hop 256 --minutes 15 --name hifigan-c128-h256
    python3 training/train_vocoder.py --kind vocos   --size 192 --hop 256 --minutes 15 --name vocos-d192-h256
    # -> training/runs/vocoder/<name>/{vocoder.pt, train.json}; resynth_vocoder.py reads them

Loss: multi-resolution STFT (spectral convergence + log-magnitude L1 at 256/512/1024/2048-point STFTs) + 2 x L1 of
the log-mel; no discriminator. Training stops after --minutes of wall time (cosine learning rate over that budget);
the last weights are kept. A few training-split files (--val) are kept out of training and scored at the end:
mel L1, multi-res STFT loss, spectral convergence and output/input RMS of whole files.

--gan: adversarial refinement of a generator trained as above (--init its vocoder.pt; kind, hop and size come from
it), against HiFi-GAN's multi-period (periods 2, 3, 5, 7, 11) + UnivNet's multi-resolution STFT discriminators with
--disc-ch channels (devoxtrain/vocoder.Discriminator). Generator loss: least-squares adversarial + 2 x feature
matching + 22.5 x the reconstruction loss above (= mel L1 at HiFi-GAN's weight 45, the MR-STFT terms at 22.5);
discriminator: least-squares. The validation files are scored before (train.json: val_init) and after (val).

    python3 training/train_vocoder.py --gan --init training/runs/vocoder/hifigan-c128-h256/vocoder.pt \
        --minutes 20 --out training/runs/vocoder-gan --name hifigan-c128-h256-gan
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from devoxtrain import cv
from devoxtrain import vocoder as V
from devoxtrain.cache import load_audio
from devoxtrain.constants import DEFAULT_SEED, DEMO_IDS, SHARED_MANIFEST
from devoxtrain.data import Item, read_corpus
from devoxtrain.log import log
from devoxtrain.splits import assign_splits

HERE = Path(__file__).resolve().parent
MAX_SEC = 30.0


def fold_genuine(folds: int, fold: int, split_seed: int, manifest: str = str(SHARED_MANIFEST)) -> list[Item]:
    """The genuine files that train in fold `fold` of `folds` (exactly train.py --folds/--fold's split)."""
    items = read_corpus(f'manifest:{manifest}')
    split = assign_splits(items, cv.cv_split_config(items, folds, fold, split_seed, DEMO_IDS))
    return [it for it in split.items(items, 'train') if it.label == 'genuine']


def validate(net, mel, val: list[Item], hop: int) -> dict:
    """Whole-file scores on the validation files (never trained on): mel L1, spectral convergence, log-magnitude L1
    (multi-res STFT) and output/input RMS, means over the files."""
    net.eval()
    ev = {'mel_l1': [], 'sc': [], 'logmag': [], 'rms_ratio': []}
    with torch.no_grad():
        for it in val:
            x = load_audio(it.path, 10.0)
            y = V.vocode(net, mel, x)
            n = len(x) // hop * hop
            xt, yt = torch.from_numpy(x[:n])[None], torch.from_numpy(y[:n].astype(np.float32))[None]
            sc, lm = V.mrstft(yt, xt)
            ev['mel_l1'].append(float((mel(yt) - mel(xt)).abs().mean()))
            ev['sc'].append(float(sc))
            ev['logmag'].append(float(lm))
            ev['rms_ratio'].append(float(np.sqrt(np.mean(y ** 2)) / max(np.sqrt(np.mean(x ** 2)), 1e-9)))
    net.train()
    return {k: round(float(np.mean(v)), 4) for k, v in ev.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--kind', choices=('hifigan', 'vocos'), help='required unless --init')
    ap.add_argument('--size', type=int, default=128, help='hifigan: channels after the first conv; vocos: block width')
    ap.add_argument('--layers', type=int, default=6, help='vocos: ConvNeXt blocks')
    ap.add_argument('--hop', type=int, choices=(160, 256), default=256)
    ap.add_argument('--name', default=None)
    ap.add_argument('--minutes', type=float, default=15.0, help='wall-clock training budget')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--segment', type=int, default=8192, help='samples per training crop (rounded to frames)')
    ap.add_argument('--lr', type=float, default=None, help='peak learning rate (hifigan 5e-4, vocos 1e-3)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--folds', type=int, default=3)
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--split-seed', type=int, default=DEFAULT_SEED, help="the CV split's seed (train.py: --seed)")
    ap.add_argument('--val', type=int, default=12, help='training-split files kept out of vocoder training, scored')
    ap.add_argument('--out', default=str(HERE / 'runs' / 'vocoder'))
    ap.add_argument('--gan', action='store_true', help='adversarial training (multi-period + multi-resolution STFT '
                    'discriminators, least-squares GAN + feature matching + the reconstruction loss)')
    ap.add_argument('--init', default=None, metavar='VOCODER_PT', help='start the generator from this checkpoint '
                    '(its kind, hop, size and layers override --kind/--hop/--size/--layers)')
    ap.add_argument('--disc-ch', type=int, default=16, help='--gan: discriminator channels')
    ap.add_argument('--mel-weight', type=float, default=45.0, help='--gan: weight of the mel L1 (the MR-STFT terms '
                    'get half of it, as in the reconstruction-only loss)')
    ap.add_argument('--fm-weight', type=float, default=2.0, help='--gan: weight of feature matching')
    args = ap.parse_args(argv)
    if not args.kind and not args.init:
        ap.error('--kind is required (or --init)')
    init = None
    if args.init:
        init = torch.load(args.init, map_location='cpu', weights_only=False)
        ic = init['config']
        args.kind, args.hop, args.size, args.layers = ic['kind'], ic['hop'], ic['size'], ic.get('layers', 6)
        if (ic.get('fold'), ic.get('folds'), ic.get('split_seed')) not in ((args.fold, args.folds, args.split_seed),
                                                                           (None, None, None)):
            sys.exit(f'train_vocoder.py: --init {args.init} was trained on fold {ic.get("fold")}/{ic.get("folds")} '
                     f'(split seed {ic.get("split_seed")}), not {args.fold}/{args.folds} ({args.split_seed})')
    name = args.name or f'{args.kind}-{args.size}-h{args.hop}-s{args.seed}' + ('-gan' if args.gan else '')
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    lr = args.lr or ((2e-4 if args.gan else 5e-4) if args.kind == 'hifigan' else 1e-3)

    gen = fold_genuine(args.folds, args.fold, args.split_seed)
    gen.sort(key=lambda it: it.id)
    order = np.random.default_rng(0).permutation(len(gen))       # the same validation files for every vocoder
    val = [gen[i] for i in order[:args.val]]
    train = [gen[i] for i in order[args.val:]]
    t0 = time.time()
    audio = [load_audio(it.path, MAX_SEC) for it in train]
    total = sum(len(a) for a in audio)
    log(f'{name}: fold {args.fold}/{args.folds} training genuine: {len(train)} files, {total / V.SR / 60:.1f} min '
        f'(+{len(val)} validation files) loaded in {time.time() - t0:.0f}s')

    seg = max(1, round(args.segment / args.hop)) * args.hop
    lens = np.array([len(a) for a in audio], dtype=np.float64)
    p_file = np.maximum(lens - seg, 0) / np.maximum(lens - seg, 0).sum()
    floor = 10 ** (-50 / 20)

    def batch() -> torch.Tensor:
        rows = []
        while len(rows) < args.batch:
            for _ in range(5):
                a = audio[rng.choice(len(audio), p=p_file)]
                o = rng.integers(0, len(a) - seg + 1)
                x = a[o:o + seg]
                if np.sqrt(np.mean(x ** 2)) > floor:
                    break
            rows.append(x)
        return torch.from_numpy(np.stack(rows))

    net = V.build(args.kind, args.hop, args.size, args.layers)
    if init is not None:
        net.load_state_dict(init['state'])
    mel = V.Mel(args.hop)
    nparams = V.count_params(net)
    log(f'{name}: {args.kind} hop {args.hop} size {args.size}: {nparams} parameters, crops of {seg} samples x {args.batch}'
        + (f', from {args.init}' if args.init else ''))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=1e-2)
    disc = opt_d = None
    if args.gan:
        disc = V.Discriminator(args.disc_ch)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=1e-2)
        log(f'{name}: GAN: discriminator (periods {V.PERIODS}, STFT {V.DISC_RESOLUTIONS}) {args.disc_ch} ch, '
            f'{V.count_params(disc)} parameters; mel weight {args.mel_weight}, fm weight {args.fm_weight}')
    budget = args.minutes * 60
    cfg = {'kind': args.kind, 'hop': args.hop, 'size': args.size, 'layers': args.layers, 'seed': args.seed,
           'name': name, 'parameters': nparams, 'fold': args.fold, 'folds': args.folds, 'split_seed': args.split_seed,
           'train_files': len(train), 'train_min': round(total / V.SR / 60, 2), 'val_ids': [it.id for it in val],
           'init': args.init, 'gan': args.gan}
    if args.gan:
        cfg.update({'disc_ch': args.disc_ch, 'disc_parameters': V.count_params(disc), 'mel_weight': args.mel_weight,
                    'fm_weight': args.fm_weight, 'lr': lr})
    val_init = validate(net, mel, val, args.hop) if init is not None else None
    if val_init:
        log(f'{name}: validation before training (--init): ' + ', '.join(f'{k} {v}' for k, v in val_init.items()))
    net.train()
    keys = ('loss', 'sc', 'logmag', 'mel_l1') + (('adv', 'fm', 'd_loss') if args.gan else ())
    history, run, step, t_train = [], np.zeros(len(keys)), 0, time.time()
    rw = args.mel_weight / 2                           # the reconstruction loss sc + lm + 2 ml, mel at --mel-weight
    while True:
        frac = (time.time() - t_train) / budget
        if frac >= 1:
            break
        warm = min(1.0, (step + 1) / 200)
        for o in (opt, opt_d) if opt_d else (opt,):
            for g in o.param_groups:
                g['lr'] = lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        x = batch()
        m = mel(x)
        y = net(m)
        if args.gan:
            real, _ = disc(x)
            fake, _ = disc(y.detach())
            ld = V.d_loss(real, fake)
            opt_d.zero_grad(set_to_none=True)
            ld.backward()
            torch.nn.utils.clip_grad_norm_(disc.parameters(), 10.0)
            opt_d.step()
        sc, lm = V.mrstft(y, x)
        ml = (mel(y) - m).abs().mean()
        rec = sc + lm + 2 * ml
        if args.gan:
            fake, fg = disc(y)
            with torch.no_grad():
                _, fr = disc(x)
            adv, fm = V.g_adv_loss(fake), V.feature_loss(fr, fg)
            loss = adv + args.fm_weight * fm + rw * rec
        else:
            loss = rec
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0 * (rw if args.gan else 1.0))
        opt.step()
        step += 1
        run += [float(v.detach()) for v in (loss, sc, lm, ml) + ((adv, fm, ld) if args.gan else ())]
        if step % 100 == 0:
            r = run / 100
            history.append({'step': step, 'min': round((time.time() - t_train) / 60, 2),
                            **{k: float(v) for k, v in zip(keys, r)}})
            log(f'{name}: step {step} ({(time.time() - t_train) / step:.3f}s/step) ' +
                ' '.join(f'{k} {v:.4f}' for k, v in zip(keys, r)))
            run[:] = 0
            if step % 1000 == 0:
                torch.save({'config': cfg, 'state': net.state_dict()}, out / 'vocoder.pt')
    train_s = time.time() - t_train
    torch.save({'config': cfg, 'state': net.state_dict()}, out / 'vocoder.pt')

    if disc is not None:
        torch.save({'state': disc.state_dict()}, out / 'discriminator.pt')
    val_scores = validate(net, mel, val, args.hop)
    summary = {'config': cfg, 'steps': step, 'train_s': round(train_s), 's_per_step': round(train_s / max(step, 1), 4),
               'final_train': history[-1] if history else None, 'val_init': val_init, 'val': val_scores,
               'history': history, 'command': ' '.join(sys.argv)}
    (out / 'train.json').write_text(json.dumps(summary, indent=1))
    log(f'{name}: {step} steps in {train_s / 60:.1f} min; validation (whole files): ' +
        ', '.join(f'{k} {v}' for k, v in val_scores.items()) + f' -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
