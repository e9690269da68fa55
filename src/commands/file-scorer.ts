/**
 * Scores audio files through exactly the live path, for `devox analyze` and `devox eval`:
 *
 *   readAudioFile → [channel: resample to the codec's native rate, encode + decode packet by
 *   packet with the media codecs] → AudioStream (20 ms packets at the decoder's rate: the same
 *   resampler, windowing and speech measure as RTP) → Detector (same micro-batcher and worker) →
 *   StreamVerdict (same verdict policy).
 *
 * Differences from live, on purpose: files are fed as fast as the detector takes them (the feeder
 * waits for batch room instead of being shed), and maxQueueDelayMs is lifted, because offline
 * there is no real time to keep up with and a shed window would only lose evidence.
 */
import { basename } from 'node:path';
import type { Config } from '../config.js';
import { bandOf, DetectorSet, type Band } from '../detect/detector-set.js';
import type { ModelCard, WindowScore } from '../detect/types.js';
import { floatToInt16, readAudioFile } from '../media/audio-file.js';
import { AudioStream } from '../media/audio-stream.js';
import { nowMs } from '../media/clock.js';
import { createDecoder, createEncoder, MAX_DECODED_SAMPLES, type AudioDecoder, type AudioEncoder } from '../media/codecs.js';
import { resampleBuffer } from '../media/resampler.js';
import type { StreamDescriptor, WindowSink } from '../media/types.js';
import { WindowFanOut } from '../media/window-fan-out.js';
import type { Logger } from '../logger.js';
import { StreamVerdict } from '../verdicts/verdict-policy.js';
import type { Evidence, VerdictLabel } from '../verdicts/types.js';

export type Channel = 'none' | 'g711u' | 'g711a' | 'opus';
export const CHANNELS: readonly Channel[] = ['none', 'g711u', 'g711a', 'opus'];

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseChannel(s: string): Channel {
  if ((CHANNELS as readonly string[]).includes(s)) return s as Channel;
  throw new UsageError(`--channel must be one of ${CHANNELS.join('|')}, got ${JSON.stringify(s)}`);
}

export interface WindowResult {
  seq: number;
  mediaStartSec: number;
  mediaEndSec: number;
  score: number;
  speechRatio: number;
  rmsDbfs: number;
  lostRatio: number;
  /** Counted as speech evidence (speechRatio ≥ verdict.minWindowSpeechRatio). */
  speech: boolean;
  /** Stream verdict label after this window. */
  label: VerdictLabel;
  modelVersion: string;
  /** The window's embedding output, when FileScorerOptions.embeddings asked for it. */
  embedding?: Float32Array;
}

export interface FileResult {
  path: string;
  channel: Channel;
  sampleRate: number;
  durationSec: number;
  /** The model's window length. */
  windowSec: number;
  windows: WindowResult[];
  verdict: { label: VerdictLabel; evidence: Evidence };
  /** The model that judged the file: its band's model, as the server picks it for a live stream. */
  model: { name: string; version: string; band: Band };
  /** Mean score over speech windows (all windows when none has speech); NaN without windows. */
  fileScore: number;
  speechWindows: number;
  shed: number;
}

interface Run {
  verdict: StreamVerdict;
  windows: WindowResult[];
  shed: number;
  drained: () => void;
}

/** The packet source of one channel: int16 packets at `sampleRate`, as a transport would deliver them. */
interface PacketPath {
  sampleRate: number;
  /** Calls `deliver` for each decoded packet, in order. */
  run(deliver: (pcm: Int16Array, count: number) => Promise<void>): Promise<void>;
}

function channelPath(samples: Float32Array, sampleRate: number, channel: Channel): PacketPath {
  if (channel === 'none') {
    const pcm = floatToInt16(samples);
    const packet = Math.max(1, Math.round(sampleRate / 50));
    return {
      sampleRate,
      async run(deliver) {
        for (let i = 0; i < pcm.length; i += packet) await deliver(pcm.subarray(i, Math.min(pcm.length, i + packet)), Math.min(packet, pcm.length - i));
      },
    };
  }
  const encoding = channel === 'g711u' ? 'PCMU' : channel === 'g711a' ? 'PCMA' : 'opus';
  const encoder: AudioEncoder = createEncoder(encoding);
  const decoder: AudioDecoder = createDecoder({ encoding, clockRate: encoder.sampleRate, channels: encoding === 'opus' ? 2 : 1 });
  const native = encoder.sampleRate;
  const pcm = floatToInt16(resampleBuffer(samples, sampleRate, native));
  const packet = native / 50; // 20 ms
  return {
    sampleRate: decoder.sampleRate,
    async run(deliver) {
      const frame = new Int16Array(packet);
      const payload = new Uint8Array(4000);
      const out = new Int16Array(MAX_DECODED_SAMPLES);
      try {
        for (let i = 0; i < pcm.length; i += packet) {
          const n = Math.min(packet, pcm.length - i);
          // Codecs take whole frames: the last partial one is padded with silence.
          frame.fill(0);
          frame.set(pcm.subarray(i, i + n));
          const bytes = encoder.encode(frame, 0, packet, payload);
          const got = decoder.decode(payload.subarray(0, bytes), out);
          await deliver(out, got);
        }
      } finally {
        encoder.close();
        decoder.close();
      }
    },
  };
}

