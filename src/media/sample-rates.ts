/**
 * The input sample rates media accepts from a transport (SDP L16/<rate>, Telnyx
 * media_format.sample_rate, audio-fork sampleRate, POST /streams clockRate). Each pair
 * with the detector's rate has a small resampler design (at most a few hundred phases);
 * an arbitrary rate such as 47999 Hz would need 16000 phases and ~16 MiB of coefficients,
 * designed on the event loop. Files go through the resampler's own size bound instead.
 */
import { UnsupportedSampleRateError } from './errors.js';

export const SUPPORTED_SAMPLE_RATES: readonly number[] = Object.freeze([8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]);

export function isSupportedSampleRate(rate: number): boolean {
  return SUPPORTED_SAMPLE_RATES.includes(rate);
}

/** Throws UnsupportedSampleRateError naming the rate and `what` carries it (e.g. 'L16'). */
export function assertSupportedSampleRate(rate: number, what: string): void {
  if (!isSupportedSampleRate(rate)) throw new UnsupportedSampleRateError(what, rate, SUPPORTED_SAMPLE_RATES);
}
