"""Train and evaluate the DevoX speaker-embedding model (models/devox-speaker), split by speaker.

  python3 training/train_speaker.py train --folds 2 --fold K --out training/runs/speaker-f{K}   # one fold
  python3 training/train_speaker.py report --runs training/runs/speaker-f0 training/runs/speaker-f1 --ship 0
  npm run train:speaker       # = ship: every fold, the detector's verdicts on the held-out files, the report, the model

Data: the genuine speakers of the shared corpus (../shared/data/speech/manifest.csv), read through the detector's
pooled cache (devoxtrain.cache: 30 s per file, Opus copies). Speakers that can be evaluated (two utterances, or one
utterance and synthetic clones of their voice) are dealt into `--folds` folds by a seeded hash of their id; a fold's
model never hears its speakers (the demo speakers of samples/ are held out by every fold's model). Speakers with too
little audio to evaluate always train. Training crops are 1 s (the runtime's window) through the phone channels of
the detector: G.711 mu/A-law with the runtime's resampler, AMR-NB 12.2/4.75 kbps and GSM-FR transcoded to G.711
(sox, precomputed once per file), Opus 8/16/24 kbps (the cache's copies), and additive noise.
Each fold writes its model.onnx and the embeddings of its held-out utterances and clones (`heldout.npz`, `heldout.json`);
`report` pools them: EERs, identification accuracy, thresholds, clone acceptance (with the detector verdicts of
`clone_verdicts.json` for fusion) and the card.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from devoxtrain import cache as cachemod
from devoxtrain import channel
from devoxtrain.constants import CACHE_DIR, DEMO_SPEAKERS, MODELS_DIR, REPO, RUNS_DIR, SHARED_MANIFEST, SR, WINDOW
from devoxtrain.data import read_manifest
from devoxtrain.log import log
from devoxtrain.speaker import AAMSoftmax, SpeakerNet, export, mean_embedding, speech_ratio, speech_windows

POOL_CAP_S = 30.0                # the detector's pooled cache (CAPS['train'])
MIN_UTT_S = 2.0                  # shortest genuine file that counts as an utterance
SPLIT_UTT_S = 8.0                # a speaker's only file this long is cut into two utterances
MAX_UTT_PER_SPEAKER = 6
EVAL_HOP = 8000                  # 0.5 s between evaluation windows
CHANNELS = (('clean', 0.20), ('ulaw', 0.18), ('alaw', 0.10), ('amr7', 0.14), ('amr0', 0.10), ('gsm', 0.08),
            ('opus8', 0.08), ('opus16', 0.06), ('opus24', 0.06))


# Page-local ids that pool several real speakers (speaker_report.py leaves them out of every figure).
POOLED_SPEAKERS = re.compile(r'^(unknown\(|denoispeech:)')


def speaker_fold(speaker: str, folds: int, seed: int) -> int:
    h = hashlib.sha256(f'{seed}:{speaker}'.encode()).digest()
    return int.from_bytes(h[:4], 'big') % folds


def plan(items, folds: int, seed: int) -> dict:
    """Utterances per speaker, which speakers are evaluated and in which fold, which always train."""
    genuine = [it for it in items if it.label == 'genuine']
    clones = [it for it in items if it.label == 'synthetic']
    by_spk: dict[str, list] = {}
    for it in genuine:
        by_spk.setdefault(it.speaker, []).append(it)
    clone_spk = {it.speaker for it in clones}
    utts: dict[str, list[tuple[str, str]]] = {}       # speaker -> [(item id, 'all' | 'first' | 'second')]
    for spk, its in by_spk.items():
        clean = sorted((it for it in its if not it.extra.get('condition') and it.duration_s >= MIN_UTT_S),
                       key=lambda it: (-min(it.duration_s, POOL_CAP_S), it.id))
        u = [(it.id, 'all') for it in clean[:MAX_UTT_PER_SPEAKER]]
        if len(u) == 1 and min(clean[0].duration_s, POOL_CAP_S) >= SPLIT_UTT_S:
            u = [(clean[0].id, 'first'), (clean[0].id, 'second')]
        utts[spk] = u
    evaluable = sorted(s for s, u in utts.items() if len(u) >= 2 or (len(u) == 1 and s in clone_spk))
    fold_of = {s: speaker_fold(s, folds, seed) for s in evaluable}
    for s in DEMO_SPEAKERS:
        if s in fold_of:
            fold_of[s] = 0
    return {'by_spk': by_spk, 'utts': utts, 'fold_of': fold_of, 'clones': clones}


def pooled_store(items):
    return cachemod.build({'pool': items}, CACHE_DIR, {'pool': POOL_CAP_S}, copies_for=('pool',), log=log)['pool']


def f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) / 32768.0


def channel_copies(x: np.ndarray) -> dict[str, np.ndarray]:
    """The sox / G.711 phone channels of one file, int16 (the Opus ones come from the cache)."""
    out = {'ulaw': channel.g711_channel(x, 'ulaw'), 'alaw': channel.g711_channel(x, 'alaw'),
           'amr7': channel.mobile_channel(x, 'amrnb', 7), 'amr0': channel.mobile_channel(x, 'amrnb', 0, 'alaw'),
           'gsm': channel.mobile_channel(x, 'gsm')}
    return {k: channel.to_int16(v) for k, v in out.items()}


COPIES_DIR = CACHE_DIR / 'speaker-channels'


def cached_copies(iid: str, clean: np.ndarray) -> dict[str, np.ndarray]:
    """channel_copies() of one file, kept in training/cache/speaker-channels/ (keyed by id and samples)."""
    key = hashlib.sha1(iid.encode() + np.ascontiguousarray(clean).tobytes()).hexdigest()[:20]
    path = COPIES_DIR / f'{key}.npz'
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = channel_copies(f32(clean))
    COPIES_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'{key}.{os.getpid()}.tmp.npz')
    np.savez(tmp, **out)
    tmp.rename(path)
    return out


class Sampler:
    def __init__(self, train_items, store, spk_index: dict[str, int], batch: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.batch = batch
        self.files: dict[str, list[tuple[str, int]]] = {}
        self.audio: dict[str, dict[str, np.ndarray]] = {}
        t0 = time.time()
        for it in train_items:
            clean = np.asarray(store.get(it.id, 'clean'))
            if len(clean) < SR // 2:
                continue
            a = {'clean': clean, **cached_copies(it.id, clean)}
            for b in ('8', '16', '24'):
                a[f'opus{b}'] = np.asarray(store.get(it.id, f'opus{b}'))
            self.audio[it.id] = a
            self.files.setdefault(it.speaker, []).append((it.id, len(clean)))
        log(f'sampler: {len(self.audio)} files of {len(self.files)} speakers, channel copies in {time.time() - t0:.0f}s')
        self.speakers = sorted(self.files)
        self.spk_index = spk_index
        self.names = [n for n, _ in CHANNELS]
        self.probs = np.array([p for _, p in CHANNELS]) / sum(p for _, p in CHANNELS)

    def crop(self, spk: str) -> np.ndarray:
        rng = self.rng
        files = self.files[spk]
        lens = np.array([n for _, n in files], np.float64)
        iid, n = files[int(rng.choice(len(files), p=lens / lens.sum()))]
        x = self.audio[iid][self.names[int(rng.choice(len(self.names), p=self.probs))]]
        best = None
        for _ in range(4):
            s = int(rng.integers(0, max(1, n - WINDOW + 1)))
            w = f32(x[s:s + WINDOW])
            if len(w) < WINDOW:
                w = np.pad(w, (0, WINDOW - len(w)))
            if speech_ratio(w) >= 0.5:
                best = w
                break
            best = w if best is None else best
        if rng.random() < 0.25:                                  # background noise at 8-30 dB SNR
            p = float((best ** 2).mean()) + 1e-10
            noise = rng.standard_normal(WINDOW).astype(np.float32)
            if rng.random() < 0.5:
                noise = np.cumsum(noise) * 0.05                   # brown-ish
                noise -= noise.mean()
            snr = rng.uniform(8, 30)
            best = best + noise * np.sqrt(p / (float((noise ** 2).mean()) + 1e-10) / 10 ** (snr / 10))
        return best * 10 ** (rng.uniform(-10, 6) / 20)

    def batch_xy(self) -> tuple[torch.Tensor, torch.Tensor]:
        spks = self.rng.choice(len(self.speakers), self.batch)
        x = np.stack([self.crop(self.speakers[i]) for i in spks]).astype(np.float32)
        y = np.array([self.spk_index[self.speakers[i]] for i in spks])
        return torch.from_numpy(x), torch.from_numpy(y)


def utterance_audio(store, iid: str, part: str) -> np.ndarray:
    x = f32(store.get(iid, 'clean'))
    half = len(x) // 2
    return x if part == 'all' else (x[:half] if part == 'first' else x[half:])


def embed(sess, x: np.ndarray) -> tuple[np.ndarray | None, int]:
    w = speech_windows(x, EVAL_HOP)
    if len(w) == 0:
        return None, 0
    embs = np.concatenate([sess.run(None, {'audio': w[i:i + 64]})[0] for i in range(0, len(w), 64)])
    return mean_embedding(embs), len(w)


def evaluate_fold(onnx_path: str, store, pl: dict, fold: int, out: Path) -> None:
    """Embeddings of the fold's held-out utterances and of the clones of its speakers, wideband and through G.711."""
    from devoxtrain.onnx_io import session
    sess = session(onnx_path, threads=1)
    rows, wb, nb = [], [], []
    spks = sorted(s for s, f in pl['fold_of'].items() if f == fold)
    for spk in spks:
        for iid, part in pl['utts'][spk]:
            x = utterance_audio(store, iid, part)
            e_wb, n_wb = embed(sess, x)
            e_nb, _ = embed(sess, channel.g711_channel(x, 'ulaw'))
            if e_wb is None or e_nb is None:
                continue
            rows.append({'kind': 'genuine', 'speaker': spk, 'id': iid, 'part': part, 'windows': n_wb})
            wb.append(e_wb)
            nb.append(e_nb)
    spk_set = set(spks)
    for it in pl['clones']:
        if it.speaker not in spk_set:
            continue
        x = f32(store.get(it.id, 'clean'))
        e_wb, n_wb = embed(sess, x)
        e_nb, _ = embed(sess, channel.g711_channel(x, 'ulaw'))
        if e_wb is None or e_nb is None:
            continue
        rows.append({'kind': 'clone', 'speaker': it.speaker, 'id': it.id, 'part': 'all', 'windows': n_wb,
                     'generator': it.generator, 'source': it.source, 'condition': it.extra.get('condition', '')})
        wb.append(e_wb)
        nb.append(e_nb)
    np.savez(out / 'heldout.npz', wb=np.stack(wb), g711=np.stack(nb))
    (out / 'heldout.json').write_text(json.dumps({'fold': fold, 'rows': rows}))
    log(f'fold {fold}: {sum(r["kind"] == "genuine" for r in rows)} held-out utterances of {len(spks)} speakers, '
        f'{sum(r["kind"] == "clone" for r in rows)} clones embedded')