export interface FileScorerOptions {
  config: Readonly<Config>;
  modelDir: string;
  /** The narrowband model (config detect.narrowbandModelDir); empty or absent: modelDir serves every channel. */
  narrowbandModelDir?: string;
  log: Logger;
  /** Keep each window's embedding output (what features export publishes), e.g. for offline learning measurements. */
  embeddings?: boolean;
}

/** One DetectorSet shared by every file scored (files are separate streams; several may run at once). */
export class FileScorer {
  readonly #config: Readonly<Config>;
  readonly #log: Logger;
  readonly #detector: DetectorSet;
  readonly #runs = new Map<string, Run>();
  #next = 0;

  private constructor(config: Readonly<Config>, log: Logger, detector: DetectorSet) {
    this.#config = config;
    this.#log = log;
    this.#detector = detector;
  }

  static async create(opts: FileScorerOptions): Promise<FileScorer> {
    let self: FileScorer | undefined;
    const detector = await DetectorSet.create({
      detect: { ...opts.config.detect, maxQueueDelayMs: 24 * 3600 * 1000 },
      modelDir: opts.modelDir,
      narrowbandModelDir: opts.narrowbandModelDir,
      windowSec: opts.config.window.lengthSec,
      log: opts.log,
      embeddings: opts.embeddings ?? false,
      sink: {
        onScore: (s) => self!.#onScore(s),
        onShed: (stream) => {
          const r = self!.#runs.get(stream.streamId);
          if (r) r.shed++;
        },
        onStreamDrained: (stream) => self!.#runs.get(stream.streamId)?.drained(),
      },
    });
    self = new FileScorer(opts.config, opts.log, detector);
    return self;
  }

  get card(): Readonly<ModelCard> {
    return this.#detector.card;
  }

  /** The models serving, one per band that has its own. */
  get models(): { band: Band; card: Readonly<ModelCard> }[] {
    return this.#detector.models;
  }

  get executionProvider(): string {
    return this.#detector.executionProvider;
  }

  #onScore(s: WindowScore): void {
    const r = this.#runs.get(s.stream.streamId);
    if (!r) return;
    const u = r.verdict.update(s);
    r.windows.push({
      seq: s.seq,
      mediaStartSec: s.mediaStartSec,
      mediaEndSec: s.mediaEndSec,
      score: s.score,
      speechRatio: s.speechRatio,
      rmsDbfs: s.rmsDbfs,
      lostRatio: s.lostRatio,
      speech: s.speechRatio >= this.#config.verdict.minWindowSpeechRatio,
      label: u.label,
      modelVersion: s.modelVersion,
      ...(s.embedding ? { embedding: s.embedding } : {}),
    });
  }

  /** Scores one file; `tap` (e.g. the speaker window collector) sees every window the detector sees. */
  async scoreFile(path: string, channel: Channel, tap?: WindowSink): Promise<FileResult> {
    const { samples, sampleRate } = await readAudioFile(path);
    const packets = channelPath(samples, sampleRate, channel);
    const band = bandOf(packets.sampleRate);
    const card = this.#detector.cardFor(band);
    const id = `file-${this.#next++}`;
    const descriptor: StreamDescriptor = { streamId: id, callId: basename(path), leg: 'file', transport: 'file' };
    let drained!: () => void;
    const done = new Promise<void>((resolve) => (drained = resolve));
    const run: Run = { verdict: new StreamVerdict(this.#config.verdict, card.thresholds), windows: [], shed: 0, drained };
    this.#runs.set(id, run);
    const detector = this.#detector;
    try {
      const stream = new AudioStream({
        descriptor,
        inputRate: packets.sampleRate,
        outputRate: card.input.sampleRate,
        windowSec: card.input.windowSec,
        hopMs: this.#config.window.hopMs,
        speechThresholdDbfs: this.#config.window.speechThresholdDbfs,
        sink: tap ? new WindowFanOut([detector, tap], this.#log) : detector,
        log: this.#log,
      });
      let pos = 0;
      await packets.run(async (pcm, count) => {
        // Offline: wait for batch room rather than be shed (at most one window is cut per 20 ms packet).
        while (!detector.hasRoom) await detector.whenRoom();
        stream.write(pcm, 0, count, pos, nowMs());
        pos += count;
      });
      stream.end('eof');
      await done;
    } finally {
      this.#runs.delete(id);
    }
    const speech = run.windows.filter((w) => w.speech);
    const basis = speech.length > 0 ? speech : run.windows;
    const fileScore = basis.length > 0 ? basis.reduce((a, w) => a + w.score, 0) / basis.length : NaN;
    return {
      path,
      channel,
      sampleRate,
      durationSec: samples.length / sampleRate,
      windowSec: card.input.windowSec,
      windows: run.windows,
      // Same end-of-stream rule as the server: a file that never had enough speech ends insufficient_speech.
      verdict: { label: run.verdict.finish(), evidence: run.verdict.evidence },
      model: { name: card.name, version: card.version, band },
      fileScore,
      speechWindows: speech.length,
      shed: run.shed,
    };
  }

  close(): Promise<void> {
    return this.#detector.close();
  }
}
