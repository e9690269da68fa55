"""ONNX export and onnxruntime scoring of DevoxNet."""
from __future__ import annotations

import hashlib
import time
import warnings

import numpy as np
import torch

from .model import WINDOW, DevoxNet, ExportWrapper


def export(net: DevoxNet, path: str) -> None:
    net.eval()
    wrapper = ExportWrapper(net).eval()
    dummy = torch.zeros(2, WINDOW)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(wrapper, (dummy,), path, input_names=['audio'], output_names=['prob_synthetic', 'embedding'],
                          dynamic_axes={'audio': {0: 'batch'}, 'prob_synthetic': {0: 'batch'}, 'embedding': {0: 'batch'}},
                          opset_version=17, dynamo=False, do_constant_folding=True)
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)


def session(path: str, threads: int = 1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])


def score(sess, windows: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    probs, embs = [], []
    for i in range(0, len(windows), batch):
        p, e = sess.run(None, {'audio': np.ascontiguousarray(windows[i:i + batch], dtype=np.float32)})
        probs.append(p)
        embs.append(e)
    if not probs:
        return np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(probs), np.concatenate(embs)


def torch_score(net: DevoxNet, windows: np.ndarray, batch: int = 256) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            logit, _ = net(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch], dtype=np.float32)))
            out.append(torch.sigmoid(logit).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def time_inference(path: str, reps: int = 30) -> dict:
    """ms per 1-s window with onnxruntime CPU (1 intra-op thread, as config/default.json detect.intraOpThreads)."""
    sess = session(path, threads=1)
    rng = np.random.default_rng(0)
    out = {}
    for b in (1, 64):
        x = (0.1 * rng.standard_normal((b, WINDOW))).astype(np.float32)
        for _ in range(3):
            sess.run(None, {'audio': x})
        n = reps if b == 1 else max(5, reps // 3)
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            sess.run(None, {'audio': x})
            ts.append(time.perf_counter() - t0)
        med = float(np.median(ts))
        out[f'batch{b}'] = {'ms_per_batch_median': round(med * 1e3, 3), 'ms_per_window': round(med * 1e3 / b, 3),
                            'windows_per_s': round(b / med, 1), 'reps': n}
    out['threads'] = 1
    out['provider'] = 'CPUExecutionProvider'
    import onnxruntime
    out['onnxruntime'] = onnxruntime.__version__
    return out