def cmd_train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = read_manifest(args.manifest)
    pl = plan(items, args.folds, args.split_seed)
    held = {s for s, f in pl['fold_of'].items() if f == args.fold} if args.fold is not None else set()
    held |= set(DEMO_SPEAKERS)
    train_items = [it for it in items if it.label == 'genuine' and it.speaker not in held]
    store = pooled_store(items)
    spk_durs: dict[str, float] = {}
    for it in train_items:
        spk_durs[it.speaker] = spk_durs.get(it.speaker, 0.0) + min(it.duration_s, POOL_CAP_S)
    train_spk = sorted(s for s, d in spk_durs.items() if d >= args.min_speaker_s
                       and not (args.drop_pooled and POOLED_SPEAKERS.match(s)))
    train_items = [it for it in train_items if it.speaker in set(train_spk)]
    spk_index = {s: i for i, s in enumerate(train_spk)}
    log(f'fold {args.fold}: {len(train_spk)} training speakers ({len(train_items)} files, '
        f'{sum(spk_durs[s] for s in train_spk) / 60:.1f} min), {len(held)} held out')
    sampler = Sampler(train_items, store, spk_index, args.batch, args.seed)
    net = SpeakerNet(widths=tuple(int(w) for w in args.widths.split(',')), emb_dim=args.emb_dim)
    net.freq_mask = args.freq_mask
    head = AAMSoftmax(args.emb_dim, len(train_spk), margin=args.margin, scale=args.scale)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    t0 = time.time()
    run_loss = run_acc = 0.0
    net.train()
    for step in range(1, args.steps + 1):
        x, y = sampler.batch_xy()
        margin = args.margin * min(1.0, step / (0.3 * args.steps))
        loss, acc = head(net(x), y, margin)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        run_loss = 0.98 * run_loss + 0.02 * loss.item() if step > 1 else loss.item()
        run_acc = 0.98 * run_acc + 0.02 * acc.item() if step > 1 else acc.item()
        if step % 100 == 0 or step == args.steps:
            log(f'step {step}/{args.steps} loss {run_loss:.3f} train acc {run_acc:.3f} margin {margin:.2f} '
                f'({(time.time() - t0) / step:.2f} s/step)')
    net.eval()
    torch.save({'state': net.state_dict(), 'config': net.config}, out / 'model.pt')
    export(net, str(out / 'model.onnx'))
    recipe = {k: v for k, v in vars(args).items() if k not in ('func', 'out')}
    recipe.update({'train_speakers': len(train_spk), 'train_files': len(train_items),
                   'train_minutes': round(sum(spk_durs[s] for s in train_spk) / 60, 1),
                   'held_out_speakers': sorted(held), 'train_seconds': round(time.time() - t0),
                   'channels': dict(CHANNELS)})
    (out / 'recipe.json').write_text(json.dumps(recipe, indent=1))
    if args.fold is not None:
        evaluate_fold(str(out / 'model.onnx'), store, pl, args.fold, out)
    log(f'done in {time.time() - t0:.0f}s -> {out}')


