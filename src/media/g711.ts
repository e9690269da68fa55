/**
 * G.711 μ-law / A-law lookup tables, built once from `alawmulaw` (the reference
 * implementation we depend on) so the per-packet path is a table index per byte.
 * Decode: 256 entries each. Encode: one entry per int16 value (64 KiB each), built
 * lazily the first time an encoder is created (only `devox send` and eval need them).
 * The tables are immutable after construction.
 */
import alawmulaw from 'alawmulaw';

function buildDecodeTable(decodeSample: (b: number) => number): Int16Array {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) t[b] = decodeSample(b);
  return t;
}

function buildEncodeTable(encodeSample: (s: number) => number): Uint8Array {
  const t = new Uint8Array(65536);
  for (let s = -32768; s < 32768; s++) t[s & 0xffff] = encodeSample(s);
  return t;
}

export const MULAW_DECODE: Readonly<Int16Array> = buildDecodeTable(alawmulaw.mulaw.decodeSample);
export const ALAW_DECODE: Readonly<Int16Array> = buildDecodeTable(alawmulaw.alaw.decodeSample);

let mulawEncode: Uint8Array | undefined;
let alawEncode: Uint8Array | undefined;

/** Indexed by `sample & 0xffff` (int16 as unsigned). */
export function mulawEncodeTable(): Readonly<Uint8Array> {
  mulawEncode ??= buildEncodeTable(alawmulaw.mulaw.encodeSample);
  return mulawEncode;
}

/** Indexed by `sample & 0xffff` (int16 as unsigned). */
export function alawEncodeTable(): Readonly<Uint8Array> {
  alawEncode ??= buildEncodeTable(alawmulaw.alaw.encodeSample);
  return alawEncode;
}
