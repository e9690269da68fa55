#!/usr/bin/env python3
"""Speech gating: does Silero VAD pick the 1-s windows that vote in a call's verdict better than the energy rule?

    python3 training/vad_gate.py training/runs/plain/cv-wideband-f{0,1,2} --out vad-gate-wideband.json
    python3 training/vad_gate.py --self-test

Each RUN_DIR is a cross-validation fold (train.py --folds N --fold K) with its `oof.json` (cv.write_oof: every
runtime window score of every held-out file, wideband and through G.711 mu-law, with the energy rule's speech flag);
the folds given are pooled, as cv_report.py pools them, so give the folds of ONE recipe per call.

For every file and channel the audio is rebuilt exactly as the scores were made: decoded and capped as the training
cache does (`cache.load_audio(path, cap)` with the run's `cache_caps_sec`, from card.json; int16-quantised, as the
cache stores it), through `channel.g711_channel(x, 'ulaw')` for the G.711 channel, cut into the runtime's windows
(1 s every 250 ms, metrics.cut_windows). The window count must equal len(scores) and the recomputed energy flags
must equal the stored ones (both reported); `--verify-scores N` also rescores N files per run with the run's
model.onnx.

Silero VAD (training/vad/silero_vad.onnx, v5) runs in streaming mode over the whole file at 16 kHz: 512-sample chunks
(32 ms), each with the previous 64 samples prepended (zeros before the first), the recurrent state carried from chunk
to chunk, one speech probability per chunk. A window's VAD speech ratio is the share of the chunks lying wholly
inside it (30 or 31 of them: what a streaming runtime has when the window closes) with p >= 0.5. Files are run as
a batch (one state row per file; identical to one at a time, checked by --self-test); the cost is timed one file at
a time, batch 1, one thread.

Gating rules compared, per channel: all windows (no gate, reference); energy (the stored flags: >= 30% of 20-ms
frames above -45 dBFS); vad>=0.3; vad>=0.5; energy&vad>=0.3. For each: window EER over the gated windows, file EER
(file score = sigmoid(mean logit of gated windows), all windows when none is gated), windows and files gated out (per
label), and paired file-level bootstrap intervals of the EER difference against the energy rule. Also: how often
energy and VAD disagree.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from devoxtrain.cache import load_audio
from devoxtrain.channel import g711_channel, to_int16
from devoxtrain.constants import CAPS, REPO, SHARED_SPEECH, TRAINING_DIR
from devoxtrain.metrics import SR, WINDOW, cut_windows, eer, speech_windows, window_starts

MODEL = TRAINING_DIR / 'vad' / 'silero_vad.onnx'
DATA = SHARED_SPEECH
CHUNK = 512            # Silero v5 at 16 kHz
CONTEXT = 64           # samples of the previous chunk prepended to each chunk (32 at 8 kHz)
P_SPEECH = 0.5         # a chunk is speech when its probability reaches this
DEFAULT_CAP = CAPS['train']   # training cache cap when a run's card does not say
CHANNELS = ('wideband', 'g711_ulaw')
LOGIT_CLIP = 1e-6      # as cv.speech_log_odds


# ---------------------------------------------------------------- Silero VAD
class Silero:
    def __init__(self, path: str | os.PathLike = MODEL, threads: int = 1):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.path = str(path)
        self.sess = ort.InferenceSession(self.path, so, providers=['CPUExecutionProvider'])
        names = {i.name for i in self.sess.get_inputs()}
        if names != {'input', 'state', 'sr'}:
            raise SystemExit(f'{path}: expected Silero v5/v6 inputs input/state/sr, found {sorted(names)}')
        self.sr = np.array(SR, dtype=np.int64)

    def stream(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Speech probability per 512-sample chunk of each signal (16 kHz float32), the signals run side by side as
        one batch (state row i belongs to signal i); the last partial chunk is zero-padded."""
        if not xs:
            return []
        lens = [len(x) for x in xs]
        n = -(-max(max(lens), 1) // CHUNK) * CHUNK
        X = np.zeros((len(xs), n), np.float32)
        for i, x in enumerate(xs):
            X[i, :len(x)] = x
        state = np.zeros((2, len(xs), 128), np.float32)
        ctx = np.zeros((len(xs), CONTEXT), np.float32)
        out = np.empty((len(xs), n // CHUNK), np.float32)
        for k in range(n // CHUNK):
            inp = np.concatenate([ctx, X[:, k * CHUNK:(k + 1) * CHUNK]], axis=1)
            p, state = self.sess.run(None, {'input': inp, 'state': state, 'sr': self.sr})
            out[:, k] = p[:, 0]
            ctx = inp[:, -CONTEXT:]
        return [out[i, :-(-max(m, 1) // CHUNK)] for i, m in enumerate(lens)]


def window_vad_ratio(probs: np.ndarray, n_samples: int, p_speech: float = P_SPEECH) -> np.ndarray:
    """Per runtime window (metrics.window_starts(n_samples)): the share of the chunks lying wholly inside it with
    p >= p_speech."""
    starts = window_starts(n_samples)
    hit = np.concatenate([[0], np.cumsum(probs >= p_speech)])
    lo = -(-starts // CHUNK)                                   # first chunk starting at or after the window start
    hi = np.minimum((starts + WINDOW) // CHUNK, len(probs))    # chunks ending at or before the window end
    cnt = np.maximum(hi - lo, 1)
    return (hit[hi] - hit[lo]) / cnt


def vad_input(x: np.ndarray) -> np.ndarray:
    """What the VAD streams: the signal, zero-padded to 1 s as cut_windows pads a short file."""
    return np.pad(x, (0, WINDOW - len(x))) if len(x) < WINDOW else x


# ---------------------------------------------------------------- audio as the OOF scores were made
def cached_audio(path: str, cap: float | None) -> np.ndarray:
    """cache.build's copy of a file: decoded, resampled to 16 kHz, capped, stored int16."""
    return to_int16(load_audio(path, cap)).astype(np.float32) / 32768.0


def channel_audio(x: np.ndarray, ch: str) -> np.ndarray:
    if ch == 'wideband':
        return x
    if ch == 'g711_ulaw':
        return g711_channel(x, 'ulaw')
    raise SystemExit(f'unknown channel {ch!r}')


def run_cap(run: Path) -> float | None:
    card = run / 'card.json'
    if card.exists():
        caps = json.loads(card.read_text()).get('training', {}).get('cache_caps_sec') or {}
        if 'train' in caps:                  # train.py caches one pool for every split with caps['train']
            return float(caps['train'])
    return DEFAULT_CAP


def model_session(path: Path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=['CPUExecutionProvider'])


def compute_runs(runs: list[Path], data: Path, vad: Silero, batch: int, verify_scores: int, log=print):
    """Per (run, file row): stored scores/speech, the VAD ratios; per run: the consistency checks."""
    rows, run_info, memo = [], [], {}
    for run in runs:
        oof = json.loads((run / 'oof.json').read_text())
        files = oof['files']
        cap = run_cap(run)
        info = {'dir': str(run), 'meta': oof.get('meta'), 'rows': len(files), 'cache_cap_sec': cap,
                'cap_fallback': {}, 'window_count_mismatch': [], 'energy_flag_mismatch_windows': 0,
                'energy_flag_windows': 0}
        sess = model_session(run / 'model.onnx') if verify_scores and (run / 'model.onnx').exists() else None
        checked, max_dev = 0, 0.0
        t0 = time.time()
        todo = [f for f in files if (f['id'], f['channel'], cap) not in memo]
        # load by file (both channels of one file share the decode), run the VAD over batches of signals
        by_id: dict[str, list[dict]] = {}
        for f in todo:
            by_id.setdefault(f['id'], []).append(f)
        ids = list(by_id)
        for b in range(0, len(ids), batch):
            sigs, keys = [], []
            for iid in ids[b:b + batch]:
                path = str(data / iid)
                x, used = cached_audio(path, cap), cap
                need = {len(f['scores']) for f in by_id[iid]}
                if len(window_starts(len(x))) not in need:
                    for alt in (DEFAULT_CAP, 60.0, None):
                        if alt == cap:
                            continue
                        y = cached_audio(path, alt)
                        if len(window_starts(len(y))) in need:
                            x, used = y, alt
                            info['cap_fallback'][iid] = alt
                            break
                for f in by_id[iid]:
                    xc = channel_audio(x, f['channel'])
                    win = cut_windows(xc)
                    if len(win) != len(f['scores']):
                        info['window_count_mismatch'].append({'id': iid, 'channel': f['channel'],
                                                              'stored': len(f['scores']), 'recomputed': len(win)})
                        continue
                    e = speech_windows(win)
                    info['energy_flag_mismatch_windows'] += int(np.sum(e != np.asarray(f['speech'], bool)))
                    info['energy_flag_windows'] += len(e)
                    if sess is not None and checked < verify_scores:
                        p = np.concatenate([sess.run(None, {'audio': win[i:i + 256]})[0]
                                            for i in range(0, len(win), 256)])
                        max_dev = max(max_dev, float(np.abs(p - np.asarray(f['scores'])).max()))
                        checked += 1
                    sigs.append(vad_input(xc))
                    keys.append(((iid, f['channel'], cap), len(xc)))
            for (key, n), probs in zip(keys, vad.stream(sigs)):
                memo[key] = window_vad_ratio(probs, n)
            log(f'{run.name}: {min(b + batch, len(ids))}/{len(ids)} files  ({time.time() - t0:.0f}s)')
        if sess is not None:
            info['score_check'] = {'rows_rescored': checked, 'max_abs_diff': max_dev,
                                   'note': 'stored scores are rounded to 5 decimals'}
        for f in files:
            key = (f['id'], f['channel'], cap)
            if key in memo:
                rows.append({'run': run.name, 'cap': info['cap_fallback'].get(f['id'], cap), 'id': f['id'], 'label': int(f['label'] == 'synthetic'),
                             'family': f.get('family', ''), 'channel': f['channel'],
                             'scores': np.asarray(f['scores'], np.float64),
                             'energy': np.asarray(f['speech'], bool), 'vad': memo[key]})
        run_info.append(info)
    return rows, run_info


# ---------------------------------------------------------------- comparison
RULES = {
    'all': lambda e, v: np.ones_like(e),
    'energy': lambda e, v: e,
    'vad>=0.3': lambda e, v: v >= 0.3,
    'vad>=0.5': lambda e, v: v >= 0.5,
    'energy&vad>=0.3': lambda e, v: e & (v >= 0.3),
}
BASE = 'energy'


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p / (1 - p))


def file_score(lo: np.ndarray, gate: np.ndarray) -> float:
    sel = gate if gate.any() else np.ones(len(lo), bool)
    return float(1 / (1 + np.exp(-lo[sel].mean())))


def _pct(x: float) -> float:
    return round(100 * float(x), 2) if np.isfinite(x) else float('nan')


def compare(rows: list[dict], n_boot: int, seed: int = 0) -> dict:
    out = {}
    for ch in CHANNELS:
        rs = [r for r in rows if r['channel'] == ch]
        if not rs:
            continue
        lab = np.array([r['label'] for r in rs])
        lo = [logit(r['scores']) for r in rs]
        e_all = np.concatenate([r['energy'] for r in rs])
        v_all = np.concatenate([r['vad'] for r in rs])
        wlab_all = np.concatenate([np.full(len(r['scores']), r['label']) for r in rs])
        vg = v_all >= 0.3
        res = {'files': {'genuine': int((lab == 0).sum()), 'synthetic': int((lab == 1).sum())},
               'windows': {'genuine': int((wlab_all == 0).sum()), 'synthetic': int((wlab_all == 1).sum())},
               'vad_ratio_mean': {'genuine': round(float(v_all[wlab_all == 0].mean()), 4),
                                  'synthetic': round(float(v_all[wlab_all == 1].mean()), 4)},
               'disagreement_energy_vs_vad0.3': {
                   'any_pct': _pct(np.mean(e_all != vg)),
                   'energy_only_pct': _pct(np.mean(e_all & ~vg)), 'vad_only_pct': _pct(np.mean(~e_all & vg))},
               'disagreement_energy_vs_vad0.5_pct': _pct(np.mean(e_all != (v_all >= 0.5))),
               'rules': {}}
        gates = {name: [fn(r['energy'], r['vad']) for r in rs] for name, fn in RULES.items()}
        per = {}
        for name, g in gates.items():
            ws = np.concatenate([r['scores'][m] for r, m in zip(rs, g)])
            wl = np.concatenate([np.full(int(m.sum()), r['label']) for r, m in zip(rs, g)])
            fs = np.array([file_score(l, m) for l, m in zip(lo, g)])
            gall = np.concatenate(g)
            none = np.array([not m.any() for m in g])
            per[name] = fs
            res['rules'][name] = {
                'window_eer_pct': _pct(eer(wl, ws)[0]), 'file_eer_pct': _pct(eer(lab, fs)[0]),
                'windows_gated_in': int(gall.sum()),
                'windows_gated_out_pct': {'all': _pct(1 - gall.mean()),
                                          'genuine': _pct(1 - gall[wlab_all == 0].mean()),
                                          'synthetic': _pct(1 - gall[wlab_all == 1].mean())},
                'files_without_gated_window': {'genuine': int((none & (lab == 0)).sum()),
                                               'synthetic': int((none & (lab == 1)).sum())}}
        # paired file-level bootstrap of EER(rule) - EER(energy), stratified by label
        if n_boot:
            rng = np.random.default_rng(seed)
            idx = [np.nonzero(lab == y)[0] for y in (0, 1)]
            dw = {n: [] for n in RULES if n != BASE}
            df = {n: [] for n in RULES if n != BASE}
            for _ in range(n_boot):
                pick = np.concatenate([rng.choice(i, len(i)) for i in idx if len(i)])
                bl = lab[pick]
                base_w = eer(np.concatenate([np.full(int(gates[BASE][i].sum()), lab[i]) for i in pick]),
                             np.concatenate([rs[i]['scores'][gates[BASE][i]] for i in pick]))[0]
                base_f = eer(bl, per[BASE][pick])[0]
                for n in dw:
                    w = eer(np.concatenate([np.full(int(gates[n][i].sum()), lab[i]) for i in pick]),
                            np.concatenate([rs[i]['scores'][gates[n][i]] for i in pick]))[0]
                    dw[n].append(w - base_w)
                    df[n].append(eer(bl, per[n][pick])[0] - base_f)
            for n in dw:
                for key, d in (('window', dw[n]), ('file', df[n])):
                    d = np.asarray(d)
                    lo_, hi_ = np.nanpercentile(d, [2.5, 97.5]) if np.isfinite(d).any() else (np.nan, np.nan)
                    res['rules'][n][f'{key}_eer_delta_vs_energy'] = {
                        'ci95_pct': [_pct(lo_), _pct(hi_)], 'p_better': round(float(np.nanmean(d < 0)), 3)}
        out[ch] = res
    return out


def vad_cost(vad_path: Path, signals: list[np.ndarray], max_sec: float = 60.0, reps: int = 3) -> dict:
    """CPU ms per second of audio, one file at a time (batch 1), one intra-op thread; the best of `reps` passes
    (the machine is shared: other load inflates even CPU time), the median pass alongside."""
    vad = Silero(vad_path, threads=1)
    sigs, used = [], 0
    for x in signals:
        if used >= max_sec * SR:
            break
        sigs.append(x)
        used += len(x)
    sec = used / SR
    cpu, wall = [], []
    for _ in range(reps):
        t, w = time.process_time(), time.perf_counter()
        for x in sigs:
            vad.stream([x])
        cpu.append(time.process_time() - t)
        wall.append(time.perf_counter() - w)
    best, med = min(cpu), float(np.median(cpu))
    return {'audio_sec': round(sec, 1), 'passes': reps, 'cpu_ms_per_audio_sec': round(1000 * best / sec, 2),
            'cpu_ms_per_audio_sec_median': round(1000 * med / sec, 2),
            'wall_ms_per_audio_sec': round(1000 * min(wall) / sec, 2), 'chunk_ms': 32,
            'cpu_ms_per_chunk': round(1000 * best / (sec * SR / CHUNK), 3), 'threads': 1, 'batch': 1,
            'note': 'process CPU time on a shared 2-core machine; wall time is inflated by other load'}


# ---------------------------------------------------------------- self-test
def self_test(vad_path: Path = MODEL, sample: Path = REPO / 'samples' / 'genuine-librispeech.flac') -> bool:
    """1 s silence + 2 s of real speech + 1 s silence: windows wholly in silence must get a VAD ratio <= 0.1,
    windows wholly in speech >= 0.5; the batched run must equal the one-at-a-time run."""
    vad = Silero(vad_path)
    speech = load_audio(str(sample))[4 * SR:6 * SR]            # 4-6 s of the sample: continuous speech
    rng = np.random.default_rng(0)
    sil = lambda: (rng.standard_normal(SR) * 1e-4).astype(np.float32)   # -80 dBFS noise floor  # noqa: E731
    x = np.concatenate([sil(), speech, sil()])
    probs = vad.stream([x])[0]
    ratio = window_vad_ratio(probs, len(x))
    starts = window_starts(len(x))
    energy = speech_windows(cut_windows(x))
    silent = (starts + WINDOW <= SR) | (starts >= 3 * SR)
    talking = (starts >= SR) & (starts + WINDOW <= 3 * SR)
    batched = vad.stream([x, speech, np.zeros(700, np.float32)])
    same = float(np.abs(batched[0] - probs).max()) == 0.0 and \
        float(np.abs(batched[1] - vad.stream([speech])[0]).max()) == 0.0
    for s, r, e, si, ta in zip(starts, ratio, energy, silent, talking):
        kind = 'silence' if si else 'speech' if ta else 'mixed'
        print(f'  window {s / SR:5.2f}-{(s + WINDOW) / SR:4.2f}s  {kind:7s}  vad ratio {r:.2f}  energy {bool(e)}')
    ok = bool(np.all(ratio[silent] <= 0.1) and np.all(ratio[talking] >= 0.5) and silent.any() and talking.any()
              and same)
    print(f'silence windows max ratio {ratio[silent].max():.2f}, speech windows min ratio {ratio[talking].min():.2f}, '
          f'batched == streamed one at a time: {same}')
    print('PASS' if ok else 'FAIL')
    return ok


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='*', type=Path, help='CV fold dirs with oof.json (one recipe, pooled)')
    ap.add_argument('--out', type=Path, help='report JSON')
    ap.add_argument('--model', type=Path, default=MODEL, help='Silero VAD ONNX (default %(default)s)')
    ap.add_argument('--data', type=Path, default=DATA, help='corpus root the oof ids are relative to')
    ap.add_argument('--batch', type=int, default=64, help='signals run side by side through the VAD')
    ap.add_argument('--boot', type=int, default=200, help='paired bootstrap resamples (0: none)')
    ap.add_argument('--verify-scores', type=int, default=8, help='rows per run rescored with its model.onnx')
    ap.add_argument('--self-test', action='store_true')
    args = ap.parse_args(argv)
    if args.self_test:
        return 0 if self_test(args.model) else 1
    if not args.runs or not args.out:
        ap.error('RUN_DIR ... and --out are needed (or --self-test)')
    t0 = time.time()
    vad = Silero(args.model, threads=1)
    rows, runs = compute_runs(args.runs, args.data, vad, args.batch, args.verify_scores)
    t_vad = time.time() - t0
    # the cost: the first files' wideband audio again, one at a time
    cost_sigs = [vad_input(cached_audio(str(args.data / r['id']), r['cap']))
                 for r in rows if r['channel'] == 'wideband'][:12]
    cost = vad_cost(args.model, cost_sigs)
    report = {
        'vad_model': {'path': str(args.model), 'sha256': sha256(args.model), 'chunk': CHUNK, 'context': CONTEXT,
                      'p_speech': P_SPEECH},
        'definition': 'VAD ratio of a 1-s window = share of the 512-sample Silero chunks wholly inside it with '
                      f'p >= {P_SPEECH}; file score = sigmoid(mean logit of gated windows), all windows if none',
        'runs': runs, 'vad_cost': cost, 'wall_s': round(t_vad, 1),
        'channels': compare(rows, args.boot),
    }
    args.out.write_text(json.dumps(report, indent=1) + '\n')
    for ch, res in report['channels'].items():
        d = res['disagreement_energy_vs_vad0.3']
        print(f'\n{ch}: {res["files"]} files, {res["windows"]} windows; energy vs vad>=0.3 disagree on '
              f'{d["any_pct"]}% (energy only {d["energy_only_pct"]}%, vad only {d["vad_only_pct"]}%)')
        print(f'  {"rule":16s} {"win EER%":>8s} {"file EER%":>9s} {"out% gen/syn":>14s} {"no-gate files":>13s}'
              f'  d(win EER) 95%      d(file EER) 95%')
        for n, r in res['rules'].items():
            o = r['windows_gated_out_pct']
            nf = r['files_without_gated_window']
            dw = r.get('window_eer_delta_vs_energy', {}).get('ci95_pct', '')
            df = r.get('file_eer_delta_vs_energy', {}).get('ci95_pct', '')
            print(f'  {n:16s} {r["window_eer_pct"]:8.2f} {r["file_eer_pct"]:9.2f} '
                  f'{o["genuine"]:6.1f}/{o["synthetic"]:<6.1f} {nf["genuine"]:6d}/{nf["synthetic"]:<6d}  '
                  f'{str(dw):18s} {str(df)}')
    for r in runs:
        print(f'{r["dir"]}: cap {r["cache_cap_sec"]} s, cap fallbacks {len(r["cap_fallback"])}, window-count '
              f'mismatches {len(r["window_count_mismatch"])}, energy-flag mismatches '
              f'{r["energy_flag_mismatch_windows"]}/{r["energy_flag_windows"]}, score check {r.get("score_check")}')
    print(f'VAD cost: {cost["cpu_ms_per_audio_sec"]} ms CPU per s of audio (1 thread, batch 1, '
          f'{cost["audio_sec"]} s timed); report -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
