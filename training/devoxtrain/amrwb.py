"""AMR-WB (3GPP TS 26.190) encode/decode through Debian's shared libraries, for the HD-voice mobile leg.

Debian's sox is built without AMR-WB encoding and Debian's ffmpeg only decodes it, but Debian ships both halves as
libraries: `libvo-amrwbenc0` (VisualOn's encoder, as Android uses) and `libopencore-amrwb0` (the 3GPP reference
decoder). Their C interfaces are three functions each (enc_if.h / dec_if.h), so ctypes is the whole binding: no
build step and no Python package. Frames are 20 ms (320 samples at 16 kHz) in the RFC 4867 storage format (one
ToC byte + the mode's bits), which is what the encoder writes and the decoder reads.

Install: apt-get install libvo-amrwbenc0 libopencore-amrwb0 (.ci/run does).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

FRAME = 320                      # 20 ms at 16 kHz
# mode -> kbps (TS 26.190); VoLTE HD voice runs mostly at 12.65, 6.60 under poor radio, 23.85 at best
MODES = {0: 6.60, 1: 8.85, 2: 12.65, 3: 14.25, 4: 15.85, 5: 18.25, 6: 19.85, 7: 23.05, 8: 23.85}
# The encoder + decoder pair's algorithmic delay in samples at 16 kHz, measured on speech (cross-correlation peak,
# every mode: 94-95); channel outputs are shifted back by it so they line up sample for sample with the input.
DELAY = 95
_MAX_FRAME_BYTES = 61            # mode 8: 477 bits + ToC


class AmrWbUnavailable(RuntimeError):
    """The AMR-WB libraries are not installed."""


@functools.lru_cache(maxsize=1)
def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    try:
        enc = ctypes.CDLL(ctypes.util.find_library('vo-amrwbenc') or 'libvo-amrwbenc.so.0')
        dec = ctypes.CDLL(ctypes.util.find_library('opencore-amrwb') or 'libopencore-amrwb.so.0')
    except OSError as e:
        raise AmrWbUnavailable('AMR-WB needs Debian libvo-amrwbenc0 and libopencore-amrwb0 '
                               f'(apt-get install libvo-amrwbenc0 libopencore-amrwb0): {e}') from e
    enc.E_IF_init.restype = ctypes.c_void_p
    enc.E_IF_encode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    enc.E_IF_encode.restype = ctypes.c_int
    enc.E_IF_exit.argtypes = [ctypes.c_void_p]
    dec.D_IF_init.restype = ctypes.c_void_p
    dec.D_IF_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    dec.D_IF_exit.argtypes = [ctypes.c_void_p]
    return enc, dec


def roundtrip(x: np.ndarray, mode: int = 2) -> np.ndarray:
    """16 kHz float32 in [-1, 1] -> AMR-WB encode at `mode` -> decode -> 16 kHz float32, same length, delay removed.
    DTX off (a call's speech frames; comfort noise is not what the detector should learn)."""
    if mode not in MODES:
        raise ValueError(f'AMR-WB mode must be one of {sorted(MODES)}, not {mode!r}')
    enc, dec = _libs()
    n = len(x)
    q = np.clip(np.asarray(x, np.float32) * 32768.0, -32768, 32767).astype(np.int16)
    total = -(-(n + DELAY) // FRAME) * FRAME                   # whole frames, with the delay's tail flushed out
    src = np.zeros(total, np.int16)
    src[:n] = q
    out = np.empty(total, np.int16)
    bits = (ctypes.c_ubyte * _MAX_FRAME_BYTES)()
    e, d = enc.E_IF_init(), dec.D_IF_init()
    if not e or not d:
        raise AmrWbUnavailable('AMR-WB codec state could not be allocated')
    try:
        base_in, base_out = src.ctypes.data, out.ctypes.data
        for i in range(0, total, FRAME):
            if enc.E_IF_encode(e, mode, base_in + 2 * i, bits, 0) <= 0:
                raise RuntimeError(f'AMR-WB encoder returned no frame at sample {i}')
            dec.D_IF_decode(d, bits, base_out + 2 * i, 0)
    finally:
        enc.E_IF_exit(e)
        dec.D_IF_exit(d)
    return (out[DELAY:DELAY + n].astype(np.float32) / 32768.0)
