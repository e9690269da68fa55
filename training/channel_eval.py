#!/usr/bin/env python3
"""How much does a real mobile leg cost? Re-score each cross-validation fold's held-out files with that fold's own
model through mobile-network channels (AMR-NB or GSM-FR, transcoded to G.711 mu-law at the interconnect: what a SIP
trunk receives from a mobile caller), and report window / file EER next to plain G.711.

    python3 training/channel_eval.py training/runs/plain/cv-narrowband-f{0,1,2} --out runs/plain/mobile-nb.json

Channels: amrnb12.2 (AMR-NB 12.2 kbps, the usual mode), amrnb4.75 (the lowest mode, bad coverage), gsm (GSM 06.10
full rate), amrwb12.65 / amrwb6.6 (an HD-voice leg: AMR-WB at 16 kHz), each -> G.711 mu-law -> 16 kHz
(channel.mobile_channel); hd12.65 / hd6.6 (AMR-WB kept wideband, for the wideband model; compare with
--baseline wideband); agc (augment.random_agc, the AGC augmentation of
train.py --agc, drawn per file from its id, then G.711 mu-law); the held-out fold's audio as the training cache holds it
(30 s per file). Out-of-fold for the model; nothing here trains.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path


import numpy as np

from cv_report import block, call_score
from devoxtrain import amrwb, onnx_io
from devoxtrain.cache import load_audio
from devoxtrain.augment import random_agc
from devoxtrain.channel import g711_channel, mobile_channel, to_int16
from devoxtrain.constants import SHARED_SPEECH
from devoxtrain.metrics import cut_windows, speech_windows

SPEECH = SHARED_SPEECH
CHANNELS = {'amrnb12.2': ('amrnb', 7), 'amrnb4.75': ('amrnb', 0), 'gsm': ('gsm', 0), 'agc': ('agc', 0),
            'amrwb12.65': ('amrwb', 2), 'amrwb6.6': ('amrwb', 0), 'hd12.65': ('hd', 2), 'hd6.6': ('hd', 0)}


def leg(x: np.ndarray, file_id: str, codec: str, mode: int) -> np.ndarray:
    if codec == 'agc':
        return agc_g711(x, file_id)
    if codec == 'hd':                       # AMR-WB kept wideband: an HD-voice call to a wideband (Opus / L16) stream
        return amrwb.roundtrip(x, mode)
    return mobile_channel(x, codec, mode)


def agc_g711(x: np.ndarray, file_id: str) -> np.ndarray:
    """augment.random_agc over the whole file (a random draw seeded by the file id, so every run scores the same
    audio), then G.711 mu-law: a handset / softphone AGC before the leg."""
    seed = int.from_bytes(hashlib.sha256(file_id.encode()).digest()[:8], 'little')
    return g711_channel(random_agc(x, np.random.default_rng(seed)), 'ulaw')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('runs', nargs='+')
    ap.add_argument('--channels', default='amrnb12.2,gsm')
    ap.add_argument('--baseline', default='g711_ulaw', choices=('g711_ulaw', 'wideband'),
                    help="the oof.json channel reported beside the new ones (wideband for the hd* channels)")
    ap.add_argument('--out', required=True)
    ap.add_argument('--oof-name', default=None, metavar='NAME',
                    help="also write each run's per-file scores (oof.json's format) to RUN/NAME, for compare_runs.py "
                         '--oof NAME --channel CHANNEL (paired comparison of two runs of one fold: one call per run)')
    args = ap.parse_args(argv)
    chans = [c for c in args.channels.split(',') if c]
    bad = set(chans) - set(CHANNELS)
    if bad:
        ap.error(f'unknown channels {sorted(bad)}; known: {sorted(CHANNELS)}')
    folds_of = [json.loads((Path(r) / 'oof.json').read_text())['meta']['fold'] for r in args.runs]
    if len(set(folds_of)) != len(folds_of):
        ap.error(f'two runs hold out the same fold ({folds_of}): the report pools the runs as folds of one recipe; '
                 'evaluate runs of different recipes one at a time')
    rows: dict[str, list[dict]] = {c: [] for c in [args.baseline, *chans]}
    t0 = time.time()
    for run in args.runs:
        oof = json.loads((Path(run) / 'oof.json').read_text())
        sess = onnx_io.session(str(Path(run) / 'model.onnx'))
        for r in oof['files']:
            if r['channel'] != args.baseline:
                continue
            base = dict(r, fold=oof['meta']['fold'], y=int(r['label'] == 'synthetic'))
            base['file_score'] = call_score(r['scores'], r['speech'])[0] or 0.5
            rows[args.baseline].append(base)
            x = to_int16(load_audio(str(SPEECH / r['id']), 30.0)).astype(np.float32) / 32768.0
            for c in chans:
                codec, mode = CHANNELS[c]
                win = cut_windows(leg(x, r['id'], codec, mode))
                p, _ = onnx_io.score(sess, win)
                sp = speech_windows(win)
                d = dict(base, channel=c, scores=[float(v) for v in p], speech=[bool(v) for v in sp])
                sc = call_score(d['scores'], d['speech'])[0]
                d['file_score'] = sc if sc is not None else call_score(d['scores'], [True] * len(p))[0]
                rows[c].append(d)
        if args.oof_name:
            keep = ('id', 'label', 'source', 'family', 'generator', 'condition', 'channel', 'scores', 'speech')
            files = [{k: d[k] for k in keep} for c in rows for d in rows[c] if d['fold'] == oof['meta']['fold']]
            (Path(run) / args.oof_name).write_text(json.dumps({'meta': dict(oof['meta'], channel_eval=chans),
                                                               'files': files}) + '\n')
        print(f'{run}: done ({time.time() - t0:.0f} s)', flush=True)
    rep = {'runs': args.runs, 'channels': {}}
    for c, rs in rows.items():
        folds = sorted({r['fold'] for r in rs})
        rep['channels'][c] = {'pooled': block(rs), 'per_fold': {str(k): block([r for r in rs if r['fold'] == k]) for k in folds}}
        p = rep['channels'][c]['pooled']
        print(f'{c:10s} pooled window EER {p.get("window_eer_pct")}% file EER {p.get("file_eer_pct")}%', flush=True)
    Path(args.out).write_text(json.dumps(rep, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
