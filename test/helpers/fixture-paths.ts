/** Paths of the fixtures in the repository: test/fixtures/ (tiny models, SIP messages, sipp scenario) and samples/. */
import { resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';

export const FIXTURES_DIR = resolve(projectRoot, 'test', 'fixtures');
export const SIP_FIXTURE_DIR = resolve(FIXTURES_DIR, 'sip');
export const SIPP_SCENARIO = resolve(FIXTURES_DIR, 'sipp', 'siprec-uac.xml');

/** Probability output; a few hundred FLOPs per window (test/fixtures/make_tiny_model.py). */
export const TINY_MODEL = resolve(FIXTURES_DIR, 'tiny-model');
export const TINY_LOGIT_MODEL = resolve(FIXTURES_DIR, 'tiny-model-logit');
/** Passes every load-time check, fails at run time (batch not a multiple of 3 / wrong output rows). */
export const RUNTIME_ERROR_MODEL = resolve(FIXTURES_DIR, 'tiny-model-runtime-error');
/** tiny-model plus an "embedding" output [batch, 2], declared in its card like the trained model's. */
export const EMBEDDING_MODEL = resolve(FIXTURES_DIR, 'tiny-model-embedding');
/** Run time ∝ the batch's peak amplitude: silence is instant, a 0.9 peak takes about a second or two. */
export const SLOW_MODEL = resolve(FIXTURES_DIR, 'tiny-model-slow');

/** The demo sample calls shipped in samples/ (see samples/ATTRIBUTION.md). */
export const SAMPLES_DIR = resolve(projectRoot, 'samples');
/** LibriSpeech (CC BY 4.0) read speech, 11.3 s. */
export const GENUINE_FILE = resolve(SAMPLES_DIR, 'genuine-librispeech.flac');
/** ESPnet Tacotron 2 + WaveNet vocoder (LJSpeech voice), 7.6 s. */
export const SYNTHETIC_FILE = resolve(SAMPLES_DIR, 'synthetic-ljspeech-espnet.flac');
