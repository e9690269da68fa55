#!/usr/bin/env python3
"""Per-window scores of one audio file, with the runtime's exact windowing, for comparison with `devox analyze`.

    python3 training/parity.py samples/genuine-librispeech.flac [--model models/devox-phone] [--channel ulaw]

Windowing: 1-s windows (16000 samples at 16 kHz) every 250 ms, the first window covering [0.0, 1.0) s, the last one
the final full second that starts on the 250-ms grid; no window for a file shorter than 1 s. Audio at another rate
is resampled to 16 kHz with scipy's polyphase filter (the runtime's resampler may differ slightly, so compare
16-kHz files for a tight check). `--channel ulaw|alaw` passes the file through G.711 at 8 kHz first.
Prints one JSON object: windows[{index, startSec, endSec, rmsDbfs, speechRatio, speech, score}], fileScore (mean over speech
windows), model sha256 and version.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


import numpy as np

from devoxtrain import channel, onnx_io
from devoxtrain.cache import load_audio
from devoxtrain.constants import DEFAULT_MODEL_DIR
from devoxtrain.metrics import HOP, WINDOW, speech_ratio, speech_windows, window_dbfs



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('file')
    ap.add_argument('--model', default=str(DEFAULT_MODEL_DIR))
    ap.add_argument('--channel', choices=('none', 'ulaw', 'alaw'), default='none')
    args = ap.parse_args(argv)
    with open(os.path.join(args.model, 'card.json')) as fh:
        card = json.load(fh)
    onnx_path = os.path.join(args.model, card['file'])
    if onnx_io.sha256(onnx_path) != card['sha256']:
        print(f'error: {onnx_path} does not match the sha256 in card.json', file=sys.stderr)
        return 1
    x = load_audio(args.file)
    if args.channel != 'none':
        x = channel.g711_channel(x, args.channel)
    starts = np.arange(0, len(x) - WINDOW + 1, HOP) if len(x) >= WINDOW else np.zeros(0, dtype=int)
    wins = np.stack([x[s:s + WINDOW] for s in starts]).astype(np.float32) if len(starts) else np.zeros((0, WINDOW), np.float32)
    probs, _ = onnx_io.score(onnx_io.session(onnx_path), wins, batch=64) if len(wins) else (np.zeros(0), None)
    db = window_dbfs(wins) if len(wins) else np.zeros(0)
    ratio = speech_ratio(wins) if len(wins) else np.zeros(0)
    speech = speech_windows(wins) if len(wins) else np.zeros(0, bool)
    out = {
        'file': args.file, 'model': card['name'], 'version': card['version'], 'sha256': card['sha256'],
        'sampleRate': 16000, 'windowSec': 1.0, 'hopSec': HOP / 16000, 'channel': args.channel,
        'durationSec': round(len(x) / 16000, 4),
        'windows': [{'index': i, 'startSec': round(s / 16000, 4), 'endSec': round((s + WINDOW) / 16000, 4),
                     'rmsDbfs': round(float(d), 2), 'speechRatio': round(float(r), 4), 'speech': bool(sp),
                     'score': float(p)}
                    for i, (s, d, r, sp, p) in enumerate(zip(starts, db, ratio, speech, probs))],
        'fileScore': float(np.mean(probs[speech])) if speech.any() else (float(np.mean(probs)) if len(probs) else None),
        'thresholds': card['thresholds'],
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
