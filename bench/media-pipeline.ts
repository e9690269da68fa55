/**
 * Socket-free cost of the per-packet media path (parse -> reorder -> G.711 decode ->
 * 8k->16k resample -> ring -> 1 s windows every 250 ms, each copied out like the detector
 * does), in CPU time. Complements bench/media.ts, whose figure also includes dgram.
 *
 *   npx tsx bench/media-pipeline.ts [streams=200] [seconds-of-audio-per-stream=12] [pcmu|pcma|opus|l16]
 */
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AudioStream } from '../src/media/audio-stream.js';
import { RtpReceiver } from '../src/media/rtp-receiver.js';
import { packetize } from '../src/media/rtp-sender.js';
import { readAudioFile } from '../src/media/audio-file.js';
import { defaultPayloadFormat, opusDecodeRate, parseCodecName } from '../src/media/codecs.js';
import type { WindowSink, WindowView } from '../src/media/types.js';
import { exitOnHelp } from './args.js';

exitOnHelp('usage: npx tsx bench/media-pipeline.ts [streams=200] [seconds-of-audio-per-stream=12] [pcmu|pcma|opus|l16]');

const here = dirname(fileURLToPath(import.meta.url));
const audio = await readAudioFile(resolve(here, '../../shared/data/speech/audio/bigcodec_demo/genuine/bonafide/libri-6829_129fb374e5.flac'));
const N = Number(process.argv[2] ?? 200);
const SECONDS = Number(process.argv[3] ?? 12);
const codec = parseCodecName(process.argv[4] ?? 'pcmu');
const format = defaultPayloadFormat(codec);
const { packets, samplesPerPacket } = packetize(audio.samples, audio.sampleRate, { codec });
const row = new Float32Array(16000);
let windows = 0;
const sink: WindowSink = { onStreamStart() {}, onStreamEnd() {}, onWindow(w: WindowView) { w.copyInto(row, 0); windows++; } };
const scratch = new Int16Array(5760);
const receivers = Array.from({ length: N }, (_, i) => new RtpReceiver({
  audio: new AudioStream({ descriptor: { streamId: `s${i}`, callId: 'c', leg: 'caller', transport: 'rtp' }, inputRate: codec === 'opus' ? opusDecodeRate(16000) : format.clockRate, outputRate: 16000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink }),
  formats: [format], reorderDepthPackets: 3, maxSequenceJump: 3000, scratch,
}));
const total = SECONDS * 50;
// One datagram-like Buffer per packet per stream, made before timing (dgram allocates these itself).
const datagrams = Array.from({ length: total }, (_, k) => {
  const b = Buffer.from(packets[k % packets.length]!.data);
  b[2] = (k >> 8) & 0xff; b[3] = k & 0xff;
  const ts = k * samplesPerPacket; b[4] = ts >>> 24; b[5] = (ts >>> 16) & 0xff; b[6] = (ts >>> 8) & 0xff; b[7] = ts & 0xff;
  return b;
});
const c0 = process.cpuUsage();
for (let k = 0; k < total; k++) {
  const d = datagrams[k]!;
  for (let i = 0; i < N; i++) receivers[i]!.onPacket(d, d.length, 0);
}
const cu = process.cpuUsage(c0);
const cpuUs = cu.user + cu.system;
const perStreamSecond = cpuUs / (N * SECONDS);
console.log(`${N} streams x ${SECONDS} s ${codec}: ${(cpuUs / (N * total)).toFixed(2)} us CPU per packet, ${windows} windows, ` +
  `${perStreamSecond.toFixed(0)} us CPU per stream-second => ~${Math.floor(1e6 / perStreamSecond)} streams per core (pipeline only, no sockets)`);
