/**
 * Test helpers for the media path: real speech files from ../shared/data/speech, stream descriptors, and
 * alignment/SNR maths.
 */
import type { StreamDescriptor } from '../../src/media/types.js';
import { sharedSpeech } from '../helpers/shared-data.js';

/** Two short genuine recordings from the shared manifest (LibriSpeech 16 kHz, LJSpeech 22.05 kHz). */
export const SPEECH_16K = sharedSpeech('audio/bigcodec_demo/genuine/bonafide/libri-6829_129fb374e5.flac');
export const SPEECH_22K = sharedSpeech('audio/espnet_tts_sample/genuine/bonafide/lj_2ddba8eeea.flac');

export function descriptor(streamId: string, transport: StreamDescriptor['transport'] = 'rtp'): StreamDescriptor {
  return { streamId, callId: `call-${streamId}`, leg: 'caller', transport };
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
