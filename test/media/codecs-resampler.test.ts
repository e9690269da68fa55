import t from 'tap';
import alawmulaw from 'alawmulaw';
import { StreamResampler, resampleBuffer, RESAMPLER_MAX_CHUNK } from '../../src/media/resampler.js';
import { createDecoder, createEncoder, parseCodecName } from '../../src/media/codecs.js';
import { UnsupportedCodecError } from '../../src/media/errors.js';
import { readAudioFile, floatToInt16 } from '../../src/media/audio-file.js';
import { align, rms, SPEECH_16K } from './helpers.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

function tone(freq: number, rate: number, sec: number, amp = 0.5): Float32Array {
  const a = new Float32Array(Math.round(rate * sec));
  for (let i = 0; i < a.length; i++) a[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return a;
}
const db = (x: number): number => 20 * Math.log10(x);
/** RMS over the middle 80% (away from the zero-padded edges). */
const mid = (a: Float32Array): number => rms(a, Math.floor(a.length * 0.1), Math.floor(a.length * 0.9));

t.test('48k -> 16k: passband kept, content above the new Nyquist removed (no aliasing)', async (t) => {
  const pass = resampleBuffer(tone(1000, 48000, 1), 48000, 16000);
  t.equal(pass.length, 16000);
  t.ok(Math.abs(db(mid(pass) / (0.5 / Math.SQRT2))) < 0.1, '1 kHz within 0.1 dB');
  const ideal = tone(1000, 16000, 1);
  t.ok(align(ideal, pass, 4, 1600, 14400).corr > 0.9999, 'and in phase (lag 0)');
  t.equal(align(ideal, pass, 4, 1600, 14400).lag, 0);
  for (const f of [8500, 10000, 15000]) {
    const y = resampleBuffer(tone(f, 48000, 1), 48000, 16000);
    t.ok(db(mid(y) / (0.5 / Math.SQRT2)) < -60, `${f} Hz attenuated by > 60 dB (got ${db(mid(y) / 0.3536).toFixed(1)})`);
  }
});

t.test('48k -> 8k and 16k -> 8k: a tone above 4 kHz is attenuated', async (t) => {
  for (const [inRate, f] of [[48000, 5000], [16000, 4500], [16000, 6000]] as const) {
    const y = resampleBuffer(tone(f, inRate, 1), inRate, 8000);
    t.ok(db(mid(y) / 0.3536) < -60, `${inRate}->8000 ${f} Hz < -60 dB`);
  }
  const pass = resampleBuffer(tone(3000, 16000, 1), 16000, 8000);
  t.ok(Math.abs(db(mid(pass) / 0.3536)) < 0.2, '3 kHz kept going to 8 kHz');
});

t.test('8k -> 16k: images above 4 kHz rejected, passband kept', async (t) => {
  const y = resampleBuffer(tone(1000, 8000, 1), 8000, 16000);
  t.ok(Math.abs(db(mid(y) / 0.3536)) < 0.1, '1 kHz level kept');
  // Residual after removing the ideal 1 kHz tone is the image at 7 kHz.
  const ideal = tone(1000, 16000, 1);
  const r = align(ideal, y, 2, 1600, 14400);
  t.equal(r.lag, 0);
  t.ok(r.snrDb > 50, `image/residual below -50 dB (SNR ${r.snrDb.toFixed(1)} dB)`);
});

t.test('streaming in odd chunks equals whole-buffer resampling', async (t) => {
  const x = tone(440, 44100, 0.5);
  const whole = resampleBuffer(x, 44100, 16000);
  const rs = new StreamResampler(44100, 16000);
  const out = new Float32Array(whole.length + 100);
  const buf = new Float32Array(rs.maxOutput(RESAMPLER_MAX_CHUNK));
  let k = 0;
  const pcm = x;
  for (let i = 0, step = 1; i < pcm.length; i += step, step = (step * 7 + 3) % 1999 + 1) {
    const n = Math.min(step, pcm.length - i);
    rs.pushFloat(pcm, i, n);
    const m = rs.pull(buf, 0);
    out.set(buf.subarray(0, m), k);
    k += m;
  }
  let maxDiff = 0;
  for (let i = 0; i < k && i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - whole[i]!));
  t.ok(k > whole.length - 40, 'all but the look-ahead produced');
  t.ok(maxDiff < 1e-6, `identical (max diff ${maxDiff})`);
});

t.test('G.711 tables match the alawmulaw reference exactly', async (t) => {
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  for (const [codec, ref] of [['PCMU', alawmulaw.mulaw], ['PCMA', alawmulaw.alaw]] as const) {
    const enc = createEncoder(codec);
    const bytes = new Uint8Array(65536);
    t.equal(enc.encode(pcm, 0, 65536, bytes), 65536);
    const expected = ref.encode(pcm);
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (bytes[i] !== expected[i]) mismatches++;
    t.equal(mismatches, 0, `${codec} encode: all 65536 int16 values`);
    const dec = createDecoder({ encoding: codec, clockRate: 8000, channels: 1 });
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const out = new Int16Array(256);
    t.equal(dec.decode(all, out), 256);
    t.same(out, ref.decode(all), `${codec} decode`);
  }
});

