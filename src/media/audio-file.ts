/**
 * Reads common audio files (wav, flac, mp3, ogg/vorbis...) with `audio-decode`
 * (pure JS/wasm decoders, no ffmpeg needed at runtime) and downmixes to mono float.
 * Ogg Opus is decoded by ogg-opus.ts instead, at the rate and with the trimming libsndfile uses (16 kHz for a
 * 16-kHz source), so the runtime reads the samples the Python trainer (soundfile) reads.
 */
import { readFile } from 'node:fs/promises';
import decode from 'audio-decode';
import { AudioFileError } from './errors.js';
import { decodeOggOpus } from './ogg-opus.js';

export async function readAudioFile(path: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AudioFileError(path, `cannot read audio file ${path}`, { cause: err });
  }
  let decoded: { channelData: Float32Array[]; sampleRate: number };
  try {
    const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    decoded = decodeOggOpus(u8) ?? (await decode(u8));
  } catch (err) {
    throw new AudioFileError(path, `cannot decode audio file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const channels = decoded.channelData;
  if (!channels || channels.length === 0 || !(decoded.sampleRate > 0)) {
    throw new AudioFileError(path, `audio file ${path} has no audio channels`);
  }
  return { samples: downmix(channels), sampleRate: decoded.sampleRate };
}

export function downmix(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const n = Math.min(...channels.map((c) => c.length));
  const out = new Float32Array(n);
  for (const c of channels) for (let i = 0; i < n; i++) out[i]! += c[i]!;
  const scale = 1 / channels.length;
  for (let i = 0; i < n; i++) out[i]! *= scale;
  return out;
}

/** Float [-1, 1] to int16 with clipping. */
export function floatToInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * 32767);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
