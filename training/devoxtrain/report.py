"""Final step of a training run: evaluate on test, time inference, write card.json, evaluation.json, README.md."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import onnx_io
from .cache import load_audio
from .constants import REPO
from .evaluation import codec_shift, evaluate, score_partial_edits
from .metrics import cut_windows, speech_windows
from .splits import summarize


def git_commit() -> str:
    """The commit a model is made at, for its card; "+dirty(training/)" when training/ has uncommitted changes."""
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'training'], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return sha + ('+dirty(training/)' if dirty else '')
    except OSError:
        return 'unknown'


def file_score(sess, x: np.ndarray) -> tuple[float, int]:
    w = cut_windows(x)
    p, _ = onnx_io.score(sess, w)
    sp = speech_windows(w)
    return (float(p[sp].mean()) if sp.any() else float(p.mean())), int(len(p))


def run_evaluation(sess, items, split, test_items, audio, eer_threshold, demo_ids, smoke, log, extras=True):
    """Test-split evaluation (both conditions), partial edits and codec shift (full runs only), the demo samples."""
    ev = evaluate(sess, test_items, audio, eer_threshold, log=log)
    partial, codecs = {}, {}
    if not smoke and extras:
        pe = [it for it in items if split.dropped.get(it.id) == 'partial_edit']
        partial = score_partial_edits(sess, pe, lambda it: load_audio(it.path, 60.0), eer_threshold)
        codecs = codec_shift(sess, test_items, audio)
        log('codec shift (median call score genuine / synthetic, file EER): ' + '; '.join(
            f'{k} {v["median_call_score_genuine"]} / {v["median_call_score_synthetic"]}, {v["file_eer_pct"]}%'
            for k, v in codecs['conditions'].items()))
    by_id = {it.id: it for it in items}
    demo = {iid: {'label': by_id[iid].label, 'split': split.split.get(iid, split.dropped.get(iid)),
                  **demo_scores(sess, by_id[iid].path, by_id[iid].label, eer_threshold)} for iid in demo_ids}
    return ev, partial, demo, codecs


def demo_scores(sess, path, label: str, eer_threshold: float) -> dict:
    """One demo call (never trained on), wideband and through G.711: its file score and whether it is right."""
    from .channel import g711_channel
    x = load_audio(path)
    out = {}
    for cond, z in (('wideband', x), ('g711_ulaw', g711_channel(x, 'ulaw'))):
        s, n = file_score(sess, z)
        out[cond] = {'file_score': round(s, 4), 'windows': n,
                     'correct_at_eer_threshold': bool((s >= eer_threshold) == (label == 'synthetic'))}
    return out


def strip_scores(ev: dict) -> dict:
    return {cond: {k: v for k, v in rep.items() if k != 'file_scores'} for cond, rep in ev.items()}


def finish_model_dir(*, out: Path, name, version, net, sess, items, split, by_split, stores, thresholds, params, macs,
                     parity, train_info, corpora, demo_ids, t_start, git_commit, smoke, log, extras=True,
                     cross_validation=None) -> dict:
    import time
    t0 = time.time()
    store = stores['test']
    ev, partial, demo, codecs = run_evaluation(sess, items, split, by_split['test'],
                                       lambda it: store.get(it.id).astype(np.float32) / 32768.0,
                                       thresholds['eer'], demo_ids, smoke, log, extras)
    t_eval = time.time() - t0
    timing = onnx_io.time_inference(str(out / 'model.onnx'), reps=10 if smoke else 50)
    log(f'inference: batch1 {timing["batch1"]["ms_per_window"]} ms/window, batch64 {timing["batch64"]["ms_per_window"]} '
        f'ms/window (onnxruntime CPU, 1 thread)')
    train_info = dict(train_info)
    train_info['wall_time_s']['evaluation'] = round(t_eval, 1)
    train_info['wall_time_s']['total'] = round(time.time() - t_start, 1)

    data_summary = summarize(items, split)
    card = {
        'name': name,
        'version': version,
        'sha256': onnx_io.sha256(str(out / 'model.onnx')),
        'file': 'model.onnx',
        'input': {'name': 'audio', 'sampleRate': 16000, 'windowSec': 1, 'shape': ['batch', 16000]},
        'output': {'name': 'prob_synthetic', 'meaning': 'probability_synthetic'},
        # the band the model serves: the runtime picks a narrowband model for G.711 / 8 kHz streams (nothing above
        # 4 kHz reaches it) and a wideband one for Opus / 16 kHz streams (src/detect/model-set.ts)
        'band': 'narrowband' if float(net.config.get('fmax', 8000)) <= 4000 else 'wideband',
        'embedding': {'name': 'embedding', 'dim': int(net.emb_dim)},
        'thresholds': {k: thresholds[k] for k in ('eer', 'suspicious', 'synthetic')},
        'calibration': {
            'split': 'dev', 'dev_file_eer_pct': round(100 * thresholds['dev_eer'], 2),
            'dev_window_eer_pct': round(100 * thresholds['window_level']['dev_eer'], 2) if 'window_level' in thresholds else None,
            'aggregation': 'per dev file and condition (wideband, G.711 mu-law pooled): sigmoid of the mean log-odds '
                           'of its speech windows (1 s every 250 ms), the aggregation the verdict engine applies',
            'window_level_thresholds': thresholds.get('window_level'),
            'eer': 'threshold where dev false-accept (genuine >= t) equals dev miss (synthetic < t)',
            'suspicious': 'threshold below which only dev EER / 2 of dev synthetic files score (<= eer)',
            'synthetic': 'threshold where 1% of dev genuine files score at or above it (>= eer)'},
        'frontend': frontend_text(net.config),
        'model_config': net.config,
        'architecture': (('plain CNN (stem + 4 blocks of conv3x3-BN-ReLU, 2x2 max-pool after all but the last; '
                          + '-'.join(str(w) for w in net.config['widths']) + ' channels')
                         if net.config.get('backbone') == 'plain' else
                         ('residual depthwise-separable CNN ('
                          + '-'.join(str(w) for w in net.config['widths']) + ' channels'
                          + (', stem stride 2' if net.config.get('stem_stride', 1) == 2 else '')
                          + (', strided 1x1-conv shortcuts' if net.config.get('shortcut', 'pool') == 'conv' else '')))
                        + f') + mean/std pooling + {net.config["emb_dim"]}-d embedding'
                        + (', one-class softmax head' if net.config.get('head', 'linear') == 'oc' else ''),
        'params': int(params),
        'flops': {'per_window_flops': int(macs['flops']), 'per_window_mflops': macs['mflops'],
                  'macs': int(macs['macs']), 'frontend_macs': int(macs['frontend_macs']),
                  'network_macs': int(macs['network_macs']), 'note': 'FLOPs = 2 x multiply-accumulates'},
        'inference': timing,
        'data': {'corpora': [str(c) for c in corpora], 'files': len(items), 'summary': data_summary},
        'splits': {'method': 'whole sources for test/dev (shared manifest) or seeded hash of system/speaker; then '
                             'strict speaker and generator-system hold-out (training/devoxtrain/splits.py)',
                   'seed': split.config.seed, 'test_sources': list(split.config.test_sources),
                   'dev_sources': list(split.config.dev_sources),
                   'speaker_split_sources': list(split.config.speaker_split_sources),
                   'excluded_from_training': list(demo_ids), 'dropped': data_summary['dropped']},
        'metrics': {'test': strip_scores(ev), 'partial_edits': partial, 'codec_shift': codecs,
                    'demo_samples': demo, 'export_parity_max_abs': parity},
        'training': train_info,
        'cross_validation': cross_validation,
        'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'git_commit': git_commit,
        'license_note': 'Demonstration default trained on research material (see ../shared/data/README.md); retrain '
                        'on your own licensed data with training/train.py --corpus ...',
    }
    (out / 'card.json').write_text(json.dumps(card, indent=2) + '\n')
    (out / 'file_scores.json').write_text(json.dumps({c: r['file_scores'] for c, r in ev.items()}) + '\n')
    if cross_validation is not None:
        from .report_cv import render_cv_readme
        (out / 'README.md').write_text(render_cv_readme(card, model_section(card)))
    else:
        (out / 'README.md').write_text(render_readme(card))
    log(f'wrote {out / "card.json"} and README.md')
    return card


def _row(cols) -> str:
    return '| ' + ' | '.join('' if c is None else str(c) for c in cols) + ' |'


def _ci(block: dict, level: str) -> str:
    ci = block.get(f'{level}_eer_ci95_pct')
    return f' [{ci[0]}–{ci[1]}]' if ci else ''


def eval_table(card: dict) -> str:
    t = card['metrics']['test']
    wb, g = t['wideband']['overall'], t['g711_ulaw']['overall']
    lines = ['| test split (unseen generators and speakers) | window EER | file EER | aim |',
             '| --- | ---: | ---: | --- |',
             _row(['wideband 16 kHz', f'{wb["window_eer_pct"]}%{_ci(wb, "window")}', f'{wb["file_eer_pct"]}%{_ci(wb, "file")}',
                   'window ≤ 5%, file ≤ 2%']),
             _row(['G.711 µ-law 8 kHz → 16 kHz', f'{g["window_eer_pct"]}%{_ci(g, "window")}',
                   f'{g["file_eer_pct"]}%{_ci(g, "file")}', 'window ≤ 8%']),
             '', f'{wb["genuine_files"]} genuine and {wb["synthetic_files"]} synthetic files, {wb["windows"]} speech '
                 'windows (1 s, hop 250 ms; speech = at least 30% of its 20-ms frames above −45 dBFS, the runtime\'s '
                 'rule). File score = mean window probability. G.711: 16 → 8 kHz, µ-law, 8 → 16 kHz with the runtime\'s '
                 'own resampler (training/devoxtrain/resample.py), i.e. what `devox analyze --channel g711u` scores.'
                 + (' In brackets: 95% interval over a bootstrap of whole files (stratified by label).'
                    if 'window_eer_ci95_pct' in wb else ''), '',
             '| generator family (test) | window EER wb | file EER wb | window EER G.711 | file EER G.711 | files |',
             '| --- | ---: | ---: | ---: | ---: | ---: |']
    for fam, r in t['wideband']['per_family'].items():
        r2 = t['g711_ulaw']['per_family'][fam]
        lines.append(_row([fam, f'{r["window_eer_pct"]}%', f'{r["file_eer_pct"]}%', f'{r2["window_eer_pct"]}%',
                           f'{r2["file_eer_pct"]}%', r['synthetic_files']]))
    lines += ['', 'Family rows: that family\'s synthetic files against all test genuine files.', '',
              '| source (test) | window EER wb | file EER wb | window EER G.711 | file EER G.711 | genuine / synthetic files |',
              '| --- | ---: | ---: | ---: | ---: | ---: |']
    for s, r in t['wideband']['per_source'].items():
        r2 = t['g711_ulaw']['per_source'][s]
        lines.append(_row([s, f'{r["window_eer_pct"]}%', f'{r["file_eer_pct"]}%', f'{r2["window_eer_pct"]}%',
                           f'{r2["file_eer_pct"]}%', f'{r["genuine_files"]} / {r["synthetic_files"]}']))
    return '\n'.join(lines)


def source_table(card: dict) -> str:
    t = card['metrics']['test']['wideband']
    lines = ['| genuine source (test) | files | median window score | windows ≥ eer threshold | files ≥ eer threshold |',
             '| --- | ---: | ---: | ---: | ---: |']
    for s, r in t['genuine_by_source'].items():
        lines.append(_row([s, r['files'], r['median_window_score'], f'{r["window_fpr_at_eer_threshold_pct"]}%',
                           f'{r["file_fpr_at_eer_threshold_pct"]}%']))
    p = t.get('source_probe', {})
    if 'embedding_probe_balanced_accuracy' in p:
        lines += ['', f'Source probe (logistic regression, 5-fold grouped by file, genuine test windows of '
                      f'{len(p["sources"])} sources): balanced accuracy {p["embedding_probe_balanced_accuracy"]} from '
                      f'the 64-d embedding, {p["score_only_probe_balanced_accuracy"]} from the score alone; chance '
                      f'{p["chance_balanced_accuracy"]}.']
    return '\n'.join(lines)


def codec_table(card: dict) -> str:
    c = card['metrics'].get('codec_shift') or {}
    if not c.get('conditions'):
        return '(not measured: smoke run)'
    lines = [f'{c["files"]["genuine"]} genuine + {c["files"]["synthetic"]} synthetic test files (first {c["max_sec"]:.0f} s), '
             'each scored clean and stored through a lossy codec; call score = sigmoid of the mean window log-odds, '
             'what the verdict engine compares with the thresholds.', '',
             '| stored as | median call score, genuine | median call score, synthetic | file EER |',
             '| --- | ---: | ---: | ---: |']
    for k, v in c['conditions'].items():
        lines.append(_row([k, v['median_call_score_genuine'], v['median_call_score_synthetic'], f'{v["file_eer_pct"]}%']))
    return '\n'.join(lines)


def shortfall(card: dict) -> str:
    t = card['metrics']['test']
    wb, g = t['wideband']['overall'], t['g711_ulaw']['overall']
    met = {'window EER wideband <= 5%': wb['window_eer_pct'] <= 5, 'window EER G.711 <= 8%': g['window_eer_pct'] <= 8,
           'file EER <= 2%': max(wb['file_eer_pct'], g['file_eer_pct']) <= 2}
    missed = [k for k, v in met.items() if not v]
    if not missed:
        return 'All three aims are met on this test split.'
    fams = t['wideband']['per_family']
    worst = sorted(fams.items(), key=lambda kv: -(kv[1]['window_eer_pct'] or 0))
    best = worst[::-1]
    return (f'Aims missed: {", ".join(missed)}. The model detects some unseen families (best: {best[0][0]}, window '
            f'EER {best[0][1]["window_eer_pct"]}%) and not others (worst: {worst[0][0]}, {worst[0][1]["window_eer_pct"]}%, '
            'near chance). With ~2 h of audio from 11 demo pages and 24 generator systems in training, the model learns '
            'the training generators rather than a cue that transfers to modern unseen ones; dev EER stayed above ~44% '
            'in every configuration tried (docs/model.md lists them). More generators and speakers (ASVspoof, MLAAD, '
            'In-the-Wild through the same --corpus readers) are what would move these numbers.')


def model_section(card: dict) -> str:
    inf = card['inference']
    return f"""## Model

