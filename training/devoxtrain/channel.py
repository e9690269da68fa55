"""Phone-channel simulation: 8 kHz band-limit, G.711 mu-law / A-law at 8 kHz, Opus via the ffmpeg CLI.

All functions take and return float32 mono at 16 kHz in [-1, 1] with the same length, so a degraded copy lines up
sample for sample with the clean one.

G.711 is hand-written (lookup tables built once from the G.711 segment rules) because it is 40 lines, needs no
dependency, and must match code for code what the runtime uses (alawmulaw; test/training/augment.test.ts compares
all 65,536 inputs and 256 codes).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

import numpy as np
from scipy.signal import butter, sosfilt

from . import amrwb
from .constants import SR
from .resample import resample



class ChannelError(RuntimeError):
    """A channel simulation that could not run (e.g. ffmpeg missing or failing)."""


# ---------------------------------------------------------------- G.711
def _ulaw_compress(x: int) -> int:
    """mu-law encode of one 16-bit sample: sign-magnitude with bias 0x84 and clip 32635, exactly as alawmulaw
    (Reese/Sun style; ITU-T G.191 rounds a handful of negative boundary values the other way)."""
    sign = (x >> 8) & 0x80
    if sign:
        x = -x
    x = min(x + 0x84, 32635)
    exponent = max(0, ((x >> 7) & 0xFF).bit_length() - 1)
    mantissa = (x >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw_compress(x: int) -> int:
    """A-law encode of one 16-bit sample, exactly as alawmulaw."""
    x = -32767 if x == -32768 else x
    sign = ((~x) >> 8) & 0x80
    if not sign:
        x = -x
    x = min(x, 32635)
    if x >= 256:
        exponent = max(1, ((x >> 8) & 0x7F).bit_length())
        v = (exponent << 4) | ((x >> (exponent + 3)) & 0x0F)
    else:
        v = x >> 4
    return (v ^ (sign ^ 0x55)) & 0xFF


@functools.cache
def _ulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    enc = np.array([_ulaw_compress(v) for v in range(-32768, 32768)], dtype=np.uint8)
    u = (~np.arange(256)) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    dec = np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)
    return enc, dec


@functools.cache
def _alaw_tables() -> tuple[np.ndarray, np.ndarray]:
    enc = np.array([_alaw_compress(v) for v in range(-32768, 32768)], dtype=np.uint8)
    a = np.arange(256) ^ 0x55
    t = (a & 0x0F) << 4
    sg = (a & 0x70) >> 4
    t = np.where(sg == 0, t + 8, np.where(sg == 1, t + 0x108, (t + 0x108) << np.maximum(sg - 1, 0)))
    dec = np.where(a & 0x80, t, -t).astype(np.int16)
    return enc, dec


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def g711_encode(x: np.ndarray, law: str = 'ulaw') -> np.ndarray:
    enc, _ = _ulaw_tables() if law == 'ulaw' else _alaw_tables()
    return enc[to_int16(x).astype(np.int32) + 32768]


def g711_decode(codes: np.ndarray, law: str = 'ulaw') -> np.ndarray:
    _, dec = _ulaw_tables() if law == 'ulaw' else _alaw_tables()
    return dec[codes].astype(np.float32) / 32768.0


def g711_channel(x: np.ndarray, law: str = 'ulaw') -> np.ndarray:
    """16 kHz -> 8 kHz -> G.711 encode/decode -> back to 16 kHz, same length, with the runtime's own resampler
    (resample.py): the 8 -> 16 kHz step is what DevoX does to every G.711 call, and the 16 -> 8 kHz one is the
    runtime's sender (`devox send`, `devox eval --channel`), so this is `devox analyze --channel g711u` sample for
    sample up to float rounding."""
    n = len(x)
    x8 = resample(x, SR, 8000)
    y8 = g711_decode(g711_encode(x8, law), law)
    y = resample(y8, 8000, SR)[:n]
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    return y.astype(np.float32)


# ---------------------------------------------------------------- band limit
@functools.cache
def _phone_sos(lo: float, hi: float, order: int) -> np.ndarray:
    return butter(order, [lo, hi], btype='bandpass', fs=SR, output='sos')


def bandlimit(x: np.ndarray, lo: float = 300.0, hi: float = 3400.0, order: int = 8) -> np.ndarray:
    """Causal Butterworth band-pass: the 300-3400 Hz telephone band."""
    return sosfilt(_phone_sos(lo, hi, order), x.astype(np.float64)).astype(np.float32)


# ---------------------------------------------------------------- Opus (ffmpeg CLI with libopus)
def opus_channel(x: np.ndarray, bitrate_kbps: int) -> np.ndarray:
    """Encode with libopus (VoIP mode) at `bitrate_kbps`, decode back to 16 kHz; same length as input.

    ffmpeg honours the Ogg pre-skip, so the output is aligned with the input to within a few samples.
    """
    if shutil.which('ffmpeg') is None:
        raise ChannelError('ffmpeg is not installed (apt-get install ffmpeg): needed for the Opus channel')
    pcm = to_int16(x).tobytes()
    enc = subprocess.run(
        ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 's16le', '-ar', str(SR), '-ac', '1',
         '-i', 'pipe:0', '-c:a', 'libopus', '-b:a', f'{bitrate_kbps}k', '-application', 'voip',
         '-frame_duration', '20', '-f', 'ogg', 'pipe:1'], input=pcm, capture_output=True)
    if enc.returncode != 0:
        raise ChannelError(f'ffmpeg opus encode failed: {enc.stderr.decode(errors="replace")[-400:]}')
    dec = subprocess.run(
        ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-f', 's16le', '-ar', str(SR),
         '-ac', '1', 'pipe:1'], input=enc.stdout, capture_output=True)
    if dec.returncode != 0:
        raise ChannelError(f'ffmpeg opus decode failed: {dec.stderr.decode(errors="replace")[-400:]}')
    y = np.frombuffer(dec.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    n = len(x)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


# ---------------------------------------------------------------- MP3 / AAC (ffmpeg CLI, libmp3lame / native aac)
SOURCE_CODECS = {'mp3': ('libmp3lame', '.mp3'), 'aac': ('aac', '.m4a')}


def source_codec(x: np.ndarray, codec: str, bitrate_kbps: int) -> np.ndarray:
    """Encode with a perceptual music codec (what audiobooks, podcasts, videos and web demos are stored as) and
    decode back to 16 kHz; same length as input. Written through a seekable temp file so that ffmpeg records the
    encoder delay (LAME tag / MP4 edit list) and the decoder removes it: output aligned with the input."""
    if codec not in SOURCE_CODECS:
        raise ChannelError(f'unknown source codec {codec!r} (one of {sorted(SOURCE_CODECS)})')
    if shutil.which('ffmpeg') is None:
        raise ChannelError(f'ffmpeg is not installed (apt-get install ffmpeg): needed for the {codec} channel')
    lib, ext = SOURCE_CODECS[codec]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'a' + ext)
        enc = subprocess.run(
            ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 's16le', '-ar', str(SR), '-ac', '1',
             '-i', 'pipe:0', '-c:a', lib, '-b:a', f'{bitrate_kbps}k', path], input=to_int16(x).tobytes(),
            capture_output=True)
        if enc.returncode != 0:
            raise ChannelError(f'ffmpeg {codec} encode failed: {enc.stderr.decode(errors="replace")[-400:]}')
        dec = subprocess.run(
            ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-i', path, '-f', 's16le', '-ar', str(SR),
             '-ac', '1', 'pipe:1'], capture_output=True)
        if dec.returncode != 0:
            raise ChannelError(f'ffmpeg {codec} decode failed: {dec.stderr.decode(errors="replace")[-400:]}')
    y = np.frombuffer(dec.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    n = len(x)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


# ---------------------------------------------------------------- mobile legs (sox: AMR-NB via opencore, GSM-FR via libgsm)
# A mobile caller reaches a SIP trunk through the mobile network's codec, transcoded to G.711 at the interconnect
# (a tandem). Debian's ffmpeg has no AMR encoder; Debian's sox encodes AMR-NB (opencore-amrnb) and GSM 06.10;
# AMR-WB comes from Debian's libvo-amrwbenc0 / libopencore-amrwb0 through ctypes (amrwb.py).
AMR_NB_MODES = {0: 4.75, 2: 5.9, 4: 7.4, 7: 12.2}     # sox -C mode -> kbps


def _sox(pcm8: bytes, args_out: list[str], args_in: list[str]) -> bytes:
    if shutil.which('sox') is None:
        raise ChannelError('sox is not installed (apt-get install sox): needed for the AMR-NB / GSM channels')
    enc = subprocess.run(['sox', '-t', 's16', '-r', '8000', '-c', '1', '-', *args_out, '-'], input=pcm8,
                         capture_output=True)
    if enc.returncode != 0:
        raise ChannelError(f'sox encode failed: {enc.stderr.decode(errors="replace")[-400:]}')
    dec = subprocess.run(['sox', *args_in, '-', '-t', 's16', '-r', '8000', '-c', '1', '-'], input=enc.stdout,
                         capture_output=True)
    if dec.returncode != 0:
        raise ChannelError(f'sox decode failed: {dec.stderr.decode(errors="replace")[-400:]}')
    return dec.stdout


def _pcm(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def mobile_channel(x: np.ndarray, codec: str = 'amrnb', mode: int = 7, law: str = 'ulaw') -> np.ndarray:
    """16 kHz -> 8 kHz (the runtime's resampler) -> AMR-NB (mode 0-7) or GSM-FR encode/decode -> G.711 -> 16 kHz:
    a mobile leg transcoded to G.711 at the interconnect, as a SIP trunk receives it. codec 'amrwb': an HD-voice leg,
    AMR-WB (mode 0-8) at 16 kHz, then the same tandem to G.711. Same length as x."""
    n = len(x)
    x8 = resample(np.asarray(x, np.float32), SR, 8000)
    if codec == 'amrwb':                     # the 16-kHz codec first, then the same interconnect
        y8 = resample(amrwb.roundtrip(x, mode), SR, 8000)
    elif codec == 'amrnb':
        if mode not in AMR_NB_MODES:
            raise ValueError(f'AMR-NB mode must be one of {sorted(AMR_NB_MODES)}, not {mode}')
        y8 = _pcm(_sox(to_int16(x8).tobytes(), ['-C', str(mode), '-t', 'amr-nb'], ['-t', 'amr-nb']))
    elif codec == 'gsm':
        y8 = _pcm(_sox(to_int16(x8).tobytes(), ['-t', 'gsm'], ['-t', 'gsm']))
    else:
        raise ValueError(f'codec must be amrnb, amrwb or gsm, not {codec!r}')
    y8 = y8[:len(x8)] if len(y8) >= len(x8) else np.pad(y8, (0, len(x8) - len(y8)))
    y8 = g711_decode(g711_encode(y8, law), law)
    y = resample(y8, 8000, SR)[:n]
    return (y if len(y) == n else np.pad(y, (0, n - len(y)))).astype(np.float32)


# ---------------------------------------------------------------- neural processing (Node: scripts/neural-channel.ts)
# Opus 1.5 LACE / NoLACE decoding (npm @wasm-audio-decoders/opus-ml, encoder: npm opusscript) and RNNoise denoising
# (npm @jitsi/rnnoise-wasm): WebAssembly builds that only ship for JavaScript, so the trainer calls the project's own
# Node tool (npm ci installs them as devDependencies).
NEURAL_TOOL = os.path.join(os.path.dirname(__file__), '..', '..', 'scripts', 'neural-channel.ts')


def neural_channel(x: np.ndarray, mode: str, kbps: int = 12) -> np.ndarray:
    """16 kHz float32 -> Opus at `kbps` decoded with LACE / NoLACE ('lace' / 'nolace'), plainly ('opus'), or
    RNNoise-denoised ('rnnoise') -> 16 kHz float32, same length and aligned with x (the tool removes the delays)."""
    if mode not in ('lace', 'nolace', 'opus', 'rnnoise'):
        raise ValueError(f'mode must be lace, nolace, opus or rnnoise, not {mode!r}')
    node = shutil.which('node')
    if node is None:
        raise ChannelError('node is not installed: needed for the LACE / NoLACE / RNNoise channels')
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    p = subprocess.run([node, '--import', 'tsx', NEURAL_TOOL, '--mode', mode, '--kbps', str(kbps)],
                       input=to_int16(x).tobytes(), capture_output=True, cwd=root)
    if p.returncode != 0:
        raise ChannelError(f'neural-channel {mode} failed: {p.stderr.decode(errors="replace")[-400:]}')
    y = np.frombuffer(p.stdout, dtype=np.int16).astype(np.float32) / 32768.0
    n = len(x)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
