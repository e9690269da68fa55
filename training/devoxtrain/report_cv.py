"""The model README of a model trained on all data (train.py --all): its figures are the cross-validated ones of
its recipe (cv_report.py), pooled out-of-fold, per fold, per generator family, and the verdict table."""
from __future__ import annotations

CH = {'g711_ulaw': 'G.711 µ-law 8 kHz', 'wideband': 'wideband 16 kHz'}
AIMS = {'g711_ulaw': (20.0, 12.0), 'wideband': (None, None)}
LABELS = ('genuine', 'suspicious', 'synthetic', 'insufficient_speech')


from .report import _ci, _row  # noqa: E402  (one table formatting for both READMEs)


def cv_tables(cv: dict) -> str:
    folds = cv['folds']
    out = ['| fold | held-out demo pages |', '| --- | --- |']
    for f in folds:
        out.append(_row([f['fold'], ', '.join(f['test_sources'])]))
    out += ['', '| channel | fold | genuine / synthetic files | window EER | file EER |', '| --- | --- | ---: | ---: | ---: |']
    for ch, c in cv['per_channel'].items():
        for k, b in c['per_fold'].items():
            out.append(_row([CH.get(ch, ch), k, f'{b["genuine_files"]} / {b["synthetic_files"]}',
                             f'{b.get("window_eer_pct")}%{_ci(b, "window")}', f'{b.get("file_eer_pct")}%{_ci(b, "file")}']))
        p = c['pooled']
        out.append(_row([f'**{CH.get(ch, ch)}**', '**pooled**', f'{p["genuine_files"]} / {p["synthetic_files"]}',
                         f'**{p.get("window_eer_pct")}%**{_ci(p, "window")}', f'**{p.get("file_eer_pct")}%**{_ci(p, "file")}']))
        if c['fold_sd_file_eer_pct'] is not None:
            out.append(_row([CH.get(ch, ch), 'mean ± sd over folds', '', f'{c["fold_mean_window_eer_pct"]} ± {c["fold_sd_window_eer_pct"]}%',
                             f'{c["fold_mean_file_eer_pct"]} ± {c["fold_sd_file_eer_pct"]}%']))
    chans = list(cv['per_channel'])
    out += ['', 'In brackets: 95% intervals from a bootstrap over whole files. File score = the verdict engine\'s smoothed '
            'call score (bias-corrected EMA of window log-odds over speech windows).', '',
            '| generator family (pooled out-of-fold) | synthetic files | ' + ' | '.join(f'window / file EER {CH.get(c, c)}' for c in chans) + ' |',
            '| --- | ---: | ' + ' | '.join('---:' for _ in chans) + ' |']
    fams = cv['per_channel'][chans[0]]['per_family']
    for fam, b in fams.items():
        cells = []
        for c in chans:
            bb = cv['per_channel'][c]['per_family'].get(fam, {})
            cells.append(f'{bb.get("window_eer_pct")}% / {bb.get("file_eer_pct")}%')
        out.append(_row([fam, b['synthetic_files'], *cells]))
    out += ['', 'Family rows: that family\'s synthetic files against all out-of-fold genuine files.', '',
            '| stored as (v2 FLAC, v3 Opus 64 kbps) | channel | genuine / synthetic files | window EER | file EER | median call score genuine / synthetic |',
            '| --- | --- | ---: | ---: | ---: | ---: |']
    for c in chans:
        for codec, b in cv['per_channel'][c].get('per_stored_codec', {}).items():
            m = b.get('median_call_score', {})
            out.append(_row([codec, CH.get(c, c), f'{b["genuine_files"]} / {b["synthetic_files"]}', f'{b.get("window_eer_pct")}%',
                             f'{b.get("file_eer_pct")}%', f'{m.get("genuine")} / {m.get("synthetic")}']))
    out += ['', 'The storage codec is a recording-chain cue, not a label: a model that had learned "Opus-stored = one class" '
            'would show it as a gap between the two rows\' genuine (or synthetic) medians.']
    return '\n'.join(out)


def verdict_tables(cv: dict) -> str:
    out = []
    for ch, c in cv['per_channel'].items():
        v = c['verdicts']
        out += [f'**{CH.get(ch, ch)}** (final label of each out-of-fold file replayed through the verdict engine)', '',
                '| truth \\ final label | ' + ' | '.join(LABELS) + ' |', '| --- | ' + ' | '.join('---:' for _ in LABELS) + ' |']
        for truth in ('genuine', 'synthetic'):
            out.append(_row([truth, *[f'{v["pct"][truth][lab]}% ({v["counts"][truth][lab]})' for lab in LABELS]]))
        out.append('')
    return '\n'.join(out)


