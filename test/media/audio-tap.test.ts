/**
 * Media's audio taps (listen-in's source) and the live Opus packetizer that feeds mediasoup:
 * a tapped stream hands its listener exactly the audio its windows hold, in media order with
 * lost packets as zeros; listeners come and go (several at once, a throwing one detached);
 * the stream's end reaches them; the packetizer makes decodable 20 ms Opus RTP packets with
 * continuous numbering and a timestamp jump (marker set) after a pause.
 */
import t from 'tap';
import { AudioStream } from '../../src/media/audio-stream.js';
import { AudioTaps, type AudioTapListener } from '../../src/media/audio-tap.js';
import { LiveOpusPacketizer } from '../../src/media/live-opus-packetizer.js';
import { OpusDecoder } from '../../src/media/opus.js';
import { parseRtpPacket, newRtpHeader } from '../../src/media/rtp-packet.js';
import type { StreamEndReason } from '../../src/media/types.js';
import { RecordingSink, rebuildAudio } from '../helpers/recording-sink.js';
import { descriptor } from './helpers.js';

function tone(freq: number, rate: number, n: number, amp = 8000): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return a;
}

class Collect implements AudioTapListener {
  readonly blocks: Float32Array[] = [];
  ended: StreamEndReason | undefined;
  onAudio(samples: Float32Array, offset: number, count: number): void {
    this.blocks.push(samples.slice(offset, offset + count));
  }
  onEnd(reason: StreamEndReason): void {
    this.ended = reason;
  }
  get audio(): Float32Array {
    const out = new Float32Array(this.blocks.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of this.blocks) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
}

function stream(taps: AudioTaps, sink = new RecordingSink(), id = 's1'): AudioStream {
  return new AudioStream({ descriptor: descriptor(id, 'rtp'), inputRate: 8000, outputRate: 16000, windowSec: 1, hopMs: 250, speechThresholdDbfs: -45, sink, taps });
}

t.test('a tapped stream hands its listener the audio its windows hold, gaps as zeros; nobody listens until tapped', async (t) => {
  const taps = new AudioTaps();
  const sink = new RecordingSink();
  const s = stream(taps, sink);
  t.equal(taps.size, 1, 'registered while it lives');
  t.same(taps.descriptor('s1'), s.descriptor);
  t.equal(taps.tap('nope', new Collect()), undefined, 'no such stream: no tap');
  const pcm = tone(440, 8000, 8000 * 3);
  s.write(pcm, 0, 8000, 0, 0); // 1 s before anyone listens
  const from = Math.round(s.mediaSec * 16000); // where the listener's audio starts
  const a = new Collect();
  const tap = taps.tap('s1', a)!;
  t.equal(tap.sampleRate, 16000, 'at the detector rate');
  t.equal(tap.descriptor.streamId, 's1');
  // 20 ms packets, one lost (a gap: zeros in place), then the rest.
  for (let pos = 8000; pos < pcm.length; pos += 160) if (pos !== 12000) s.write(pcm, pos, 160, pos, pos / 8);
  const heard = a.audio;
  const windows = rebuildAudio(sink.windowsOf('s1'));
  // What was heard is the windows' audio from the moment of the tap (the resampler's few samples of
  // look-ahead aside): the same samples, the lost packet as zeros.
  t.ok(heard.length > 16000 * 2 - 64 && heard.length <= 16000 * 2, `~2 s heard (${heard.length} samples)`);
  let maxDiff = 0;
  for (let i = 0; i < heard.length - 32; i++) maxDiff = Math.max(maxDiff, Math.abs(heard[i]! - windows[from + i]!));
  t.ok(maxDiff < 1e-6, `identical to the windows' audio (max diff ${maxDiff})`);
  t.equal(heard[(12000 + 80) * 2 - from], 0, 'the lost packet is silence');
  s.end('bye');
  t.equal(a.ended, 'bye', 'the end reaches the listener');
  t.equal(taps.size, 0, 'gone from the taps');
  tap.close(); // after the end: harmless
});

t.test('listeners come and go; a throwing one is detached and reported', async (t) => {
  const errors: string[] = [];
  const taps = new AudioTaps((err, id) => errors.push(`${id}: ${(err as Error).message}`));
  const s = stream(taps);
  const a = new Collect();
  const b = new Collect();
  const bad: AudioTapListener = {
    onAudio() {
      throw new Error('boom');
    },
    onEnd() {},
  };
  const ta = taps.tap('s1', a)!;
  taps.tap('s1', bad);
  const tb = taps.tap('s1', b)!;
  const pcm = tone(300, 8000, 1600);
  s.write(pcm, 0, 800, 0, 0);
  t.same(errors, ['s1: boom'], 'reported once');
  t.ok(a.blocks.length > 0 && b.blocks.length > 0, 'the others still hear');
  const nb = b.blocks.length;
  tb.close();
  tb.close();
  s.write(pcm, 800, 800, 800, 100);
  t.equal(b.blocks.length, nb, 'a closed tap hears nothing more');
  t.equal(errors.length, 1, 'the thrower was detached');
  ta.close();
  s.end('released');
  t.equal(a.ended, undefined, 'a closed tap is not told of the end');
});

t.test('live Opus packetizer: 20 ms packets, decodable, continuous, a jump after a pause', async (t) => {
  let now = 0;
  const packets: Buffer[] = [];
  const p = new LiveOpusPacketizer({ sampleRate: 16000, payloadType: 111, ssrc: 0xabcdef01, onPacket: (b) => packets.push(Buffer.from(b)), now: () => now });
  const src = Float32Array.from(tone(440, 16000, 16000), (v) => v / 32768);
  // Blocks of odd sizes, as a tap hands them over, at real-time pace.
  for (let i = 0; i < src.length; i += 250) {
    p.write(src, i, Math.min(250, src.length - i));
    now = (i / 16000) * 1000;
  }
  t.equal(packets.length, 50, '1 s: 50 packets');
  const h = newRtpHeader();
  const hs = packets.map((b) => (parseRtpPacket(b, b.length, h) === null ? { ...h } : undefined));
  t.ok(hs.every((x) => x !== undefined), 'every packet is valid RTP');
  t.ok(hs.every((x, i) => x!.payloadType === 111 && x!.ssrc === 0xabcdef01 && (i === 0 || (x!.sequence === ((hs[i - 1]!.sequence + 1) & 0xffff) && x!.timestamp === (hs[i - 1]!.timestamp + 960) >>> 0))), 'seq +1, timestamp +960 (48 kHz clock)');
  t.equal(hs[0]!.marker, true, 'first packet marked');
  const dec = new OpusDecoder(16000);
  const out = new Int16Array(5760);
  let energy = 0;
  let decoded = 0;
  for (const b of packets.slice(10)) {
    const n = dec.decode(b, 12, b.length - 12, out);
    decoded += n;
    for (let i = 0; i < n; i++) energy += (out[i]! / 32768) ** 2;
  }
  t.equal(decoded, 40 * 320, '320 samples (20 ms at 16 kHz) per packet');
  dec.close();
  const rms = Math.sqrt(energy / (40 * 320));
  t.ok(Math.abs(rms - 8000 / 32768 / Math.SQRT2) < 0.03, `decodes to the tone's level (${rms.toFixed(3)})`);
  // The leg pauses 1 s (no audio at all), then resumes: timestamps skip the pause.
  now += 1000;
  p.write(src, 0, 320);
  const last = packets.at(-1)!;
  t.equal(parseRtpPacket(last, last.length, h), null);
  t.equal(h.marker, true, 'marker after the pause');
  t.ok(h.timestamp - hs.at(-1)!.timestamp >= 960 * 45, `timestamp jumped (${h.timestamp - hs.at(-1)!.timestamp})`);
  p.close();
  p.write(src, 0, 320);
  t.equal(packets.length, 51, 'nothing after close');
  t.throws(() => new LiveOpusPacketizer({ sampleRate: 44100, payloadType: 111, ssrc: 1, onPacket: () => undefined }), /44100 Hz is not supported/);
});