def cmd_fusion_manifest(args) -> None:
    """A devox eval manifest (path,label; absolute paths) of every fold's held-out files: the genuine utterances
    and the clones of held-out speakers, for the deep-voice verdicts the report fuses with."""
    rows = {}
    if not args.runs:                      # every fold's held-out files, from the plan alone
        items = read_manifest(args.manifest)
        pl = plan(items, args.folds, args.split_seed)
        held = set(pl['fold_of'])
        for spk in held:
            for iid, _ in pl['utts'][spk]:
                rows[str((Path(args.manifest).parent / iid).resolve())] = 'genuine'
        for it in pl['clones']:
            if it.speaker in held:
                rows[str(Path(it.path).resolve())] = 'synthetic'
    for run in args.runs or []:
        for r in json.loads((Path(run) / 'heldout.json').read_text())['rows']:
            path = str((Path(args.manifest).parent / r['id']).resolve())
            rows[path] = 'synthetic' if r['kind'] == 'clone' else 'genuine'
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text('path,label\n' + ''.join(f'{p},{lab}\n' for p, lab in sorted(rows.items())))
    log(f'{len(rows)} files -> {args.out}')


def cmd_ship(args) -> None:
    """npm run train:speaker: every fold, the deep-voice verdicts of the held-out files (the runtime's detector, for
    fusion), then the report and models/devox-speaker from fold `--ship-fold`'s model."""
    import subprocess
    args.runs = args.runs or str(RUNS_DIR / f'speaker-{args.steps}')
    runs = [str(Path(args.runs) / f'f{k}') for k in range(args.folds)]
    me = str(Path(__file__).resolve())
    for k, run in enumerate(runs):
        if (Path(run) / 'heldout.npz').exists() and not args.retrain:
            log(f'fold {k}: {run} exists (--retrain to redo)')
            continue
        subprocess.run([sys.executable, me, 'train', '--folds', str(args.folds), '--fold', str(k), '--steps', str(args.steps),
                        '--drop-pooled', str(args.drop_pooled), '--out', run], check=True)
    fusion = Path(args.runs) / 'fusion'
    subprocess.run([sys.executable, me, 'fusion-manifest', '--runs', *runs, '--out', str(fusion / 'manifest.csv')], check=True)
    verdicts = fusion / 'eval.json'
    if not verdicts.exists() or args.retrain:
        with open(verdicts, 'w') as out:
            subprocess.run(['npx', 'tsx', 'src/cli.ts', 'eval', str(fusion / 'manifest.csv'), '--channel', 'g711u', '--json',
                            '--bootstrap', '0'], check=True, stdout=out, cwd=str(REPO))
    from speaker_report import main as report_main
    report_main(['--runs', *runs, '--verdicts', str(verdicts), '--ship', str(args.ship_fold), '--out', args.out,
                 '--version', args.version])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(required=True)
    t = sub.add_parser('train', help='train one fold (or every speaker with --fold omitted)')
    t.add_argument('--manifest', default=str(SHARED_MANIFEST))
    t.add_argument('--folds', type=int, default=2)
    t.add_argument('--fold', type=int, default=None)
    t.add_argument('--split-seed', type=int, default=1337)
    t.add_argument('--seed', type=int, default=1337)
    t.add_argument('--steps', type=int, default=1800)
    t.add_argument('--batch', type=int, default=64)
    t.add_argument('--lr', type=float, default=0.004)
    t.add_argument('--weight-decay', type=float, default=1e-4)
    t.add_argument('--margin', type=float, default=0.2)
    t.add_argument('--scale', type=float, default=30.0)
    t.add_argument('--widths', default='16,32,48,64,96')
    t.add_argument('--emb-dim', type=int, default=128)
    t.add_argument('--freq-mask', type=int, default=4)
    t.add_argument('--min-speaker-s', type=float, default=3.0)
    t.add_argument('--threads', type=int, default=1)
    t.add_argument('--drop-pooled', type=int, default=1, help='1: pooled multi-speaker ids are no training class')
    t.add_argument('--out', required=True)
    t.set_defaults(func=cmd_train)
    c = sub.add_parser('fusion-manifest', help='devox eval manifest of the folds\' held-out files')
    c.add_argument('--manifest', default=str(SHARED_MANIFEST))
    c.add_argument('--runs', nargs='*', default=[])
    c.add_argument('--folds', type=int, default=2)
    c.add_argument('--split-seed', type=int, default=1337)
    c.add_argument('--out', required=True)
    c.set_defaults(func=cmd_fusion_manifest)
    sh = sub.add_parser('ship', help='all folds, fusion verdicts, report and models/devox-speaker')
    sh.add_argument('--folds', type=int, default=2)
    sh.add_argument('--steps', type=int, default=1800)
    sh.add_argument('--runs', default='', help='default training/runs/speaker-<steps>')
    sh.add_argument('--ship-fold', type=int, default=0)
    sh.add_argument('--out', default=str(MODELS_DIR / 'devox-speaker'))
    sh.add_argument('--version', default='1.1.0')
    sh.add_argument('--retrain', action='store_true')
    sh.add_argument('--drop-pooled', type=int, default=1)
    sh.set_defaults(func=cmd_ship)
    if len(sys.argv) > 1 and sys.argv[1] == 'report':
        from speaker_report import main as report_main
        report_main(sys.argv[2:])
        return
    args = ap.parse_args()
    args.func(args)


if __name__ == '__main__':
    main()
