"""Pool the speaker folds' held-out embeddings into figures, thresholds and models/devox-speaker.

  python3 training/train_speaker.py report --runs training/runs/speaker/f0 training/runs/speaker/f1 \
      --verdicts training/runs/speaker/fusion.json --ship 0 --out models/devox-speaker

Trials (all on speakers the fold's model never heard):
  - verification: every ordered pair of held-out utterances from different files; target = same speaker.
    Three conditions: wideband both sides; G.711 both sides; enrolled from the wideband file, tested through
    G.711 (`devox enroll FILE`, then a phone call: the operating condition, whose scores set the thresholds).
  - identification: 20 held-out speakers with two or more files, enrolled from one file each, every other file
    through G.711 scored against the 20 (closed set), repeated over random draws of 20.
  - clones: each synthetic file whose target speaker is held out (partial edits excluded: they are mostly the
    real voice), through G.711, against the enrolment of the speaker's genuine files (wideband); accepted when
    its score reaches the threshold. With fusion, the runtime's rule on the deep-voice verdict of the leg
    (devox eval --channel g711u with models/devox-phone-nb): never verified while `synthetic` (default: verified
    under `genuine` or `suspicious`), or the strict rule (only under `genuine`).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devoxtrain.constants import SHARED_SPEECH, SR, WINDOW  # noqa: E402
from devoxtrain.log import log  # noqa: E402
from devoxtrain.onnx_io import sha256, time_inference  # noqa: E402

ID_SET = 20
ID_DRAWS = 200


def eer(tgt: np.ndarray, non: np.ndarray) -> tuple[float, float]:
    """EER and its threshold for similarity scores (accept when score >= t)."""
    scores = np.concatenate([tgt, non])
    thr = np.unique(scores)
    frr = np.searchsorted(np.sort(tgt), thr, side='left') / len(tgt)
    far = 1 - np.searchsorted(np.sort(non), thr, side='left') / len(non)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(thr[i])


def far_threshold(non: np.ndarray, far: float) -> float:
    return float(np.quantile(non, 1 - far, method='higher'))


# Page-local "speaker" ids that pool several real speakers (a demo page that names none): not one voice, so they
# cannot be verification targets. Left out of every figure (in training they were classes like any other).
POOLED_SPEAKERS = re.compile(r'^(unknown\(|denoispeech:)')


def load_fold(run: Path) -> dict:
    meta = json.loads((run / 'heldout.json').read_text())
    z = np.load(run / 'heldout.npz')
    keep = [i for i, r in enumerate(meta['rows']) if not POOLED_SPEAKERS.match(r['speaker'])]
    rows = [meta['rows'][i] for i in keep]
    dropped = sorted({r['speaker'] for r in meta['rows'] if POOLED_SPEAKERS.match(r['speaker'])})
    return {'fold': meta['fold'], 'rows': rows, 'wb': z['wb'][keep], 'g711': z['g711'][keep], 'pooled_dropped': dropped,
            'recipe': json.loads((run / 'recipe.json').read_text())}


def trials(f: dict, enrol: str, test: str) -> tuple[np.ndarray, np.ndarray]:
    g = [i for i, r in enumerate(f['rows']) if r['kind'] == 'genuine']
    spk = np.array([f['rows'][i]['speaker'] for i in g])
    fid = np.array([f['rows'][i]['id'] for i in g])
    s = f[enrol][g] @ f[test][g].T
    same = spk[:, None] == spk[None, :]
    other_file = fid[:, None] != fid[None, :]
    off = ~np.eye(len(g), dtype=bool)
    if enrol == test:                       # symmetric: each unordered pair once
        off &= np.triu(np.ones_like(off), 1)
    return s[same & other_file & off], s[~same & off]


def identification(f: dict, rng: np.random.Generator, enrol: str = 'g711') -> list[float]:
    by: dict[str, list[int]] = {}
    files: dict[str, set] = {}
    for i, r in enumerate(f['rows']):
        if r['kind'] == 'genuine' and r['part'] == 'all':
            by.setdefault(r['speaker'], []).append(i)
            files.setdefault(r['speaker'], set()).add(r['id'])
    eligible = sorted(s for s, ix in by.items() if len(ix) >= 2)
    if len(eligible) < ID_SET:
        return []
    accs = []
    for _ in range(ID_DRAWS):
        pick = rng.choice(len(eligible), ID_SET, replace=False)
        spks = [eligible[k] for k in pick]
        enrol_ix, tests = [], []
        for k, s in enumerate(spks):
            ix = list(by[s])
            e = ix[int(rng.integers(len(ix)))]
            enrol_ix.append(e)
            tests += [(t, k) for t in ix if t != e]
        E = f[enrol][enrol_ix]
        T = f['g711'][[t for t, _ in tests]]
        pred = np.argmax(T @ E.T, axis=1)
        accs.append(float(np.mean(pred == np.array([k for _, k in tests]))))
    return accs


def speaker_means(f: dict, which: str) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    for i, r in enumerate(f['rows']):
        if r['kind'] == 'genuine':
            out.setdefault(r['speaker'], []).append(f[which][i])
    res = {}
    for s, v in out.items():
        m = np.mean(v, axis=0)
        res[s] = m / max(np.linalg.norm(m), 1e-9)
    return res


def clones(f: dict, verdicts: dict[str, str]) -> list[dict]:
    enrol = speaker_means(f, 'wb')
    out = []
    for i, r in enumerate(f['rows']):
        if r['kind'] != 'clone' or r['speaker'] not in enrol:
            continue
        out.append({'id': r['id'], 'speaker': r['speaker'], 'generator': r.get('generator', ''), 'source': r.get('source', ''),
                    'condition': r.get('condition', ''), 'score_g711': float(f['g711'][i] @ enrol[r['speaker']]),
                    'score_wb': float(f['wb'][i] @ enrol[r['speaker']]), 'verdict': verdicts.get(r['id'])})
    return out


def genuine_verdicts(f: dict, verdicts: dict[str, str]) -> list[str]:
    ids = {r['id'] for r in f['rows'] if r['kind'] == 'genuine'}
    return [verdicts[i] for i in ids if i in verdicts]


def pct(x: float) -> float:
    return round(100 * x, 2)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', nargs='+', required=True)
    ap.add_argument('--verdicts', default='', help='devox eval --json output over the held-out files (fusion)')
    ap.add_argument('--ship', type=int, default=0, help='the fold whose model is shipped')
    ap.add_argument('--out', default='')
    ap.add_argument('--version', default='1.0.0')
    ap.add_argument('--seed', type=int, default=1337)
    args = ap.parse_args(argv)
    folds = [load_fold(Path(r)) for r in args.runs]
    verdicts: dict[str, str] = {}
    if args.verdicts:
        doc = json.loads(Path(args.verdicts).read_text())
        for fr in doc['files']:
            if 'verdict' in fr:       # manifest paths are absolute: back to the corpus id
                verdicts[str(Path(fr['path']).resolve().relative_to(SHARED_SPEECH))] = fr['verdict']['label']
    rng = np.random.default_rng(args.seed)
    conds = {'wideband': ('wb', 'wb'), 'g711': ('g711', 'g711'), 'enrol_wb_test_g711': ('wb', 'g711')}
    per_fold, pooled = [], {c: ([], []) for c in conds}
    all_clones, id_accs, id_accs_wb = [], [], []
    gen_labels: list[str] = []
    for f in folds:
        rec = {'fold': f['fold'], 'pooled_ids_left_out': f['pooled_dropped'], 'held_out_speakers': len({r['speaker'] for r in f['rows'] if r['kind'] == 'genuine'}),
               'utterances': sum(r['kind'] == 'genuine' for r in f['rows']), 'train_speakers': f['recipe']['train_speakers'],
               'train_minutes': f['recipe']['train_minutes']}
        for c, (a, b) in conds.items():
            t, n = trials(f, a, b)
            pooled[c][0].append(t)
            pooled[c][1].append(n)
            rec[f'eer_{c}'] = pct(eer(t, n)[0])
            rec[f'trials_{c}'] = {'target': int(len(t)), 'nontarget': int(len(n))}
        acc = identification(f, rng)
        acc_wb = identification(f, rng, enrol='wb')
        id_accs += acc
        id_accs_wb += acc_wb
        rec['id20_g711_accuracy'] = pct(float(np.mean(acc))) if acc else None
        cl = clones(f, verdicts)
        rec['clones'] = len(cl)
        all_clones += cl
        gen_labels += genuine_verdicts(f, verdicts)
        per_fold.append(rec)
    res: dict = {'folds': per_fold}
    for c in conds:
        t, n = np.concatenate(pooled[c][0]), np.concatenate(pooled[c][1])
        e, thr = eer(t, n)
        res[f'eer_{c}'] = pct(e)
        res[f'eer_threshold_{c}'] = round(thr, 4)
    t_op, n_op = np.concatenate(pooled['enrol_wb_test_g711'][0]), np.concatenate(pooled['enrol_wb_test_g711'][1])
    t_wb = np.concatenate(pooled['wideband'][0])
    thr_eer = res['eer_threshold_enrol_wb_test_g711']
    thr_far1 = round(far_threshold(n_op, 0.01), 4)
    consistency = round(float(np.quantile(t_wb, 0.01)), 3)
    res['thresholds'] = {'eer': thr_eer, 'far1': thr_far1, 'enrolConsistency': consistency}
    res['at_far1'] = {'far': pct(float(np.mean(n_op >= thr_far1))), 'frr': pct(float(np.mean(t_op < thr_far1)))}
    res['at_eer'] = {'far': pct(float(np.mean(n_op >= thr_eer))), 'frr': pct(float(np.mean(t_op < thr_eer)))}
    res['id20_g711'] = {'enrol': 'one file through G.711', 'accuracy_mean': pct(float(np.mean(id_accs))) if id_accs else None,
                        'accuracy_p2_5': pct(float(np.quantile(id_accs, 0.025))) if id_accs else None,
                        'accuracy_p97_5': pct(float(np.quantile(id_accs, 0.975))) if id_accs else None,
                        'draws': len(id_accs)}
    res['id20_enrol_wb_test_g711'] = {'accuracy_mean': pct(float(np.mean(id_accs_wb))) if id_accs_wb else None, 'draws': len(id_accs_wb)}
    full = [c for c in all_clones if c['condition'] != 'partial_edit']
    res['clones'] = {'files': len(full), 'partial_edits_excluded': len(all_clones) - len(full),
                     'target_speakers': len({c['speaker'] for c in full}),
                     'generators': len({c['generator'] for c in full})}
    for name, thr in (('far1', thr_far1), ('eer', thr_eer)):
        acc = [c for c in full if c['score_g711'] >= thr]
        with_v = [c for c in full if c['verdict'] is not None]
        acc_v = [c for c in with_v if c['score_g711'] >= thr]
        res['clones'][f'at_{name}'] = {
            'threshold': thr,
            'acceptance_without_fusion': pct(len(acc) / max(1, len(full))),
            'acceptance_without_fusion_wideband': pct(sum(c['score_wb'] >= thr for c in full) / max(1, len(full))),
            # the runtime's default rule (speaker.verifyDeepVoiceLabels): verified only under a genuine or suspicious verdict
            'acceptance_with_fusion': pct(sum(c['verdict'] in ('genuine', 'suspicious') for c in acc_v) / max(1, len(with_v))) if with_v else None,
            # the strict rule ["genuine"]
            'acceptance_with_fusion_strict': pct(sum(c['verdict'] == 'genuine' for c in acc_v) / max(1, len(with_v))) if with_v else None,
            'accepted_without_fusion': len(acc), 'files_with_verdict': len(with_v)}
    res['clones']['detector_verdicts'] = {k: sum(1 for c in full if c['verdict'] == k) for k in ('genuine', 'suspicious', 'synthetic', 'insufficient_speech', 'listening')}
    res['clones']['by_source_far1'] = {}
    for c in full:
        d = res['clones']['by_source_far1'].setdefault(c['source'], [0, 0, 0])
        d[0] += 1
        d[1] += int(c['score_g711'] >= thr_far1)
        d[2] += int(c['score_g711'] >= thr_far1 and c['verdict'] in ('genuine', 'suspicious'))
    if gen_labels:
        n = len(gen_labels)
        res['fusion_cost_genuine'] = {'held_out_genuine_files': n,
                                      'detector_verdicts': {k: gen_labels.count(k) for k in sorted(set(gen_labels))},
                                      'share_verifiable': pct(sum(v in ('genuine', 'suspicious') for v in gen_labels) / n),
                                      'share_verifiable_strict': pct(gen_labels.count('genuine') / n)}
    print(json.dumps(res, indent=1))
    if args.out:
        ship(args, folds, res)


def ship(args, folds: list[dict], res: dict) -> None:
    run = Path(args.runs[[f['fold'] for f in folds].index(args.ship)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / 'model.onnx', out / 'model.onnx')
    recipe = json.loads((run / 'recipe.json').read_text())
    timing = time_inference(str(out / 'model.onnx'))
    import torch
    from devoxtrain.speaker import SpeakerNet, count_macs
    ck = torch.load(run / 'model.pt', map_location='cpu')
    net = SpeakerNet(**{**ck['config'], 'widths': tuple(ck['config']['widths'])})
    net.load_state_dict(ck['state'])
    flops = count_macs(net)
    # export parity: the shipped ONNX graph against the PyTorch model it came from, on real-looking input
    from devoxtrain.onnx_io import session
    from devoxtrain.speaker import ExportWrapper
    x = (0.05 * np.random.default_rng(0).standard_normal((8, WINDOW))).astype(np.float32)
    with torch.no_grad():
        ref = ExportWrapper(net.eval())(torch.from_numpy(x)).numpy()
    got = session(str(out / 'model.onnx')).run(None, {'audio': x})[0]
    parity = float(np.abs(ref - got).max())
    if parity > 1e-4:
        raise SystemExit(f'ONNX export differs from the PyTorch model by {parity}')
    card = {
        'name': 'devox-speaker', 'version': args.version, 'kind': 'speaker_embedding',
        'sha256': sha256(str(out / 'model.onnx')), 'file': 'model.onnx',
        'input': {'name': 'audio', 'sampleRate': SR, 'windowSec': WINDOW / SR, 'shape': ['batch', WINDOW]},
        'output': {'name': 'embedding', 'dim': int(recipe['emb_dim']), 'normalized': True},
        'thresholds': res['thresholds'],
        'created': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'training': {k: recipe[k] for k in ('steps', 'batch', 'lr', 'margin', 'scale', 'widths', 'emb_dim', 'freq_mask', 'seed',
                                            'split_seed', 'folds', 'fold', 'train_speakers', 'train_files', 'train_minutes',
                                            'channels', 'train_seconds', 'drop_pooled') if k in recipe},
        'held_out_speakers': recipe['held_out_speakers'],
        'evaluation': res,
        'timing': timing,
        'flops': flops,
        'export_parity_max_abs_diff': parity,
        'cost': {'ms_per_window_batch64': timing['batch64']['ms_per_window'],
                 'cpu_ms_per_second_of_speech_every4th': round(timing['batch64']['ms_per_window'], 3)},
    }
    (out / 'card.json').write_text(json.dumps(card, indent=1) + '\n')
    shutil.copy(run / 'recipe.json', out / 'recipe.json')
    shutil.copy(run / 'model.pt', out / 'model.pt')
    (out / 'README.md').write_text(readme(card, res))
    log(f'shipped fold {args.ship} -> {out}')


def readme(card: dict, r: dict) -> str:
    t = card['training']
    c = r['clones']
    f1, fe = c['at_far1'], c['at_eer']
    folds = '\n'.join(f"| {f['fold']} | {f['train_speakers']} ({f['train_minutes']} min) | {f['held_out_speakers']} ({f['utterances']} utt.) | "
                      f"{f['eer_wideband']} | {f['eer_g711']} | {f['eer_enrol_wb_test_g711']} | {f['id20_g711_accuracy']} | {f['clones']} |"
                      for f in r['folds'])
    fus = r.get('fusion_cost_genuine', {})
    return f"""# devox-speaker {card['version']} — speaker embedding for "who is speaking"