t.test('L16 is big-endian and stereo is downmixed', async (t) => {
  const mono = createDecoder({ encoding: 'L16', clockRate: 16000, channels: 1 });
  const out = new Int16Array(4);
  t.equal(mono.decode(Uint8Array.from([0x01, 0x02, 0xff, 0xfe]), out), 2);
  t.same(Array.from(out.subarray(0, 2)), [0x0102, -2]);
  const stereo = createDecoder({ encoding: 'L16', clockRate: 44100, channels: 2 });
  t.equal(stereo.decode(Uint8Array.from([0x00, 100, 0x00, 200, 0xff, 0x9c, 0xff, 0x38]), out), 2);
  t.same(Array.from(out.subarray(0, 2)), [150, -150]);
  const enc = createEncoder('L16');
  const bytes = new Uint8Array(4);
  enc.encode(Int16Array.from([0x0102, -2]), 0, 2, bytes);
  t.same(Array.from(bytes), [0x01, 0x02, 0xff, 0xfe]);
});

t.test('Opus round trip on real speech (libopus via opusscript), many instances', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const src = await readAudioFile(SPEECH_16K);
  const x48 = floatToInt16(resampleBuffer(src.samples, src.sampleRate, 48000));
  // Many live codec instances grow the wasm heap; older ones must keep working.
  const crowd = Array.from({ length: 300 }, () => createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2 }));
  const enc = createEncoder('opus');
  const dec = crowd[0]!;
  const decoded = new Float32Array(x48.length);
  const pkt = new Uint8Array(4000);
  const pcm = new Int16Array(5760);
  for (let off = 0; off + 960 <= x48.length; off += 960) {
    const len = enc.encode(x48, off, 960, pkt);
    const n = dec.decode(pkt.subarray(0, len), pcm);
    if (n !== 960) t.fail(`decoded ${n} samples`);
    for (let i = 0; i < n; i++) decoded[off + i] = pcm[i]! / 32768;
  }
  const ref = Float32Array.from(x48, (v) => v / 32768);
  const r = align(ref, decoded, 600, 4800, ref.length - 4800);
  t.ok(r.corr > 0.9, `corr ${r.corr.toFixed(3)} (lag ${r.lag})`);
  t.throws(() => dec.decode(Uint8Array.from([0xff, 0xff, 0xff]), pcm), { name: 'OpusCodecError' });
  for (const d of crowd) d.close();
  enc.close();
  dec.close(); // idempotent
});

t.test('Opus decodes straight to 16 kHz (libopus band-limits) when asked', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const src = await readAudioFile(SPEECH_16K);
  const x48 = floatToInt16(resampleBuffer(src.samples, src.sampleRate, 48000));
  const enc = createEncoder('opus');
  const dec = createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2 }, { sampleRate: 16000 });
  t.equal(dec.sampleRate, 16000);
  const out = new Float32Array(Math.floor(x48.length / 3));
  const pkt = new Uint8Array(4000);
  const pcm = new Int16Array(5760);
  let k = 0;
  for (let off = 0; off + 960 <= x48.length; off += 960) {
    const n = dec.decode(pkt.subarray(0, enc.encode(x48, off, 960, pkt)), pcm);
    if (n !== 320) t.fail(`decoded ${n} samples at 16 kHz`);
    for (let i = 0; i < n; i++) out[k++] = pcm[i]! / 32768;
  }
  const r = align(src.samples, out, 300, 1600, k - 1600);
  t.ok(r.corr > 0.9, `corr ${r.corr.toFixed(3)} against the 16 kHz source (lag ${r.lag})`);
  t.throws(() => createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2 }, { sampleRate: 44100 }), UnsupportedCodecError);
  enc.close();
  dec.close();
});

t.test('unsupported codecs are named errors', async (t) => {
  t.throws(() => parseCodecName('g729'), UnsupportedCodecError);
  t.throws(() => createDecoder({ encoding: 'telephone-event', clockRate: 8000, channels: 1 }), UnsupportedCodecError);
});

t.test('readAudioFile: a stereo 16-bit wav is downmixed to mono; bad files are named errors', async (t) => {
  const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'devox-media-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rate = 22050;
  const frames = 2205;
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    data.writeInt16LE(10000, 4 * i); // left
    data.writeInt16LE(-2000, 4 * i + 2); // right
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(2, 22); // stereo
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  const wav = join(dir, 'stereo.wav');
  await writeFile(wav, Buffer.concat([header, data]));
  const r = await readAudioFile(wav);
  t.equal(r.sampleRate, rate);
  t.equal(r.samples.length, frames);
  t.ok(Math.abs(r.samples[100]! - (10000 - 2000) / 2 / 32768) < 1e-4, `mono = mean of channels (${r.samples[100]})`);
  await t.rejects(readAudioFile(join(dir, 'missing.wav')), { name: 'AudioFileError', message: /cannot read/ });
  const junk = join(dir, 'junk.wav');
  await writeFile(junk, 'not audio at all');
  await t.rejects(readAudioFile(junk), { name: 'AudioFileError', message: /cannot decode/ });
});
