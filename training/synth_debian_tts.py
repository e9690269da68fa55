#!/usr/bin/env python3
"""Unpaired synthetic training speech from the text-to-speech engines Debian ships: English sentences spoken by
espeak-ng (formant synthesis), flite (diphone / clustergen-style voices) and festival (diphone voices and one HTS
statistical-parametric voice), with several voices, rates and pitches per engine, at 16 kHz with a random speech
level (-32..-20 dBFS), into `training/cache/debian-tts/{audio/*.flac, manifest.csv}`.

Which Debian package makes which audio (generator column):

| generator          | Debian package(s)                               | voices                                       |
| ---                | ---                                             | ---                                          |
| `espeak-ng`        | `espeak-ng` (+ `espeak-ng-data`)                | en-us, en-gb, en-gb-scotland, en-gb-x-rp, en-029, en-gb-x-gbclan, each with a variant (m1-m7, f1-f5, klatt*) |
| `flite`            | `flite` (built-in voices)                       | kal, kal16, awb, rms, slt                    |
| `festival-diphone` | `festival` + `festvox-kallpc16k`, `festvox-kdlpc16k` | kal_diphone, ked_diphone               |
| `festival-hts`     | `festival` + `festvox-us-slt-hts`               | cmu_us_slt_arctic_hts (32 kHz HTS)           |

The shared corpus has no transcripts, so the texts are the first six Harvard sentence lists (IEEE Recommended
Practice for Speech Quality Measurements, 1969; public domain), two consecutive sentences per file. Nothing here is
paired with a genuine recording: train.py --extra-synthetic adds the rows to the training split only (never to a
held-out split), as one extra synthetic source.

Regenerate (a few CPU-minutes for 480 files, ~0.3 s each):

    apt-get install -y espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
    /work/cpu-slot.sh python3 training/synth_debian_tts.py --n 480    # -> training/cache/debian-tts/manifest.csv
    python3 training/synth_debian_tts.py --n 6 --out /tmp/tts          # a quick look

File k's engine is k mod 4 (espeak-ng, flite, festival-diphone, festival-hts), its voice, rate, pitch, level and
sentences are drawn from a generator seeded by k: the same --n gives the same files. Resumable: finished files are
kept.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain.constants import CACHE_DIR
from devoxtrain.resample import resample

SR = 16000

# Harvard sentences, lists 1-6 (IEEE 1969).
SENTENCES = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.", "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.", "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.", "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.", "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.", "What joy there is in living.",
    "A king ruled the state in the early days.", "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.", "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.", "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.", "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.", "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.", "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.", "The show was a flop from the very start.",
    "A saw is a tool used for making boards.", "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.", "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.", "Both lost their lives in the raging storm.",
]

ESPEAK_VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-gb-x-rp', 'en-029', 'en-gb-x-gbclan']
ESPEAK_VARIANTS = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'f1', 'f2', 'f3', 'f4', 'f5', 'klatt', 'klatt2',
                   'klatt3']
FLITE_VOICES = {'kal': 105, 'kal16': 105, 'awb': 100, 'rms': 95, 'slt': 170}     # voice -> typical f0 mean (Hz)
FESTIVAL_DIPHONE = ['kal_diphone', 'ked_diphone']
FESTIVAL_HTS = ['cmu_us_slt_arctic_hts']
ENGINES = ('espeak-ng', 'flite', 'festival-diphone', 'festival-hts')
PACKAGES = {'espeak-ng': 'espeak-ng', 'flite': 'flite',
            'festival-diphone': {'kal_diphone': 'festival + festvox-kallpc16k',
                                 'ked_diphone': 'festival + festvox-kdlpc16k'},
            'festival-hts': 'festival + festvox-us-slt-hts'}
TOOLS = {'espeak-ng': 'espeak-ng', 'flite': 'flite', 'festival-diphone': 'text2wave', 'festival-hts': 'text2wave'}
LICENSES = {'espeak-ng': 'GPL-3+', 'flite': 'BSD-like (flite)', 'festival-diphone': 'festival/festvox free licences',
            'festival-hts': 'festival/festvox free licences'}


def plan(k: int) -> dict:
    """File k: engine, voice, prosody settings, level and text (deterministic in k)."""
    rng = np.random.default_rng([20261207, k])
    engine = ENGINES[k % len(ENGINES)]
    s0 = int(rng.integers(len(SENTENCES)))
    text = SENTENCES[s0] + ' ' + SENTENCES[(s0 + 1) % len(SENTENCES)]
    p: dict = {'k': k, 'engine': engine, 'text': text, 'level_dbfs': float(rng.uniform(-32, -20))}
    if engine == 'espeak-ng':
        p['voice'] = f'{ESPEAK_VOICES[rng.integers(len(ESPEAK_VOICES))]}+{ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]}'
        p['rate'] = int(rng.integers(130, 201))       # words per minute (default 175)
        p['pitch'] = int(rng.integers(25, 76))        # 0-99 (default 50)
    elif engine == 'flite':
        voices = sorted(FLITE_VOICES)
        p['voice'] = voices[rng.integers(len(voices))]
        p['stretch'] = round(float(rng.uniform(0.8, 1.25)), 3)
        p['f0'] = int(round(FLITE_VOICES[p['voice']] * rng.uniform(0.8, 1.25)))
    elif engine == 'festival-diphone':
        p['voice'] = FESTIVAL_DIPHONE[rng.integers(len(FESTIVAL_DIPHONE))]
        p['stretch'] = round(float(rng.uniform(0.85, 1.2)), 3)
    else:
        p['voice'] = FESTIVAL_HTS[0]                  # Duration_Stretch has no effect on the HTS engine
    return p


def command(p: dict, txt: Path, wav: Path) -> list[str]:
    if p['engine'] == 'espeak-ng':
        return ['espeak-ng', '-v', p['voice'], '-s', str(p['rate']), '-p', str(p['pitch']), '-w', str(wav),
                '-f', str(txt)]
    if p['engine'] == 'flite':
        return ['flite', '-voice', p['voice'], '--setf', f'duration_stretch={p["stretch"]}',
                '--setf', f'int_f0_target_mean={p["f0"]}', '-f', str(txt), '-o', str(wav)]
    setup = f"(voice_{p['voice']})"
    if 'stretch' in p:
        setup = f"(begin {setup} (Parameter.set 'Duration_Stretch {p['stretch']}))"
    return ['text2wave', '-eval', setup, str(txt), '-o', str(wav)]


def synthesise(p: dict, seed: int = 0) -> tuple[np.ndarray, int]:
    """16-kHz float32 speech at p['level_dbfs'] RMS (with a -85 dBFS dither: no digital silence), and the engine's
    native sample rate."""
    with tempfile.TemporaryDirectory() as d:
        txt, wav = Path(d, 'in.txt'), Path(d, 'out.wav')
        txt.write_text(p['text'] + '\n')
        subprocess.run(command(p, txt, wav), check=True, capture_output=True, timeout=120)
        x, sr = sf.read(wav, dtype='float32', always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        x = resample(x, sr, SR)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms < 1e-6:
        raise RuntimeError(f'{p["engine"]} {p["voice"]}: silent output')
    x = x * (10 ** (p['level_dbfs'] / 20) / rms)
    x = x + np.random.default_rng([seed, p['k']]).normal(0, 10 ** (-85 / 20), len(x))
    return np.clip(x, -0.99, 0.99).astype(np.float32), int(sr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(CACHE_DIR / 'debian-tts'))
    ap.add_argument('--n', type=int, default=480, help='how many files (engines in turn)')
    args = ap.parse_args(argv)
    missing = sorted({t for e, t in TOOLS.items() if not shutil.which(t)})
    if missing:
        raise SystemExit(f'{missing} not found: apt-get install -y espeak-ng flite festival festvox-kallpc16k '
                         'festvox-kdlpc16k festvox-us-slt-hts')
    out = Path(args.out)
    (out / 'audio').mkdir(parents=True, exist_ok=True)
    rows, t0, made_sec = [], time.time(), 0.0
    for k in range(args.n):
        p = plan(k)
        name = f'{k:05d}_{p["engine"]}_{p["voice"].replace("+", "-")}.flac'
        target = out / 'audio' / name
        if target.exists():
            info = sf.info(target)
            dur, native = info.frames / info.samplerate, None
        else:
            y, native = synthesise(p)
            tmp = target.with_suffix('.tmp.flac')
            sf.write(tmp, y, SR, subtype='PCM_16')
            tmp.rename(target)
            dur = len(y) / SR
            made_sec += dur
        pkg = PACKAGES[p['engine']]
        pkg = pkg[p['voice']] if isinstance(pkg, dict) else pkg
        settings = ' '.join(f'{a}={p[a]}' for a in ('rate', 'pitch', 'stretch', 'f0') if a in p)
        rows.append({'path': f'audio/{name}', 'label': 'synthetic', 'generator': p['engine'],
                     'speaker': f'{p["engine"]}:{p["voice"].split("+")[0]}', 'source': 'debian-tts', 'corpus': 'en',
                     'orig_sample_rate': str(native or ''), 'duration_s': f'{dur:.3f}', 'pair_key': '',
                     'license': f'generated by {pkg} (Debian; {LICENSES[p["engine"]]}) from the Harvard sentences '
                                '(IEEE 1969, public domain)',
                     'condition': 'tts', 'stored_codec': 'flac', 'package': pkg,
                     'voice': p['voice'], 'settings': settings, 'text': p['text']})
        if (k + 1) % 40 == 0:
            print(f'{k + 1}/{args.n} files, {made_sec:.0f} s of new audio in {time.time() - t0:.0f} s', flush=True)
    manifest = out / 'manifest.csv'
    with open(manifest, 'w', newline='') as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    total = sum(float(r['duration_s']) for r in rows)
    print(f'{len(rows)} files, {total / 60:.1f} min of speech -> {manifest} ({time.time() - t0:.0f} s)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