Made by `npm run train:speaker` (training/train_speaker.py, training/speaker_report.py) on {card['created']}.
Input `audio` float32 [batch, 16000] (1-s windows at 16 kHz, as the detector); output `embedding` [batch, {card['output']['dim']}], L2-normalised.
Front-end inside the graph (devoxtrain/speaker.py): low-pass and decimation to 8 kHz, 25-ms STFT, 48 mel bands 0-4 kHz, log,
per-band mean removal; plain CNN ({t.get('widths')}) with mean/std pooling; AAM-softmax (margin {t.get('margin')}, scale {t.get('scale')}).
Only the telephone band reaches the network, so wideband and G.711 legs are embedded alike.

## Data and splits
The genuine speech of `../shared/data/speech` (v3). Speakers with two utterances (files of >= 2 s, or halves of one
file >= 8 s) or with synthetic clones are dealt into {t.get('folds')} folds by a seeded hash of their id (split seed
{t.get('split_seed')}); a fold's model never hears its speakers; the samples/ demo speakers are held out by every fold.
The shipped model is fold {t.get('fold')}'s: {t.get('train_speakers')} training speakers, {t.get('train_files')} files,
{t.get('train_minutes')} min, {t.get('steps')} steps of {t.get('batch')} one-second crops through the phone channels
{', '.join(f'{k} {v}' for k, v in (t.get('channels') or {}).items())} (G.711 with the runtime's resampler; AMR-NB / GSM-FR
transcoded to G.711 via sox; Opus copies of the detector cache), plus noise at 8-30 dB SNR on a quarter.
Its held-out speakers are listed in card.json (`held_out_speakers`). Page-local ids that pool several real speakers
(`unknown(...)` of the Universal MelGAN page, `denoispeech:*`) are left out of every figure below (they are not one voice)
{'and were no training class either' if t.get('drop_pooled') else 'but were training classes like any other in this run (noisy labels)'}.

