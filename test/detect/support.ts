/**
 * Shared bits of the detector tests: fixture paths, real speech windows (media's RingWindowView
 * over real audio from ../shared/data/speech), a log capture, and a detect config.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, projectRoot, type Config } from '../../src/config.js';
import type { ModelCard } from '../../src/detect/types.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import type { StreamDescriptor } from '../../src/media/types.js';
import { RingWindowView } from '../../src/media/window-view.js';
import { createLogger, type Logger } from '../../src/logger.js';

export const TINY_MODEL = resolve(projectRoot, 'test/fixtures/tiny-model');
export const TINY_LOGIT_MODEL = resolve(projectRoot, 'test/fixtures/tiny-model-logit');
/** Passes every load-time check, fails at run time (batch not a multiple of 3 / wrong output rows). */
export const RUNTIME_ERROR_MODEL = resolve(projectRoot, 'test/fixtures/tiny-model-runtime-error');
/** tiny-model plus an "embedding" output [batch, 2], declared in its card like the trained model's. */
export const EMBEDDING_MODEL = resolve(projectRoot, 'test/fixtures/tiny-model-embedding');
/** Run time ∝ the batch's peak amplitude: silence is instant, a 0.9 peak takes about a second or two. */
export const SLOW_MODEL = resolve(projectRoot, 'test/fixtures/tiny-model-slow');
export const SPEECH_DIR = resolve(projectRoot, '../shared/data/speech');

/** A few real files (genuine and synthetic) from the shared speech manifest. */
export const SPEECH_FILES = {
  genuine: [
    'audio/advspeech/genuine/bonafide/libri-2277_ced474cb8e.flac',
    'audio/advspeech/genuine/bonafide/libri-5694_380b7a8e0e.flac',
  ],
  synthetic: [
    'audio/espnet_tts_sample/synthetic/espnet-fastspeech-v1-wnv-kan-bayashi-wavenet-vocoder/lj_9a19a4cbc6.flac',
    'audio/espnet_tts_sample/synthetic/espnet-fastspeech-v2-gl-griffin-lim/lj_78e6d10b0d.flac',
  ],
};

export function detectConfig(over: Partial<Config['detect']> = {}, env: Record<string, string> = {}): Config['detect'] {
  const c = loadConfig({ env });
  return { ...c.detect, modelDir: TINY_MODEL, ...over };
}

export function stream(id: string): StreamDescriptor {
  return { streamId: id, callId: `call-${id}`, leg: 'caller', transport: 'file' };
}

/** Captures pino JSON lines. */
export function captureLog(level = 'debug'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger(level, sink), lines };
}

/** 16 kHz mono speech, concatenated from the given manifest paths. */
export async function speech(paths: string[] = SPEECH_FILES.genuine): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const p of paths) {
    const { samples, sampleRate } = await readAudioFile(join(SPEECH_DIR, p));
    if (sampleRate !== 16000) throw new Error(`expected 16 kHz, ${p} is ${sampleRate}`);
    parts.push(samples);
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Feeds real audio as hop-spaced 1-s windows through media's own WindowView (one reused view per
 * stream, as AudioStream does). `emit` receives the view during the call only.
 */
export class WindowSource {
  readonly view: RingWindowView;
  readonly #ring: Float32Array;
  #seq = 0;
  constructor(
    readonly stream: StreamDescriptor,
    readonly audio: Float32Array,
    readonly hop = 4000,
    readonly len = 16000,
  ) {
    this.#ring = new Float32Array(len);
    this.view = new RingWindowView(stream, 16000, this.#ring);
  }
  /** Windows this source can produce. */
  get count(): number {
    return Math.max(0, Math.floor((this.audio.length - this.len) / this.hop) + 1);
  }
  /** The audio of window `seq` (a copy, for reference scoring). */
  windowAudio(seq: number): Float32Array {
    const start = (seq * this.hop) % (this.audio.length - this.len);
    return this.audio.slice(start, start + this.len);
  }
  /** Prepares the next window (seq wraps around the audio if asked for more than `count`). */
  next(): RingWindowView {
    const seq = this.#seq++;
    this.#ring.set(this.windowAudio(seq));
    const v = this.view;
    v.start = 0;
    v.seq = seq;
    v.mediaStartSec = (seq * this.hop) / 16000;
    v.mediaEndSec = v.mediaStartSec + this.len / 16000;
    v.readyMs = performance.timeOrigin + performance.now();
    v.arrivalMs = v.readyMs;
    v.speechRatio = 1;
    v.rmsDbfs = -20;
    v.lostRatio = 0;
    return v;
  }
}

/** A copy of a model dir in a temp dir with card edits applied (and optionally other ONNX bytes). */
export async function modelVariant(
  edit: (card: ModelCard) => void,
  opts: { from?: string; onnx?: Uint8Array } = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'devox-model-'));
  await cp(opts.from ?? TINY_MODEL, dir, { recursive: true });
  if (opts.onnx) await writeFile(join(dir, 'model.onnx'), opts.onnx);
  const card = JSON.parse(await readFile(join(dir, 'card.json'), 'utf8')) as ModelCard;
  edit(card);
  await writeFile(join(dir, 'card.json'), JSON.stringify(card, null, 2));
  return dir;
}
