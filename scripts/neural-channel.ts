/**
 * Neural phone-channel processing for training copies (training/devoxtrain/channel.py calls it):
 * 16 kHz mono s16le on stdin → the same length of 16 kHz mono s16le on stdout.
 *
 *   --mode lace|nolace|opus --kbps N   Opus (libopus from `opusscript`, VOIP, 20-ms frames) decoded by
 *                                      libopus 1.5 with LACE / NoLACE speech enhancement, or plainly
 *                                      (`@wasm-audio-decoders/opus-ml`). The enhancement acts on 16-kHz
 *                                      SILK frames: measured here at 12 and 16 kbps; at 6–9 kbps the encoder
 *                                      codes 8-kHz SILK and the output equals plain decoding.
 *   --mode rnnoise                     RNNoise denoising (`@jitsi/rnnoise-wasm`, 48 kHz 10-ms frames),
 *                                      as a softphone or contact-centre agent applies it before the call leg.
 *
 * A tool for the training pipeline, not part of the runtime.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { OpusMLDecoder } from '@wasm-audio-decoders/opus-ml';
import createRNNWasmModuleSync from '@jitsi/rnnoise-wasm/dist/rnnoise-sync.js';

const require = createRequire(import.meta.url);
const OpusScript = require('opusscript') as typeof import('opusscript');

const SR = 16000;
const FRAME = 320; // 20 ms at 16 kHz
// Delays in 16-kHz samples, removed so each copy lines up with the clean audio (measured by cross-correlation
// on speech: Opus's 6.5-ms lookahead; RNNoise's two 10-ms frames of 48-kHz analysis).
const OPUS_DELAY = 104;
const RNNOISE_DELAY = 320;

/** x followed by `delay` zeros: the processed copy is then cut back to x's length after the delay. */
function padded(x: Int16Array, delay: number): Int16Array {
  const y = new Int16Array(x.length + delay);
  y.set(x);
  return y;
}

function opusChannel(x: Int16Array, kbps: number, mode: 'none' | 'lace' | 'nolace'): Promise<Int16Array> {
  const enc = new OpusScript(SR, 1, OpusScript.Application.VOIP);
  enc.setBitrate(kbps * 1000);
  const dec = new OpusMLDecoder({ speechQualityEnhancement: mode, sampleRate: SR, channels: 1, streamCount: 1, coupledStreamCount: 0, channelMappingTable: [0] });
  return dec.ready.then(() => {
    const out = new Int16Array(x.length);
    const frame = new Int16Array(FRAME);
    let at = 0;
    for (let i = 0; i < x.length; i += FRAME) {
      frame.fill(0);
      frame.set(x.subarray(i, Math.min(i + FRAME, x.length)));
      const pkt = enc.encode(Buffer.from(frame.buffer), FRAME);
      const r = dec.decodeFrame(new Uint8Array(pkt));
      if (r.errors.length > 0) throw new Error(`opus decode: ${r.errors[0]!.message}`);
      const pcm = r.channelData[0]!;
      for (let k = 0; k < r.samplesDecoded && at < out.length; k++) out[at++] = Math.max(-32768, Math.min(32767, Math.round(pcm[k]! * 32768)));
    }
    dec.free();
    enc.delete();
    return out;
  });
}

async function rnnoiseChannel(x: Int16Array): Promise<Int16Array> {
  // 16 kHz → 48 kHz by 3× linear interpolation is enough here: RNNoise reads bands up to 20 kHz,
  // and the result goes back to 16 kHz by averaging each 3 samples (speech above 8 kHz is absent).
  const m = createRNNWasmModuleSync();
  await m.ready;
  const st = m._rnnoise_create();
  const n48 = 480;
  const ptr = m._malloc(n48 * 4);
  const out = new Int16Array(x.length);
  const per = n48 / 3; // 160 input samples per frame
  for (let i = 0; i < x.length; i += per) {
    const buf = new Float32Array(m.HEAPF32.buffer, ptr, n48);
    for (let k = 0; k < n48; k++) {
      const p = i + k / 3;
      const a = x[Math.min(Math.floor(p), x.length - 1)] ?? 0;
      const b = x[Math.min(Math.floor(p) + 1, x.length - 1)] ?? 0;
      buf[k] = a + (b - a) * (p - Math.floor(p));
    }
    m._rnnoise_process_frame(st, ptr, ptr);
    const res = new Float32Array(m.HEAPF32.buffer, ptr, n48);
    for (let k = 0; k < per && i + k < x.length; k++) {
      const v = (res[3 * k]! + res[3 * k + 1]! + res[3 * k + 2]!) / 3;
      out[i + k] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
  }
  m._free(ptr);
  m._rnnoise_destroy(st);
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mode: { type: 'string' }, kbps: { type: 'string', default: '12' } }, strict: true });
  const input = readFileSync(0);
  const x = new Int16Array(input.buffer, input.byteOffset, input.byteLength >> 1);
  const mode = values.mode;
  let y: Int16Array;
  if (mode === 'rnnoise') y = (await rnnoiseChannel(padded(x, RNNOISE_DELAY))).subarray(RNNOISE_DELAY);
  else if (mode === 'lace' || mode === 'nolace' || mode === 'opus') {
    const kbps = Number(values.kbps);
    if (!(kbps >= 6 && kbps <= 64)) throw new Error(`--kbps must be 6..64, not ${String(values.kbps)}`);
    y = (await opusChannel(padded(x, OPUS_DELAY), kbps, mode === 'opus' ? 'none' : mode)).subarray(OPUS_DELAY);
  } else throw new Error(`--mode must be lace, nolace, opus or rnnoise, not ${String(mode)}`);
  process.stdout.write(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

main().catch((err: unknown) => {
  process.stderr.write(`neural-channel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