## Held-out figures (speakers never trained on)
Utterance embedding = mean of the unit embeddings of its 1-s speech windows (0.5-s hop), as the runtime accumulates a leg.

| fold | trained on | held out | EER WB % | EER G.711 % | EER enrol WB / test G.711 % | ID-20 G.711 % | clones |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |
{folds}
| pooled | | | {r['eer_wideband']} | {r['eer_g711']} | {r['eer_enrol_wb_test_g711']} | {r['id20_g711']['accuracy_mean']} | {c['files']} |

- Closed-set identification of 20 enrolled held-out speakers through G.711 (one file enrols, every other file tests;
  {r['id20_g711']['draws']} random draws of 20): **{r['id20_g711']['accuracy_mean']} %** (95 % of draws
  {r['id20_g711']['accuracy_p2_5']}-{r['id20_g711']['accuracy_p97_5']} %); enrolled from the wideband file:
  {r['id20_enrol_wb_test_g711']['accuracy_mean']} %. The MFCC study this project descends from: 83.5 % over the phone.
- Thresholds (cosine), from the pooled out-of-fold scores of the operating condition (enrolled from files, tested
  through G.711): `far1` = **{card['thresholds']['far1']}** (1 % of impostor trials accepted; false rejects there
  {r['at_far1']['frr']} %), `eer` = {card['thresholds']['eer']} (FAR {r['at_eer']['far']} %, FRR {r['at_eer']['frr']} %);
  `enrolConsistency` = {card['thresholds']['enrolConsistency']} (1st percentile of same-speaker cross-file scores).

