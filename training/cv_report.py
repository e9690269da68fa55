#!/usr/bin/env python3
"""Pool the out-of-fold scores of a cross-validated recipe (train.py --folds N --fold K, one run per fold) into
the figures that choose a recipe and calibrate the model that ships:

    python3 training/cv_report.py training/runs/cv-narrow-f{0,1,2} --channel g711_ulaw --out cv-narrow.json

- per fold and pooled, per channel (wideband, G.711 mu-law): window EER (speech windows) and file EER, with
  95% intervals from a file-level bootstrap;
- per generator family (pooled genuine vs that family's synthetic files);
- verdict thresholds calibrated on the pooled out-of-fold *call* scores of `--channel` (the verdict engine's
  smoothed score, replayed window by window, src/verdicts/verdict-policy.ts) and the verdict confusion table
  (genuine / suspicious / synthetic / insufficient_speech x truth) per channel at those thresholds.

Thresholds: `eer` where false alarms equal misses; `suspicious` where EER/2 of synthetic calls score below it
(calling a call genuine then errs at most half as often as the EER point); `synthetic` where EER/2 of genuine calls
reach it. Both sides are symmetric: each decided label errs at most half as often as the EER, the calls between the
two thresholds are `suspicious`, the honest middle. The thresholds are calibrated on the same pooled scores the
table is computed on (out-of-fold for the model, in-sample for the thresholds): the card says so.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


import numpy as np

from devoxtrain.metrics import eer, eer_ci

LABELS = ('genuine', 'suspicious', 'synthetic', 'insufficient_speech')
# config/default.json "verdict": the engine this replays
VERDICT = {'minSpeechSec': 1.0, 'insufficientSpeechAfterSec': 10.0, 'evidenceAlpha': 0.05, 'hysteresis': 0.05,
           'hopSec': 0.25}
P_MIN, P_MAX = 1e-4, 1 - 1e-4


def call_score(scores: list[float], speech: list[bool], cfg: dict = VERDICT) -> tuple[float | None, float]:
    """The verdict engine's smoothed score after the last window (bias-corrected EMA of log-odds over speech
    windows) and the speech seconds it counted; score None when no window is speech."""
    a, ema, decay, speech_sec, covered = cfg['evidenceAlpha'], 0.0, 1.0, 0.0, 0.0
    for i, (p, sp) in enumerate(zip(scores, speech)):
        if not sp:
            continue
        start, end = i * cfg['hopSec'], i * cfg['hopSec'] + 1.0
        speech_sec += max(0.0, end - max(start, covered))
        covered = max(covered, end)
        q = min(max(p, P_MIN), P_MAX)
        ema = (1 - a) * ema + a * np.log(q / (1 - q))
        decay *= 1 - a
    if decay == 1.0:
        return None, 0.0
    return float(1 / (1 + np.exp(-ema / (1 - decay)))), speech_sec


def replay_label(scores: list[float], speech: list[bool], t: dict, cfg: dict = VERDICT) -> str:
    """The final label the verdict engine gives this stream (with hysteresis), window by window."""
    a, h = cfg['evidenceAlpha'], cfg['hysteresis']
    ema, decay, speech_sec, covered, label = 0.0, 1.0, 0.0, 0.0, 'listening'
    rank = {'genuine': 2, 'suspicious': 3, 'synthetic': 4}
    for i, (p, sp) in enumerate(zip(scores, speech)):
        start, end = i * cfg['hopSec'], i * cfg['hopSec'] + 1.0
        if sp:
            speech_sec += max(0.0, end - max(start, covered))
            covered = max(covered, end)
            q = min(max(p, P_MIN), P_MAX)
            ema = (1 - a) * ema + a * np.log(q / (1 - q))
            decay *= 1 - a
        if speech_sec < cfg['minSpeechSec'] or decay == 1.0:
            if label == 'listening' and end >= cfg['insufficientSpeechAfterSec']:
                label = 'insufficient_speech'
            continue
        s = 1 / (1 + np.exp(-ema / (1 - decay)))
        plain = 'synthetic' if s >= t['synthetic'] else 'suspicious' if s >= t['suspicious'] else 'genuine'
        if label not in rank or plain == label:
            label = plain
        elif rank[plain] > rank[label]:
            if s >= t['synthetic'] + h:
                label = 'synthetic'
            elif label == 'genuine' and s >= t['suspicious'] + h:
                label = 'suspicious'
        else:
            if s < t['suspicious'] - h:
                label = 'genuine'
            elif label == 'synthetic' and s < t['synthetic'] - h:
                label = 'suspicious'
    return 'insufficient_speech' if label == 'listening' else label


def verdict_thresholds(y: np.ndarray, s: np.ndarray) -> dict:
    e, t = eer(y, s)
    g, syn = s[y == 0], s[y == 1]
    sus = float(np.quantile(syn, e / 2, method='lower'))
    hi = float(np.quantile(g, 1 - e / 2, method='higher'))
    eps = 1e-4
    return {'eer': round(float(t), 6), 'suspicious': round(max(min(sus, t - eps), eps), 6),
            'synthetic': round(min(max(hi, t + eps), 1 - eps), 6), 'dev_eer': round(float(e), 4)}


def _pct(v: float) -> float | None:
    return round(100 * v, 2) if v == v else None


def block(rows: list[dict]) -> dict:
    y_f = np.array([r['y'] for r in rows])
    s_f = np.array([r['file_score'] for r in rows])
    w_y, w_s, w_f = [], [], []
    for i, r in enumerate(rows):
        sel = np.array(r['speech'], bool)
        w_s.append(np.array(r['scores'])[sel])
        w_y.append(np.full(int(sel.sum()), r['y']))
        w_f.append(np.full(int(sel.sum()), i))
    w_y, w_s, w_f = np.concatenate(w_y), np.concatenate(w_s), np.concatenate(w_f)
    out = {'files': int(len(rows)), 'genuine_files': int((y_f == 0).sum()), 'synthetic_files': int((y_f == 1).sum()),
           'speech_windows': int(len(w_y))}
    if len(set(y_f)) < 2:
        return out
    we, _ = eer(w_y, w_s)
    fe, _ = eer(y_f, s_f)
    out.update({'window_eer_pct': _pct(we), 'file_eer_pct': _pct(fe),
                'window_eer_ci95_pct': [_pct(v) for v in eer_ci(w_y, w_s, w_f)],
                'file_eer_ci95_pct': [_pct(v) for v in eer_ci(y_f, s_f)]})
    return out


def load(dirs: list[str], name: str = 'oof.json') -> tuple[list[dict], list[dict]]:
    rows, folds = [], []
    for d in dirs:
        oof = json.loads((Path(d) / name).read_text())
        folds.append(oof['meta'])
        for r in oof['files']:
            r = dict(r)
            r['fold'] = oof['meta']['fold']
            r['y'] = int(r['label'] == 'synthetic')
            r['stored_codec'] = 'opus64k' if r['id'].endswith('.opus') else 'flac'
            sc, sp = call_score(r['scores'], r['speech'])
            if sc is None:                                 # no speech window: the file still gets a score
                sc, sp = call_score(r['scores'], [True] * len(r['scores']))
            r['file_score'], r['speech_sec'] = sc, sp
            rows.append(r)
    ks = sorted(f['fold'] for f in folds)
    if len(set(ks)) != len(ks):
        raise SystemExit(f'two runs hold out the same fold: {ks}')
    return rows, folds


def report(rows: list[dict], folds: list[dict], channel: str) -> dict:
    chans = sorted({r['channel'] for r in rows})
    if channel not in chans:
        raise SystemExit(f'--channel {channel}: the runs scored {chans}')
    out: dict = {'folds': folds, 'per_channel': {}}
    cal = [r for r in rows if r['channel'] == channel]
    t = verdict_thresholds(np.array([r['y'] for r in cal]), np.array([r['file_score'] for r in cal]))
    wy = np.concatenate([np.full(int(np.sum(r['speech'])), r['y']) for r in cal])
    ws = np.concatenate([np.array(r['scores'])[np.array(r['speech'], bool)] for r in cal])
    out['thresholds'] = t
    out['window_thresholds'] = verdict_thresholds(wy, ws)
    out['calibrated_on'] = (f'pooled out-of-fold call scores through {channel} ({len(cal)} files, '
                            f'{len(folds)} folds); the verdict tables use the same scores')
    for ch in chans:
        rs = [r for r in rows if r['channel'] == ch]
        per_fold = {str(f['fold']): block([r for r in rs if r['fold'] == f['fold']]) for f in folds}
        fe = [b['file_eer_pct'] for b in per_fold.values() if b.get('file_eer_pct') is not None]
        we = [b['window_eer_pct'] for b in per_fold.values() if b.get('window_eer_pct') is not None]
        fam = defaultdict(list)
        for r in rs:
            if r['y'] == 1:
                fam[r['family']].append(r)
        gen = [r for r in rs if r['y'] == 0]
        table = {lab: {v: 0 for v in LABELS} for lab in ('genuine', 'synthetic')}
        for r in rs:
            table[r['label']][replay_label(r['scores'], r['speech'], t)] += 1
        share = {lab: {v: _pct(n / max(1, sum(c.values()))) for v, n in c.items()} for lab, c in table.items()}
        out['per_channel'][ch] = {
            'pooled': block(rs),
            'per_fold': per_fold,
            'fold_mean_file_eer_pct': round(float(np.mean(fe)), 2) if fe else None,
            'fold_sd_file_eer_pct': round(float(np.std(fe, ddof=1)), 2) if len(fe) > 1 else None,
            'fold_mean_window_eer_pct': round(float(np.mean(we)), 2) if we else None,
            'fold_sd_window_eer_pct': round(float(np.std(we, ddof=1)), 2) if len(we) > 1 else None,
            'per_family': {f: block(gen + v) for f, v in sorted(fam.items())},
            # v3 stores new sources as Opus 64 kbps, v2 ones as FLAC: a cue the model must not learn. Within each
            # storage codec both labels exist; a model that learned the codec would separate the groups' genuine files
            'per_stored_codec': {c: dict(block([r for r in rs if r['stored_codec'] == c]),
                                         median_call_score={lab: round(float(np.median([r['file_score'] for r in rs if r['stored_codec'] == c and r['label'] == lab])), 4)
                                                            for lab in ('genuine', 'synthetic') if any(r['stored_codec'] == c and r['label'] == lab for r in rs)})
                                 for c in sorted({r['stored_codec'] for r in rs})},
            'verdicts': {'counts': table, 'pct': share},
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+', help='the fold run directories (each with oof.json)')
    ap.add_argument('--channel', default='g711_ulaw', choices=('wideband', 'g711_ulaw'),
                    help='the channel whose calls calibrate the thresholds (the band the model serves)')
    ap.add_argument('--out', required=True, help='JSON report; train.py --all --thresholds-from reads it')
    args = ap.parse_args(argv)
    rows, folds = load(args.runs)
    rep = report(rows, folds, args.channel)
    rep['runs'] = [str(d) for d in args.runs]
    rep['calibration_channel'] = args.channel
    Path(args.out).write_text(json.dumps(rep, indent=1) + '\n')
    print(f'thresholds ({args.channel}): {rep["thresholds"]}')
    for ch, c in rep['per_channel'].items():
        p = c['pooled']
        print(f'{ch}: pooled window EER {p.get("window_eer_pct")}% file EER {p.get("file_eer_pct")}% | folds: '
              + ', '.join(f'{k}: {b.get("window_eer_pct")}/{b.get("file_eer_pct")}' for k, b in c['per_fold'].items())
              + f' | mean file {c["fold_mean_file_eer_pct"]} sd {c["fold_sd_file_eer_pct"]}')
        for lab, row in c['verdicts']['pct'].items():
            print(f'   {lab:9s} -> ' + ', '.join(f'{v} {n}%' for v, n in row.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
