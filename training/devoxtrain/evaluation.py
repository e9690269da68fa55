"""Held-out evaluation: window- and file-level EER, per source and generator family, wideband and G.711,
plus the checks that the model is not recognising sources."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np

from . import channel
from .constants import SR
from .data import Item
from .metrics import cut_windows, eer, eer_ci, speech_windows
from .onnx_io import score
from .systems import family

CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'wideband': lambda x: x,
    'g711_ulaw': lambda x: channel.g711_channel(x, 'ulaw'),
}


def score_files(sess, items: list[Item], audio: Callable[[Item], np.ndarray], condition: str) -> dict:
    """Score every runtime window of every file. Returns flat arrays (window level) and per-file scores."""
    fn = CONDITIONS[condition]
    w_scores, w_file, w_speech, embs = [], [], [], []
    f_scores = np.zeros(len(items))
    for i, it in enumerate(items):
        x = fn(audio(it))
        win = cut_windows(x)
        p, e = score(sess, win)
        speech = speech_windows(win)
        w_scores.append(p)
        w_file.append(np.full(len(p), i))
        w_speech.append(speech)
        embs.append(e)
        f_scores[i] = float(np.mean(p[speech])) if speech.any() else float(np.mean(p))
    return {'w_score': np.concatenate(w_scores), 'w_file': np.concatenate(w_file),
            'w_speech': np.concatenate(w_speech), 'emb': np.concatenate(embs), 'f_score': f_scores}


def _pct(v: float) -> float:
    return round(100 * v, 2) if v == v else None


def _eer_block(y_w, s_w, y_f, s_f, w_file=None) -> dict:
    """EERs of one slice; with `w_file` (each window's file) also 95% intervals from a file-level bootstrap."""
    we, _ = eer(y_w, s_w)
    fe, _ = eer(y_f, s_f)
    out = {'window_eer_pct': _pct(we), 'file_eer_pct': _pct(fe), 'windows': int(len(y_w)), 'files': int(len(y_f)),
           'genuine_files': int((y_f == 0).sum()), 'synthetic_files': int((y_f == 1).sum())}
    if w_file is not None:
        out['window_eer_ci95_pct'] = [_pct(v) for v in eer_ci(y_w, s_w, w_file)]
        out['file_eer_ci95_pct'] = [_pct(v) for v in eer_ci(y_f, s_f)]
    return out


def report(items: list[Item], res: dict, eer_threshold: float) -> dict:
    y_item = np.array([it.y for it in items])
    sp = res['w_speech']
    w_s, w_f = res['w_score'][sp], res['w_file'][sp]
    w_y = y_item[w_f]
    f_s = res['f_score']
    out = {'overall': _eer_block(w_y, w_s, y_item, f_s, w_f)}
    w_src = np.array([items[i].source for i in w_f])
    f_src = np.array([it.source for it in items])
    w_fam = np.array([family(items[i].generator) for i in w_f])
    f_fam = np.array([family(it.generator) for it in items])
    per_source = {}
    for s in sorted(set(f_src)):
        mw, mf = w_src == s, f_src == s
        if len(set(y_item[mf])) == 2:
            per_source[s] = _eer_block(w_y[mw], w_s[mw], y_item[mf], f_s[mf])
    out['per_source'] = per_source
    per_family = {}
    for fam in sorted(set(f_fam) - {'genuine'}):
        mw = (w_fam == fam) | (w_y == 0)
        mf = (f_fam == fam) | (y_item == 0)
        blk = _eer_block(w_y[mw], w_s[mw], y_item[mf], f_s[mf])
        blk['detected_files_at_eer_threshold_pct'] = _pct(float(np.mean(f_s[f_fam == fam] >= eer_threshold)))
        per_family[fam] = blk
    out['per_family'] = per_family
    # genuine score distribution per source: is any source trivially separated?
    gen = {}
    for s in sorted(set(f_src[y_item == 0])):
        mw = (w_src == s) & (w_y == 0)
        mf = (f_src == s) & (y_item == 0)
        sc = w_s[mw]
        gen[s] = {'files': int(mf.sum()), 'windows': int(mw.sum()),
                  'median_window_score': round(float(np.median(sc)), 4) if len(sc) else None,
                  'mean_window_score': round(float(np.mean(sc)), 4) if len(sc) else None,
                  'window_fpr_at_eer_threshold_pct': _pct(float(np.mean(sc >= eer_threshold))) if len(sc) else None,
                  'file_fpr_at_eer_threshold_pct': _pct(float(np.mean(f_s[mf] >= eer_threshold)))}
    out['genuine_by_source'] = gen
    return out


def source_probe(items: list[Item], res: dict, seed: int = 0) -> dict:
    """Can a linear classifier tell the SOURCE of a genuine window from the model's embedding? Grouped 5-fold CV
    (windows of one file never on both sides); balanced accuracy vs chance (1 / number of sources)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler
    from sklearn.pipeline import make_pipeline

    y_item = np.array([it.y for it in items])
    sp = res['w_speech']
    keep = sp & (y_item[res['w_file']] == 0)
    files = res['w_file'][keep]
    src = np.array([items[i].source for i in files])
    counts = defaultdict(set)
    for f, s in zip(files, src):
        counts[s].add(f)
    ok = {s for s, fs in counts.items() if len(fs) >= 5}
    m = np.isin(src, list(ok))
    X, y, g = res['emb'][keep][m], src[m], files[m]
    if len(ok) < 2:
        return {'note': 'fewer than two genuine sources with >= 5 files; probe skipped'}
    rng = np.random.default_rng(seed)
    preds = np.empty(len(y), dtype=object)
    for tr, te in GroupKFold(n_splits=5).split(X, y, g):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight='balanced'))
        clf.fit(X[tr], y[tr])
        preds[te] = clf.predict(X[te])
    bacc = balanced_accuracy_score(y, preds)
    # the same probe on the score alone: how much of the source does the OUTPUT carry?
    s1 = res['w_score'][keep][m].reshape(-1, 1)
    preds1 = np.empty(len(y), dtype=object)
    for tr, te in GroupKFold(n_splits=5).split(s1, y, g):
        clf = LogisticRegression(max_iter=2000, class_weight='balanced').fit(s1[tr], y[tr])
        preds1[te] = clf.predict(s1[te])
    _ = rng
    return {'sources': sorted(ok), 'windows': int(len(y)), 'chance_balanced_accuracy': round(1 / len(ok), 3),
            'embedding_probe_balanced_accuracy': round(float(bacc), 3),
            'score_only_probe_balanced_accuracy': round(float(balanced_accuracy_score(y, preds1)), 3)}


def evaluate(sess, items: list[Item], audio: Callable[[Item], np.ndarray], eer_threshold: float,
             log=print) -> dict:
    out = {}
    for cond in CONDITIONS:
        res = score_files(sess, items, audio, cond)
        rep = report(items, res, eer_threshold)
        if cond == 'wideband':
            rep['source_probe'] = source_probe(items, res)
        rep['file_scores'] = {it.id: round(float(s), 4) for it, s in zip(items, res['f_score'])}
        out[cond] = rep
        o = rep['overall']
        log(f'eval {cond}: window EER {o["window_eer_pct"]}%  file EER {o["file_eer_pct"]}%  '
            f'({o["genuine_files"]} genuine / {o["synthetic_files"]} synthetic files, {o["windows"]} speech windows)')
    return out


def score_partial_edits(sess, items: list[Item], audio: Callable[[Item], np.ndarray], eer_threshold: float) -> dict:
    """Partial edits are kept out of training and of the EERs; report how often the file mean / max window flags."""
    if not items:
        return {}
    res = score_files(sess, items, audio, 'wideband')
    mx = np.array([res['w_score'][res['w_file'] == i].max() for i in range(len(items))])
    return {'files': len(items),
            'file_mean_flagged_pct': _pct(float(np.mean(res['f_score'] >= eer_threshold))),
            'file_max_window_flagged_pct': _pct(float(np.mean(mx >= eer_threshold)))}


CODEC_CONDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'clean': lambda x: x,
    'mp3_24': lambda x: channel.source_codec(x, 'mp3', 24),
    'mp3_48': lambda x: channel.source_codec(x, 'mp3', 48),
    'aac_32': lambda x: channel.source_codec(x, 'aac', 32),
    'opus_16': lambda x: channel.opus_channel(x, 16),
}


def codec_shift(sess, items: list[Item], audio: Callable[[Item], np.ndarray], per_label: int = 40,
                seed: int = 0) -> dict:
    """Does storing the audio with a lossy codec move the score? Up to `per_label` test files per label (first 20 s),
    each scored clean and through MP3 / AAC / Opus; the call score is what the verdict engine compares with the
    thresholds (sigmoid of the mean window log-odds over speech). A detector that learned a source's codec (e.g.
    "MP3 artefacts = genuine", since LibriSpeech came from MP3) moves BOTH classes the same way here."""
    rng = np.random.default_rng(seed)
    pick = []
    for y in (0, 1):
        pool = [it for it in items if it.y == y]
        pick += [pool[i] for i in sorted(rng.choice(len(pool), min(per_label, len(pool)), replace=False))]
    ys = np.array([it.y for it in pick])
    out = {'files': {'genuine': int((ys == 0).sum()), 'synthetic': int((ys == 1).sum())}, 'max_sec': 20.0,
           'conditions': {}}
    for name, fn in CODEC_CONDITIONS.items():
        calls = np.empty(len(pick))
        for i, it in enumerate(pick):
            z = fn(audio(it)[:20 * SR])
            w = cut_windows(z)
            p, _ = score(sess, w)
            sp = speech_windows(w)
            p = np.clip(p[sp] if sp.any() else p, 1e-6, 1 - 1e-6).astype(np.float64)
            calls[i] = 1 / (1 + np.exp(-np.log(p / (1 - p)).mean()))
        e, _ = eer(ys, calls)
        out['conditions'][name] = {'median_call_score_genuine': round(float(np.median(calls[ys == 0])), 4),
                                   'median_call_score_synthetic': round(float(np.median(calls[ys == 1])), 4),
                                   'file_eer_pct': _pct(e)}
    return out
