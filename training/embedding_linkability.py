"""How much an exported embedding says about WHO speaks (docs/privacy.md).

Genuine files of the shared corpus with a named speaker (>= 5 files; 30 speakers drawn with seed 0, at most 8 files
each), through a G.711 mu-law simulation (resample to 8 kHz, mu-law round trip, back to 16 kHz), 1-s windows every
250 ms, the narrowband model's `embedding` output. Reports leave-one-out 1-nearest-neighbour speaker identification
(cosine, mean-centred) from the file-mean embedding and from one window, and the same-speaker verification EER.
Caveat: files of one speaker often share a recording session, so part of what links them is the channel.

    python3 training/embedding_linkability.py [--model models/devox-phone-nb/model.onnx]
"""
import argparse
import collections
import csv
import random

import numpy as np
import onnxruntime as ort
import soundfile as sf
from scipy.signal import resample_poly

ROOT = '../shared/data/speech/'


def mulaw(x: np.ndarray) -> np.ndarray:
    mu = 255
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def nn_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
    s = x @ x.T
    np.fill_diagonal(s, -9)
    return float((y[s.argmax(1)] == y).mean())


def verification_eer(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
    s = x @ x.T
    iu = np.triu_indices(len(y), 1)
    sc, same = s[iu], y[iu[0]] == y[iu[1]]
    best = 1.0
    for t in np.sort(sc)[:: max(1, len(sc) // 2000)]:
        best = min(best, max((sc[~same] >= t).mean(), (sc[same] < t).mean()))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='models/devox-phone-nb/model.onnx')
    a = ap.parse_args()
    rows = [r for r in csv.DictReader(open(ROOT + 'manifest.csv')) if r['label'] == 'genuine' and r['speaker'] and not r['speaker'].startswith('unknown')]
    by = collections.defaultdict(list)
    for r in rows:
        by[r['speaker']].append(r)
    speakers = [s for s, v in by.items() if len(v) >= 5]
    random.seed(0)
    random.shuffle(speakers)
    speakers = speakers[:30]
    sess = ort.InferenceSession(a.model, providers=['CPUExecutionProvider'])
    files, labels, windows = [], [], []
    for si, s in enumerate(speakers):
        for r in by[s][:8]:
            x, sr = sf.read(ROOT + r['path'], dtype='float32')
            if x.ndim > 1:
                x = x.mean(1)
            x16 = resample_poly(mulaw(np.clip(resample_poly(x, 8000, sr), -1, 1)), 2, 1).astype(np.float32)
            ws = [x16[i:i + 16000] for i in range(0, len(x16) - 16000 + 1, 4000)]
            if not ws:
                continue
            _, e = sess.run(['prob_synthetic', 'embedding'], {'audio': np.stack(ws)})
            files.append(e.mean(0))
            windows.append(e[len(e) // 2])
            labels.append(si)
    y = np.array(labels)
    print(f'speakers {len(set(labels))}, files {len(files)}, chance {1 / len(set(labels)):.3f}')
    print(f'1-NN speaker identification, file-mean embedding: {nn_accuracy(np.array(files), y):.3f}')
    print(f'1-NN speaker identification, one 1-s window:      {nn_accuracy(np.array(windows), y):.3f}')
    print(f'same-speaker verification EER, file-mean:         {verification_eer(np.array(files), y):.3f}')


if __name__ == '__main__':
    main()