- Front-end: {card['frontend']}.
- Network: {card['architecture']}.
- {card['params']:,} parameters; {card['flops']['per_window_mflops']} MFLOPs per 1-s window
  ({card['flops']['frontend_macs'] / 1e6:.1f} M MACs front-end, {card['flops']['network_macs'] / 1e6:.1f} M MACs network).
- onnxruntime {inf['onnxruntime']} CPU, 1 intra-op thread, this 2-core shared machine: batch 1
  {inf['batch1']['ms_per_window']} ms per window, batch 64 {inf['batch64']['ms_per_window']} ms per window
  ({inf['batch64']['windows_per_s']} windows/s).
- Export parity, PyTorch vs onnxruntime: max |Δ| = {card['metrics']['export_parity_max_abs']:.1e}."""


def frontend_text(config: dict) -> str:
    """The card's one-line description of the in-graph feature front-end."""
    dec = ('low-pass and decimation to 8 kHz composed with a ' if config.get('decimate', 1) == 2 else '')
    return (f'inside the graph: DC removal, pre-emphasis 0.97, {dec}{config.get("n_fft", 320) / 16:g}-ms Hann STFT '
            '(fixed Conv1d, 10-ms hop), '
            + (f'{config["n_mels"]} Slaney-mel' if config.get('scale', 'mel') == 'mel' else
               f'{config["n_mels"]} linearly spaced') + (f' bands from {config["fmin"]:g} Hz' if config.get('fmin') else ' bands')
            + f' up to {config.get("fmax", 8000) / 1000:g} kHz, '
            f'log with a floor {-config["floor_db"]:g} dB below the window mean, '
            + ('per-band' if config['norm'] == 'band' else 'global') + ' mean removal and std normalisation over the window')


