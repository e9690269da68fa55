"""train.py's command line: every option, the --recipe file that sets their defaults, and the checks that refuse a
bad combination before any audio is decoded."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .constants import CACHE_DIR, DEFAULT_MODEL_DIR, DEFAULT_SEED


def parse_args(argv=None, doc: str | None = None):
    """train.py's options (a --recipe JSON file supplies defaults), validated before minutes of decoding."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--corpus', action='append', help='manifest:CSV | protocol:TXT:AUDIO_DIR | meta:CSV[:AUDIO_DIR] | '
                    'folders:DIR (repeatable; default: the shared manifest)')
    ap.add_argument('--out', default=str(DEFAULT_MODEL_DIR))
    ap.add_argument('--name', default='devox-phone')
    ap.add_argument('--version', default='0.0.0-dev', help='written to the card; give one for a model you ship')
    ap.add_argument('--overwrite', action='store_true',
                    help='allow --out to replace a model of another name or version (refused otherwise, so that a '
                         'forgotten --out cannot replace the shipped model)')
    ap.add_argument('--seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--split-seed', type=int, default=None,
                    help='seed of the train/dev/test split (default: --seed). Keep it fixed and vary --seed to see how '
                         'much training alone moves the results on the same dev and test files')
    ap.add_argument('--steps', type=int, default=3600)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--weight-decay', type=float, default=1e-2, metavar='WD',
                    help="AdamW's decoupled weight decay (each step multiplies the weights by 1 - lr x WD)")
    ap.add_argument('--eval-every', type=int, default=200)
    ap.add_argument('--cache-dir', default=str(CACHE_DIR))
    ap.add_argument('--threads', type=int, default=1,
                    help='torch threads; 1 is fastest on a shared, oversubscribed CPU (OpenMP spin-waits otherwise)')
    ap.add_argument('--norm', choices=('band', 'global'), default='band',
                    help='front-end mean removal over the window: per mel band, or one global mean')
    ap.add_argument('--floor-db', type=float, default=-50.0, help='log floor relative to the window mean band energy')
    ap.add_argument('--fbank', choices=('mel', 'linear'), default='linear', help='filterbank spacing')
    ap.add_argument('--bands', type=int, default=60, help='filterbank bands')
    ap.add_argument('--pool', choices=('stats', 'asp'), default='stats',
                    help='pooling over time: mean and std of the frames, or attentive statistics pooling (asp: '
                         'the frames weighted by a learned score)')
    ap.add_argument('--fmin', type=float, default=0.0,
                    help='bottom of the filterbank in Hz (300: the telephone band\'s lower edge; what lies below, '
                         'hum, a recording chain\'s high-pass, is not read)')
    ap.add_argument('--fmax', type=float, default=8000.0,
                    help='top of the filterbank in Hz (4000: the model sees only the telephone band, 0-4 kHz)')
    ap.add_argument('--pairs', type=float, default=0.0,
                    help='fraction of each batch drawn as matched genuine/synthetic pairs (same pair_key, same offset, '
                         'identical augmentation)')
    ap.add_argument('--n-fft', type=int, default=256, help='STFT window in samples (10-ms hop)')
    ap.add_argument('--decimate', type=int, choices=(1, 2), default=1,
                    help='2: the front-end low-passes and takes the waveform to 8 kHz before its STFT (narrowband '
                         'models, --fmax <= 4000): half the front-end multiply-adds, the same features')
    ap.add_argument('--stem-stride', type=int, default=2, help='stride of the first conv (1 = full resolution)')
    ap.add_argument('--shortcut', choices=('conv', 'pool'), default='conv', help='downsampling shortcut of the blocks')
    ap.add_argument('--head', choices=('linear', 'oc'), default='linear',
                    help='linear + BCE, or one-class softmax (cosine to a genuine direction)')
    ap.add_argument('--balance', choices=('label', 'source'), default='label',
                    help='label: 50/50 classes; source: 50/50 within each source that has both (anti source-confound)')
    ap.add_argument('--drop-train-source', action='append', default=[], metavar='SOURCE',
                    help='leave this source out of training (dev/test unchanged), e.g. a genuine-only source whose '
                         'recording chain the model would otherwise learn as "genuine"; repeatable')
    ap.add_argument('--phase', action='store_true',
                    help='second input plane: per-band phase coherence from frame to frame (vocoders rebuild phase)')
    ap.add_argument('--source-codec', type=float, default=0.0,
                    help='probability that a training crop comes from an MP3/AAC copy of its file (both classes alike)')
    ap.add_argument('--eq', type=float, default=0.0,
                    help='probability of a random recording-chain equaliser (+-8 dB, 6 points) on a training crop')
    ap.add_argument('--freq-mask', type=int, default=0,
                    help='training only: blank one random span of up to N bands per crop (SpecAugment-style)')
    ap.add_argument('--ema', type=float, default=0.0,
                    help='evaluate, select and export an exponential moving average of the weights (e.g. 0.998)')
    ap.add_argument('--select-from', type=float, default=0.25, metavar='F',
                    help='only checkpoints from this fraction of the steps on are eligible as "best on dev" (an '
                         'untrained early checkpoint can win on a dev set where every model is near chance)')
    ap.add_argument('--clean-crops', type=float, default=0.0, metavar='P',
                    help='fraction of training crops left clean and wideband (loudness and gain only); 1 = no channel '
                         'augmentation at all (a diagnostic: what the phone channel costs the model)')
    ap.add_argument('--backbone', choices=('ds', 'plain'), default='ds',
                    help='ds: residual depthwise-separable blocks (1.x); plain: conv3x3-BN-ReLU-maxpool blocks')
    ap.add_argument('--widths', default='16,32,64,96,128',
                    help='channels of the stem and the four blocks (comma-separated); wider = more capacity and FLOPs')
    ap.add_argument('--adversary', type=float, default=0.0, metavar='W',
                    help='weight of a label-conditional source adversary on the embedding, through gradient reversal '
                         '(training only; 0 = off)')
    ap.add_argument('--g711', type=float, default=None, metavar='P',
                    help='probability that a training crop goes through G.711 (mu-law 2/3, A-law 1/3); default 0.3 '
                         '(0.2 + 0.1). Wideband takes what band-limit (0.15), G.711 and Opus leave')
    ap.add_argument('--opus', type=float, default=None, metavar='P',
                    help='probability that a training crop is one of the Opus copies; default 0.25. Wideband takes '
                         'what band-limit (0.15), G.711 and Opus leave')
    ap.add_argument('--mobile', type=float, default=0.0, metavar='P',
                    help='probability that a training crop is a mobile leg: AMR-NB 12.2 / 5.9 kbps or GSM-FR, then '
                         'G.711 at the interconnect (precomputed copies, needs sox); taken from the wideband share')
    ap.add_argument('--denoise', type=float, default=0.0, metavar='P',
                    help='probability that a (non-Opus, non-mobile) training crop comes from the RNNoise-denoised copy '
                         '(a softphone denoiser before the leg; precomputed with scripts/neural-channel.ts)')
    ap.add_argument('--lace', type=float, default=0.0, metavar='P',
                    help='probability that a training crop is Opus 1.5 at 12 / 16 kbps decoded with LACE or NoLACE '
                         '(libopus 1.5 neural enhancement, scripts/neural-channel.ts; precomputed for the training '
                         'files, cache.LACE_COPIES); taken from the wideband share')
    ap.add_argument('--amrwb', type=float, default=0.0, metavar='P',
                    help='probability that a training crop is an HD-voice mobile leg: AMR-WB 12.65 / 6.60 kbps '
                         '(precomputed copies, cache.AMRWB_COPIES; Debian libvo-amrwbenc0 + libopencore-amrwb0); taken '
                         'from the wideband share')
    ap.add_argument('--amrwb-tandem', type=float, default=1.0, metavar='Q',
                    help='share of the AMR-WB crops then transcoded to G.711 mu-law at the interconnect (1: every one, '
                         'as a narrowband trunk receives a mobile caller; 0: kept wideband)')
    ap.add_argument('--speed', type=float, default=0.0, metavar='P',
                    help='probability of speed perturbation (0.9 / 0.95 / 1.05 / 1.1, tempo and pitch together, as '
                         'Kaldi does) of a training crop taken from the clean audio, both classes alike')
    ap.add_argument('--speed-range', choices=('kaldi', 'wide', 'wider'), default='kaldi',
                    help='the speed factors drawn: kaldi 0.9 / 0.95 / 1.05 / 1.1, wide 0.8 ... 1.2, wider 0.7 ... 1.3 (steps of 0.05)')
    ap.add_argument('--pair-speed', type=float, default=0.0, metavar='P',
                    help='probability of speed perturbation of a matched pair (--pairs) taken from the clean audio: '
                         'one factor for both sides, so the pair still differs only in how it was made')
    ap.add_argument('--sam', type=float, default=0.0, metavar='RHO',
                    help='sharpness-aware minimisation with this neighbourhood radius (e.g. 0.05; 0: plain AdamW); '
                         'two forward / backward passes per step; not with --adversary')
    ap.add_argument('--vtlp', type=float, default=0.0, metavar='P',
                    help='probability of vocal tract length perturbation of a training crop (vtlp.py: the filterbank '
                         'warped by a factor 0.90 ... 1.10, formants moved alone), both classes alike; 0: off')
    ap.add_argument('--mixup', type=float, default=0.0, metavar='ALPHA',
                    help='mixup of each training batch with lam ~ Beta(ALPHA, ALPHA) (mixup.py; e.g. 0.4; 0: off); '
                         'not with --head oc, --pairs or --adversary')
    ap.add_argument('--agc', type=float, default=0.0, metavar='P',
                    help='probability of a random AGC on a training crop (augment.random_agc: slow gain riding, then a '
                         'compressor with a -1 dBFS limiter), after the talker level and before the channel, both '
                         'classes alike')
    ap.add_argument('--rawboost', type=float, default=0.0, metavar='P',
                    help='probability of RawBoost on a training crop (devoxtrain/rawboost.py: random non-linear '
                         'convolutive chain, impulsive and coloured stationary noise), both classes alike')
    ap.add_argument('--rawboost-algo', default='12', choices=('1', '2', '3', '12', '123'),
                    help="RawBoost algorithms in series: '12' (best on ASVspoof 2021 LA in the paper), '3' (DF)")
    ap.add_argument('--smoke', action='store_true', help='tiny subset, few steps (CI); still exports and evaluates')
    ap.add_argument('--recipe', default=None, metavar='JSON',
                    help='a recipe file: {"option_name": value, ...} with the long option names (dashes or '
                         'underscores); flags given on the command line override it. Copied next to the model')
    ap.add_argument('--folds', type=int, default=0, metavar='N',
                    help='leave-source-out cross-validation with N folds (whole demo pages, strict speaker and '
                         'system hold-out); with --fold K, fold K is the test split, no dev split, fixed steps')
    ap.add_argument('--fold', type=int, default=0, metavar='K', help='which fold is held out (0-based), with --folds')
    ap.add_argument('--all', action='store_true',
                    help='train on every file (except the demo calls) with a fixed step count; thresholds come from '
                         '--thresholds-from (the cross-validated out-of-fold scores of the same recipe)')
    ap.add_argument('--thresholds-from', default=None, metavar='JSON',
                    help="cv_report.py's output: its thresholds and cross-validated figures go into the card")
    ap.add_argument('--paired-fakes', default=None, metavar='CSV',
                    help='a manifest of generated resynthesis of genuine files (pair_key = the original path; e.g. '
                         'resynth_lyra.py): the rows whose original is in the training split are added to it')
    ap.add_argument('--extra-synthetic', default=None, metavar='CSV',
                    help='a manifest of unpaired generated speech (e.g. synth_debian_tts.py): every row is added to '
                         'the training split only (never to a held-out split) as synthetic; its sources must be new')
    ap.add_argument('--extra-share', type=float, default=0.0, metavar='F',
                    help='with --extra-synthetic: the fraction of synthetic (non-pair) crops drawn from it '
                         '(0 = its sources weighted like any other, by sqrt(minutes))')
    ap.add_argument('--p-reverb', type=float, default=None, help='share of crops through a synthetic room (0.3)')
    ap.add_argument('--p-noise', type=float, default=None, help='share of crops with coloured noise (0.3)')
    ap.add_argument('--p-babble', type=float, default=None, help='share of crops with babble (0.15)')
    ap.add_argument('--p-loss', type=float, default=None, help='share of crops with packet loss (0.2)')
    ap.add_argument('--p-bandlimit', type=float, default=None, help='share of crops band-limited to 300-3400 Hz (0.15)')
    pre, _ = ap.parse_known_args(argv)
    if pre.recipe:
        try:
            recipe = json.loads(Path(pre.recipe).read_text())
        except (OSError, ValueError) as e:
            ap.error(f'--recipe {pre.recipe}: {e}')
        if not isinstance(recipe, dict):
            ap.error(f'--recipe {pre.recipe}: a JSON object of option names is needed')
        known = {a.dest for a in ap._actions}
        recipe = {k.replace('-', '_'): v for k, v in recipe.items() if not k.startswith('_')}
        unknown = sorted(set(recipe) - known)
        if unknown:
            ap.error(f'--recipe {pre.recipe}: unknown options {unknown}')
        if isinstance(recipe.get('widths'), list):
            recipe['widths'] = ','.join(str(w) for w in recipe['widths'])
        ap.set_defaults(**recipe)
    args = ap.parse_args(argv)
    if args.folds and args.all:
        ap.error('--folds and --all are two different runs: cross-validate first, then train on all')
    if args.folds and not 0 <= args.fold < args.folds:
        ap.error(f'--fold must be in 0..{args.folds - 1}, not {args.fold}')
    if args.all and not args.thresholds_from and not args.smoke:
        ap.error('--all has no held-out data to calibrate on: give --thresholds-from (cv_report.py output)')
    existing = os.path.join(args.out, 'card.json')
    if os.path.exists(existing) and not args.overwrite:
        try:
            with open(existing) as f:
                held = json.load(f)
            held = f"{held.get('name', '?')} {held.get('version', '?')}"
        except (OSError, ValueError, AttributeError):
            held = 'an unreadable card.json'
        if held != f'{args.name} {args.version}':
            ap.error(f'{args.out} already holds {held}; this run would write {args.name} {args.version}. '
                     'Give another --out, or --overwrite to replace it')
    if args.split_seed is None:
        args.split_seed = args.seed
    # checked here, before minutes of decoding, not where they are used
    raw = args.widths
    try:
        args.widths = tuple(int(w) for w in raw.split(','))
    except ValueError:
        ap.error(f'--widths must be 5 comma-separated integers, not {raw!r}')
    if len(args.widths) != 5 or min(args.widths) < 1:
        ap.error(f'--widths must be 5 positive integers (stem + 4 blocks), not {raw!r}')
    g711 = 0.3 if args.g711 is None else args.g711
    opus = 0.25 if args.opus is None else args.opus
    band = 0.15 if args.p_bandlimit is None else args.p_bandlimit
    if not 0.0 <= g711 <= 1.0 or not 0.0 <= opus <= 1.0 or not 0.0 <= band <= 1.0 \
            or band + g711 + opus + args.mobile + args.lace + args.amrwb > 1.0 + 1e-9 \
            or not 0.0 <= args.mobile <= 1.0 or not 0.0 <= args.lace <= 1.0 or not 0.0 <= args.amrwb <= 1.0:
        ap.error(f'--g711 {g711}, --opus {opus}, --mobile {args.mobile}, --lace {args.lace} and --amrwb {args.amrwb} '
                 f'must be probabilities that leave room for band-limit {band} '
                 '(band-limit + g711 + opus + mobile + lace + amrwb <= 1)')
    for name in ('p_reverb', 'p_noise', 'p_babble', 'p_loss'):
        v = getattr(args, name)
        if v is not None and not 0.0 <= v <= 1.0:
            ap.error(f'--{name.replace("_", "-")} must be a probability, not {v}')
    if not 0.0 <= args.weight_decay < 1.0 / args.lr:
        ap.error(f'--weight-decay must be in [0, 1/lr), not {args.weight_decay}')
    if args.sam < 0 or (args.sam > 0 and args.adversary > 0):
        ap.error(f'--sam must be >= 0 and cannot go with --adversary (got --sam {args.sam}, --adversary {args.adversary})')
    if args.mixup < 0 or (args.mixup > 0 and (args.head == 'oc' or args.pairs > 0 or args.adversary > 0)):
        ap.error(f'--mixup must be >= 0 and cannot go with --head oc, --pairs or --adversary (got --mixup {args.mixup})')
    if not 0.0 <= args.fmin < args.fmax:
        ap.error(f'--fmin must be in [0, --fmax), not {args.fmin}')
    if args.vtlp and args.phase:
        ap.error('--vtlp cannot go with --phase (the phase-coherence plane reads the plain filterbank)')
    for name in ('select_from', 'clean_crops', 'denoise', 'agc', 'amrwb_tandem', 'speed', 'pair_speed', 'vtlp'):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f'--{name.replace("_", "-")} must be a fraction in [0, 1], not {getattr(args, name)}')
    return args


