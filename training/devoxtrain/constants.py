"""Constants shared by the training scripts (train.py, evaluate.py, compare.py, ...) and the devoxtrain modules:
where things are, the runtime's audio framing, and the defaults every script must agree on."""
from __future__ import annotations

from pathlib import Path

# --- where things are -------------------------------------------------------------------------------------------
# training/devoxtrain/constants.py -> the repository root (an editable install, pip install -e training, keeps it so)
REPO = Path(__file__).resolve().parent.parent.parent
TRAINING_DIR = REPO / 'training'
MODELS_DIR = REPO / 'models'
DEFAULT_MODEL_DIR = MODELS_DIR / 'devox-phone'
CACHE_DIR = TRAINING_DIR / 'cache'
RUNS_DIR = TRAINING_DIR / 'runs'
SHARED = (REPO / '..' / 'shared').resolve()                    # ../shared next to the checkout (data, models)
SHARED_SPEECH = SHARED / 'data' / 'speech'
SHARED_MANIFEST = SHARED_SPEECH / 'manifest.csv'

# --- the runtime's audio framing (config/default.json, src/media/audio-stream.ts) -------------------------------
SR = 16000                  # every model input is 16 kHz mono
WINDOW = 16000              # 1-s windows
HOP = 4000                  # 250 ms, as config/default.json window.hopMs
SPEECH_DBFS = -45.0         # config/default.json window.speechThresholdDbfs
SPEECH_FRAME = 320          # 20-ms frames, as src/media/audio-stream.ts FRAME_SEC
MIN_SPEECH_RATIO = 0.3      # config/default.json verdict.minWindowSpeechRatio

# --- defaults train.py, evaluate.py and compare.py must agree on ------------------------------------------------
DEFAULT_SEED = 1337         # training seed, and the split seed when a card does not name one
CAPS = {'train': 30.0, 'dev': 30.0, 'test': 60.0}    # seconds per file kept in the cache, per split
# Demo samples shipped in samples/ (see samples/ATTRIBUTION.md): never trained on; their speakers are in test.
DEMO_IDS = ('audio/resemblyzer/genuine/bonafide/libri-1355_1af50ad62c.flac',
            'audio/espnet_tts_sample/synthetic/espnet-tacotron2-v3-wnv-kan-bayashi-wavenet-vocoder/lj_5f25325bad.flac')
DEMO_SPEAKERS = ('libri_1355', 'LJ')