## Clones of enrolled speakers
{c['files']} synthetic files whose target speaker is held out ({c['target_speakers']} speakers, {c['generators']} generators;
{c['partial_edits_excluded']} partial edits left out), through G.711, scored against the speaker's enrolment (wideband files):

| threshold | accepted without fusion | with fusion, default rule (never while `synthetic`) | with fusion, strict rule (only when `genuine`) |
| --- | ---: | ---: | ---: |
| far1 {f1['threshold']} | {f1['acceptance_without_fusion']} % | {f1['acceptance_with_fusion']} % | {f1['acceptance_with_fusion_strict']} % |
| eer {fe['threshold']} | {fe['acceptance_without_fusion']} % | {fe['acceptance_with_fusion']} % | {fe['acceptance_with_fusion_strict']} % |

Deep-voice verdicts of these clones with models/devox-phone-nb through G.711 (`devox eval --channel g711u`):
{c['detector_verdicts']}. The price of fusion on genuine callers: of the held-out genuine files, {fus.get('share_verifiable', 'n/a')} %
end with a verdict that allows verification under the default rule (genuine or suspicious), {fus.get('share_verifiable_strict', 'n/a')} % under
the strict rule (verdicts {fus.get('detector_verdicts', {})}).

## Cost
{card['flops']['per_window_mflops']} MFLOPs per window ({card['flops']['params']} parameters);
{card['timing']['batch64']['ms_per_window']} ms CPU per window at batch 64, {card['timing']['batch1']['ms_per_window']} ms at batch 1
(onnxruntime {card['timing']['onnxruntime']}, 1 thread, timed by the training box as it was loaded at the time: the
interleaved comparison with the detector in docs/benchmarks.md is the figure to plan with). The runtime embeds one speech window in four (one per second of
speech at the 250-ms hop): about {card['cost']['cpu_ms_per_second_of_speech_every4th']} ms of CPU per second of speech per leg.

## Limits
Trained on ~{t.get('train_minutes')} minutes of mostly read speech from a few hundred speakers: far less than speaker models
are usually trained on (thousands of speakers, thousands of hours). The figures above are what it does on held-out speakers of
this corpus; expect worse on spontaneous speech, other languages and real phone networks.
"""


if __name__ == '__main__':
    main(sys.argv[1:])