def render_readme(card: dict) -> str:
    inf = card['inference']
    th = card['thresholds']
    tr = card['training']
    sp = card['data']['summary']['splits']
    pe = card['metrics'].get('partial_edits') or {}
    demo = card['metrics'].get('demo_samples') or {}
    def verdict(c: dict) -> str:
        return 'correct' if c['correct_at_eer_threshold'] else 'NOT correct'
    demo_lines = [f'- `{k}` ({v["label"]}): file score {v["wideband"]["file_score"]} wideband '
                  f'({verdict(v["wideband"])}), {v["g711_ulaw"]["file_score"]} G.711 ({verdict(v["g711_ulaw"])})'
                  for k, v in demo.items()]
    return f"""# {card['name']} {card['version']} — model card

Detector of synthetic speech for live phone and WebRTC calls. One input, `audio`: float32 `[batch, 16000]`, a
1-s window of 16 kHz mono in [-1, 1]. Outputs `prob_synthetic` `[batch]` (probability that the window is synthetic)
and `embedding` `[batch, {card['embedding']['dim']}]`. The feature front-end is inside the graph, so a runtime hands
over samples and nothing else. Written by `npm run train` (`{tr['command'].strip()}`), seed {tr['seed']},
commit `{card['git_commit']}`, {card['created']}.

**This is a demonstration default.** It was trained on ~2 hours of research demo-page audio
(`../shared/data/speech`, many sources without a licence); retrain on your own licensed corpora with
`python3 training/train.py --corpus ...` (manifest, ASVspoof protocol, In-the-Wild meta.csv, or a folder per label).

{model_section(card)}

## Data and splits

Test and dev hold out whole generators AND whole speakers: five whole demo pages for test
({', '.join(card['splits']['test_sources'])}), seven for dev ({', '.join(card['splits']['dev_sources'])}), the
genuine-only LibriSpeech source split by speaker; then any speaker or generator system (spellings of one system
collapsed, e.g. all EnCodec variants) that reaches a higher split pulls genuine files up and drops synthetic ones
(`training/devoxtrain/splits.py`, seed {card['splits']['seed']}). Partial edits (real speech with one regenerated
span) are dropped: their windows are mostly genuine. Dropped files: {card['splits']['dropped']}.

| split | genuine files | synthetic files | genuine min | synthetic min | speakers | generator systems |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
""" + '\n'.join(_row([s, v['files']['genuine'], v['files']['synthetic'], v['minutes']['genuine'],
                      v['minutes']['synthetic'], v['speakers'], len(v['systems'])]) for s, v in sp.items()) + f"""

Training: random 1-s crops, balanced by {'class (then source)' if tr.get('balance', 'label') == 'label' else 'source (50/50 within each source)'}, with the same augmentation for both classes:
active-level normalisation to −26 dBFS, reverb (synthetic exponential RIR, RT60 0.15–0.8 s), coloured noise
(white/pink/brown, 5–35 dB SNR), babble of 3–6 other genuine training talkers (8–25 dB SNR), gain −20…+6 dB, then one
channel — wideband, 300–3400 Hz band-limit, G.711 µ-law or A-law at 8 kHz, or Opus 8/16/24 kbps (libopus via ffmpeg,
precomputed) — then 20-ms packet loss (2–10%, silence or repeated packet). {tr['steps']} steps of {tr['batch']},
best dev step {tr['best_step']}. Wall time: cache {tr['wall_time_s']['cache']} s, training {tr['wall_time_s']['train']} s,
evaluation {tr['wall_time_s'].get('evaluation')} s, total {tr['wall_time_s'].get('total')} s.

## Thresholds (calibrated on dev, written to card.json)

Calibrated on the aggregation the verdict engine uses ({card['calibration'].get('aggregation', 'dev windows')}):
`eer` {th['eer']} (dev file EER {card['calibration'].get('dev_file_eer_pct')}%), `suspicious` {th['suspicious']}
({card['calibration']['suspicious']}), `synthetic` {th['synthetic']} ({card['calibration']['synthetic']}).
Window-level thresholds for reference (dev window EER {card['calibration'].get('dev_window_eer_pct')}%): {', '.join(f'{k} {v}' for k, v in (card['calibration'].get('window_level_thresholds') or {}).items() if k != 'dev_eer')}.

## Evaluation (held-out test split)

{eval_table(card)}

## Where it falls short

{shortfall(card)}

## Is it recognising sources?

{source_table(card)}

### Does a lossy codec move the score?

{codec_table(card)}

Partial edits (not in training or EERs): {pe.get('files', 0)} files; flagged at the eer threshold by the file mean in
{pe.get('file_mean_flagged_pct')}% and by the maximum window in {pe.get('file_max_window_flagged_pct')}% of files.

## Demo samples (`samples/genuine-librispeech.flac`, `samples/synthetic-ljspeech-espnet.flac`; held out of training)

Correct = on the right side of the `eer` threshold (file score = mean window probability over speech windows).

""" + '\n'.join(demo_lines) + '\n'
