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

/** Why a file cannot be opened as audio, in words (ENOENT → "no such file"...). */
function readFailure(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not an audio file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return (err as Error).message;
  }
}

/**
 * Samples per channel a FLAC file's STREAMINFO announces (0: not stated), or undefined when the
 * bytes are not FLAC ("fLaC", then the mandatory STREAMINFO block: RFC 9639 8.2).
 */
export function flacTotalSamples(b: Uint8Array): number | undefined {
  if (b.length < 4 || b[0] !== 0x66 || b[1] !== 0x4c || b[2] !== 0x61 || b[3] !== 0x43) return undefined;
  if (b.length < 26 || (b[4]! & 0x7f) !== 0) return 0;
  // Bytes 18..25: sample rate (20 bits), channels - 1 (3), bits per sample - 1 (5), total samples (36).
  return (b[21]! & 0x0f) * 2 ** 32 + b[22]! * 2 ** 24 + (b[23]! << 16) + (b[24]! << 8) + b[25]!;
}

export async function readAudioFile(path: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AudioFileError(path, `cannot read audio file ${path}: ${readFailure(err)}`, { cause: err });
  }
  return decodeAudioBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Decodes the bytes of an audio file (`path` names it in errors: a path, or e.g. "request file 2"). */
export async function decodeAudioBytes(u8: Uint8Array, path: string): Promise<{ samples: Float32Array; sampleRate: number }> {
  if (u8.length === 0) throw new AudioFileError(path, `audio file ${path} is empty`);
  const flacTotal = flacTotalSamples(u8);
  let decoded: { channelData: Float32Array[]; sampleRate: number };
  try {
    decoded = decodeOggOpus(u8) ?? (await decode(u8));
  } catch (err) {
    const hint = flacTotal !== undefined ? ' (truncated or corrupt FLAC)' : '';
    throw new AudioFileError(path, `cannot decode audio file ${path}${hint}: ${(err as Error).message}`, { cause: err });
  }
  const channels = decoded.channelData;
  const decodedSamples = channels && channels.length > 0 ? Math.min(...channels.map((c) => c.length)) : 0;
  if (flacTotal !== undefined && (decodedSamples === 0 || decodedSamples < flacTotal)) {
    const stated = flacTotal > 0 ? ` of the ${flacTotal} its header announces` : '';
    throw new AudioFileError(path, `FLAC file ${path} is truncated or corrupt: ${decodedSamples} samples per channel decodable${stated}`);
  }
  if (!channels || channels.length === 0 || !(decoded.sampleRate > 0)) {
    throw new AudioFileError(path, `audio file ${path} has no audio channels (not an audio format DevoX reads, or truncated)`);
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
