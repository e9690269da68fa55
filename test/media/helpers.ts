/**
 * Test helpers for the media path: real speech files from ../shared/data/speech, a
 * WindowSink that records every window (tests may allocate), and alignment/SNR maths.
 */
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';
import type { StreamDescriptor, StreamEndReason, WindowSink, WindowView } from '../../src/media/types.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const speechDir = resolve(repoRoot, '..', 'shared', 'data', 'speech');

/** Two short genuine recordings from the shared manifest (LibriSpeech 16 kHz, LJSpeech 22.05 kHz). */
export const SPEECH_16K = resolve(speechDir, 'audio/bigcodec_demo/genuine/bonafide/libri-6829_129fb374e5.flac');
export const SPEECH_22K = resolve(speechDir, 'audio/espnet_tts_sample/genuine/bonafide/lj_2ddba8eeea.flac');

export interface RecordedWindow {
  seq: number;
  mediaStartSec: number;
  mediaEndSec: number;
  arrivalMs: number;
  readyMs: number;
  speechRatio: number;
  rmsDbfs: number;
  lostRatio: number;
  length: number;
  sampleRate: number;
  audio: Float32Array;
}

/** Records every window (copying its audio) and the start/end events, per stream. */
export class RecordingSink implements WindowSink {
  readonly started: string[] = [];
  readonly ended = new Map<string, StreamEndReason>();
  readonly windows = new Map<string, RecordedWindow[]>();
  #waiters: Array<() => void> = [];

  onStreamStart(stream: StreamDescriptor): void {
    this.started.push(stream.streamId);
    this.windows.set(stream.streamId, []);
  }
  onWindow(w: WindowView): void {
    const audio = new Float32Array(w.length);
    w.copyInto(audio, 0);
    this.windows.get(w.stream.streamId)!.push({
      seq: w.seq, mediaStartSec: w.mediaStartSec, mediaEndSec: w.mediaEndSec, arrivalMs: w.arrivalMs,
      readyMs: w.readyMs, speechRatio: w.speechRatio, rmsDbfs: w.rmsDbfs, lostRatio: w.lostRatio,
      length: w.length, sampleRate: w.sampleRate, audio,
    });
    this.#wake();
  }
  onStreamEnd(stream: StreamDescriptor, reason: StreamEndReason): void {
    this.ended.set(stream.streamId, reason);
    this.#wake();
  }
  /** Resolves when pred() holds (checked on each event), or rejects after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs = 10000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('waitFor: timed out')), timeoutMs);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          res();
        } else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  /** The stream's audio timeline rebuilt from its windows (windows overlap; later ones win). */
  timeline(streamId: string): Float32Array {
    const ws = this.windows.get(streamId) ?? [];
    if (ws.length === 0) return new Float32Array(0);
    const rate = ws[0]!.sampleRate;
    const total = Math.round(ws[ws.length - 1]!.mediaEndSec * rate);
    const out = new Float32Array(total);
    for (const w of ws) out.set(w.audio, Math.round(w.mediaStartSec * rate));
    return out;
  }
}

export function descriptor(streamId: string, transport: StreamDescriptor['transport'] = 'rtp'): StreamDescriptor {
  return { streamId, callId: `call-${streamId}`, leg: 'caller', transport };
}

/** A pino logger that keeps records in memory so tests can assert "logged once per kind". */
export function memoryLogger(): { log: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const stream = { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) };
  return { log: pino({ level: 'debug' }, stream), records };
}

/**
 * Best alignment of `got` against `ref` (got[i + lag] ~ ref[i]) within +-maxLag, over
 * the reference span [from, to). Returns the lag, normalized correlation and the SNR (dB)
 * after least-squares gain.
 */
export function align(ref: Float32Array, got: Float32Array, maxLag: number, from = 0, to = ref.length): { lag: number; corr: number; snrDb: number } {
  let best = { lag: 0, corr: -2 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = from; i < to; i++) {
      const j = i + lag;
      if (j < 0 || j >= got.length) continue;
      const x = ref[i]!, y = got[j]!;
      sxy += x * y; sxx += x * x; syy += y * y;
    }
    const c = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
    if (c > best.corr) best = { lag, corr: c };
  }
  let sxy = 0, sxx = 0;
  for (let i = from; i < to; i++) {
    const j = i + best.lag;
    if (j < 0 || j >= got.length) continue;
    sxy += ref[i]! * got[j]!; sxx += ref[i]! * ref[i]!;
  }
  const gain = sxx > 0 ? sxy / sxx : 0;
  let sig = 0, err = 0;
  for (let i = from; i < to; i++) {
    const j = i + best.lag;
    if (j < 0 || j >= got.length) continue;
    const s = gain * ref[i]!;
    sig += s * s;
    err += (got[j]! - s) ** 2;
  }
  return { lag: best.lag, corr: best.corr, snrDb: 10 * Math.log10(sig / Math.max(err, 1e-20)) };
}

export function rms(a: Float32Array, from = 0, to = a.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

/** Polls pred every 5 ms until it holds; rejects after timeoutMs (a safety net, not a timing assertion). */
export async function until(pred: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`until: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