def shortfall(cv: dict) -> str:
    lines = []
    g = cv['per_channel'].get('g711_ulaw')
    w = cv['per_channel'].get('wideband')
    if g:
        p = g['pooled']
        ok_w, ok_f = p['window_eer_pct'] <= 20, p['file_eer_pct'] <= 12
        lines.append(f'- G.711, pooled out-of-fold: window EER {p["window_eer_pct"]}% (aim ≤ 20%: '
                     f'{"met" if ok_w else "missed"}), file EER {p["file_eer_pct"]}% (aim ≤ 12%: {"met" if ok_f else "missed"}).')
        v = g['verdicts']['pct']
        lines.append(f'- G.711 verdicts: {v["genuine"]["genuine"]}% of genuine calls end `genuine` and '
                     f'{v["synthetic"]["synthetic"]}% of synthetic calls end `synthetic` (aim ≥ 70% each: '
                     f'{"met" if v["genuine"]["genuine"] >= 70 and v["synthetic"]["synthetic"] >= 70 else "missed"}).')
    if w:
        p = w['pooled']
        lines.append(f'- Wideband, pooled out-of-fold: window EER {p["window_eer_pct"]}%, file EER {p["file_eer_pct"]}%.')
    fams = (g or w)['per_family']
    worst = sorted(fams.items(), key=lambda kv: -(kv[1].get('file_eer_pct') or 0))[:3]
    lines.append('- Hardest families out of fold (file EER): ' + ', '.join(f'{k} {b.get("file_eer_pct")}%' for k, b in worst) + '.')
    return '\n'.join(lines)


def render_cv_readme(card: dict, model_section: str) -> str:
    cv = card['cross_validation']
    tr = card['training']
    th = card['thresholds']
    sp = card['data']['summary']['splits']['train']
    demo = card['metrics'].get('demo_samples') or {}
    demo_lines = [f'- `{k}` ({v["label"]}): file score {v["wideband"]["file_score"]} wideband, '
                  f'{v["g711_ulaw"]["file_score"]} G.711' for k, v in demo.items()]
    return f"""# {card['name']} {card['version']} — model card

Detector of synthetic speech for live calls, **{card.get('band', 'wideband')} model**: the runtime gives it
{'G.711 (PCMU/PCMA) and 8 kHz L16 streams' if card.get('band') == 'narrowband' else 'Opus and 16 kHz streams (and every stream when no narrowband model is configured)'}
(`src/detect/detector-set.ts`). One input, `audio`: float32 `[batch, 16000]`, a 1-s window of 16 kHz mono in
[-1, 1]. Outputs `prob_synthetic` `[batch]` and `embedding` `[batch, {card['embedding']['dim']}]`. The feature
front-end is inside the graph. Written by `npm run train` (`{tr['command'].strip()}`), recipe
`{tr.get('recipe')}`, seed {tr['seed']}, commit `{card['git_commit']}`, {card['created']}.

**This is a demonstration default** trained on ~4 hours of research demo-page audio (`../shared/data/speech` v3,
many sources without a licence); retrain on your own licensed corpora with the same recipe
(`python3 training/train.py --recipe ... --corpus ...`).

{model_section}

## Data

Trained on **every** file of the corpus ({sp['files']['genuine']} genuine, {sp['files']['synthetic']} synthetic
files; {sp['minutes']['genuine']} + {sp['minutes']['synthetic']} min; {sp['speakers']} speakers;
{len(sp['systems'])} generator systems) except the two demo calls in `samples/` and the partial edits
(real speech with one regenerated span: their windows are mostly genuine). Fixed step count
({tr['steps']} steps of {tr['batch']}), the last weights: no held-out data chose anything. So there is no test
split for this model; **its figures are those of its recipe, cross-validated**.

## Cross-validation (leave-source-out, {len(cv['folds'])} fold{'s' if len(cv['folds']) != 1 else ' of 3: the other two were not run this session, for lack of CPU time'})

Whole demo pages held out per fold (`training/devoxtrain/cv.py`: pages dealt largest first into the fold with the
fewest minutes; LibriSpeech split by speaker); then the strict hold-out of `splits.py`: no speaker and no generator
system of the held-out fold trains (a page's other files that share them are dropped from training). Each fold
model is trained with this recipe and step count on the rest, from scratch. G.711 = 16 → 8 kHz, µ-law, 8 → 16 kHz
with the runtime's own resampler, what `devox analyze --channel g711u` scores. Every fold's figures:

{cv_tables(cv)}

## Verdicts (thresholds calibrated out of fold)

Thresholds on the verdict engine's smoothed call score, from the pooled out-of-fold call scores through
{CH.get(cv.get('calibration_channel', ''), 'the band this model serves')} ({cv['calibrated_on']}): `eer` {th['eer']}
(pooled file EER {round(100 * cv['thresholds']['dev_eer'], 2)}%); `suspicious` {th['suspicious']}: only EER/2 of
synthetic calls score below it, so a `genuine` label errs half as often as the EER point; `synthetic`
{th['synthetic']}: only EER/2 of genuine calls reach it. Between the two: `suspicious`, the honest middle. The
thresholds are fitted on the same out-of-fold scores the table counts (the scores are out of fold, the two
thresholds are not), and the shipped model, trained on all folds, is not the fold models: read the table as what
to expect, not a guarantee.

{verdict_tables(cv)}
## Where it stands against the aims

{shortfall(cv)}

## Demo samples (`samples/`, never trained on)

""" + '\n'.join(demo_lines) + '\n'
