/**
 * readAudioFile on Ogg Opus (src/media/ogg-opus.ts) reads what the Python trainer reads with soundfile
 * (libsndfile + libopus): same rate, same length, same samples (int16 vs float decode: ~1.5e-5), for the
 * shared corpus' opus64k files and for files libsndfile writes at each Opus rate, mono and stereo.
 * Truncated and corrupt files are AudioFileErrors that say what is wrong.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readAudioFile } from '../../src/media/audio-file.js';
import { python } from '../training/python.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';

const CORPUS = [
  'audio/rtvc_demo/genuine/bonafide/rtvc-src2_5934b12529.opus',
  'audio/rtvc_demo/genuine/bonafide/vctk-p334_0dc8104429.opus',
  'audio/rtvc_demo/synthetic/streamvc/vctk-p334_0f1cd3bf3a.opus',
  'audio/rtvc_demo/synthetic/rt-vc/vctk-p334_7f49e7f888.opus',
];
/** A synthetic file whose float decode exceeds full scale once (see the soft-clip test). */
const OVER_FULL_SCALE = 'audio/speechresearch_demo/synthetic/yourtts/ns2-libri-case1_90447fe679.opus';

/** soundfile.read of each file, downmixed like training (mean over channels), as float32 arrays. */
async function soundfileRead(dir: string, files: string[]): Promise<Array<{ sampleRate: number; samples: Float32Array }>> {
  const script = `
import sys, json, numpy as np, soundfile as sf
out = []
for i, f in enumerate(sys.argv[2:]):
    x, sr = sf.read(f, dtype='float32', always_2d=True)
    x.mean(axis=1).astype(np.float32).tofile(f'{sys.argv[1]}/py{i}.f32')
    out.append(sr)
print(json.dumps(out))`;
  const r = await python(['-c', script, dir, ...files]);
  if (r.code !== 0) throw new Error(`soundfile read failed: ${r.stderr.slice(-1000)}`);
  const rates = JSON.parse(r.stdout) as number[];
  return Promise.all(rates.map(async (sampleRate, i) => {
    const b = await readFile(join(dir, `py${i}.f32`));
    return { sampleRate, samples: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
  }));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'devox-oggopus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes Ogg Opus files with libsndfile (soundfile): [rate, channels, frames] each; returns their paths. */
async function writeOpus(dir: string, specs: Array<[number, number, number]>): Promise<string[]> {
  const script = `
import sys, json, numpy as np, soundfile as sf
rng = np.random.default_rng(7)
for sr, ch, n in json.loads(sys.argv[2]):
    t = np.arange(n) / sr
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n), 0.3 * np.sin(2 * np.pi * 300 * t)][:ch], axis=1)
    sf.write(f'{sys.argv[1]}/gen_{sr}_{ch}_{n}.opus', x, sr, format='OGG', subtype='OPUS')`;
  const r = await python(['-c', script, dir, JSON.stringify(specs)]);
  if (r.code !== 0) throw new Error(`soundfile write failed: ${r.stderr.slice(-1000)}`);
  return specs.map(([sr, ch, n]) => join(dir, `gen_${sr}_${ch}_${n}.opus`));
}

t.test('corpus opus64k files: readAudioFile = soundfile (16 kHz, same length, samples within 1e-3)', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const dir = await tmp(t);
  const files = CORPUS.map((p) => sharedSpeech(p));
  const py = await soundfileRead(dir, files);
  for (const [i, f] of files.entries()) {
    const ts = await readAudioFile(f);
    t.equal(py[i]!.sampleRate, 16000, `${CORPUS[i]}: soundfile reads 16 kHz`);
    t.equal(ts.sampleRate, 16000, `${CORPUS[i]}: readAudioFile reads 16 kHz`);
    t.equal(ts.samples.length, py[i]!.samples.length, `${CORPUS[i]}: ${py[i]!.samples.length} samples on both sides`);
    const d = maxDiff(ts.samples, py[i]!.samples);
    t.ok(d < 1e-3, `${CORPUS[i]}: max |ts - py| = ${d.toExponential(2)}`);
  }
});

t.test('libsndfile-written Ogg Opus at each Opus rate, mono and stereo: same rate, length and samples', async (t) => {
  const dir = await tmp(t);
  const specs: Array<[number, number, number]> = [[48000, 2, 96123], [24000, 2, 30011], [16000, 1, 16000], [12000, 1, 7777], [8000, 2, 9001], [16000, 1, 50]];
  const files = await writeOpus(dir, specs);
  const py = await soundfileRead(dir, files);
  for (const [i, f] of files.entries()) {
    const [rate, ch, n] = specs[i]!;
    const ts = await readAudioFile(f);
    t.equal(ts.sampleRate, rate, `${rate} Hz x${ch}: rate`);
    t.equal(ts.samples.length, n, `${rate} Hz x${ch}: ${n} samples`);
    t.equal(py[i]!.samples.length, n, `${rate} Hz x${ch}: soundfile reads ${n} samples too`);
    const d = maxDiff(ts.samples, py[i]!.samples);
    t.ok(d < 1e-3, `${rate} Hz x${ch}: max |ts - py| = ${d.toExponential(2)}`);
  }
});

t.test('a decode beyond full scale: libopus int16 soft-clips it, only next to that peak', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  // opusscript only exposes opus_decode (int16), which soft-clips an excursion beyond +-1 over the few samples
  // around it; libsndfile's opus_multistream_decode_float leaves it. Everywhere else the samples agree.
  const dir = await tmp(t);
  const [py] = await soundfileRead(dir, [sharedSpeech(OVER_FULL_SCALE)]);
  const ts = await readAudioFile(sharedSpeech(OVER_FULL_SCALE));
  t.equal(ts.samples.length, py!.samples.length, 'same length');
  const over = [...py!.samples.keys()].filter((i) => Math.abs(py!.samples[i]!) > 1);
  t.ok(over.length > 0, `soundfile's float decode exceeds full scale at ${over.length} sample(s)`);
  const far = [...ts.samples.keys()].filter((i) => Math.abs(ts.samples[i]! - py!.samples[i]!) > 1e-4 && !over.some((j) => Math.abs(i - j) <= 64));
  t.same(far, [], 'samples more than 64 from such a peak agree within 1e-4');
});

t.test('truncated or corrupt Ogg Opus files are clear AudioFileErrors', async (t) => {
  const dir = await tmp(t);
  const [good] = await writeOpus(dir, [[16000, 1, 48000]]);
  const bytes = await readFile(good!);
  const pages: number[] = [];
  for (let i = bytes.indexOf('OggS'); i >= 0; i = bytes.indexOf('OggS', i + 1)) pages.push(i);
  t.ok(pages.length > 3, `${pages.length} Ogg pages`);

  const cut = join(dir, 'cut.opus');
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await t.rejects(readAudioFile(cut), { name: 'AudioFileError', message: /cannot decode audio file .*cut\.opus: truncated Ogg page/ }, 'cut mid-page');

  const headersOnly = join(dir, 'headers.opus');
  await writeFile(headersOnly, bytes.subarray(0, pages[2]));
  await t.rejects(readAudioFile(headersOnly), { name: 'AudioFileError', message: /no audio packets/ }, 'headers only');

  const flipped = Buffer.from(bytes);
  flipped[pages[3]! - 10]! ^= 0x55;
  const bad = join(dir, 'bad.opus');
  await writeFile(bad, flipped);
  await t.rejects(readAudioFile(bad), { name: 'AudioFileError', message: /bad Ogg page checksum/ }, 'a flipped byte');

  const dropped = join(dir, 'dropped.opus');
  await writeFile(dropped, Buffer.concat([bytes.subarray(0, pages[2]), bytes.subarray(pages[3])]));
  await t.rejects(readAudioFile(dropped), { name: 'AudioFileError', message: /missing Ogg page/ }, 'a page left out');

  const headCut = join(dir, 'headcut.opus');
  await writeFile(headCut, bytes.subarray(0, 40));
  await t.rejects(readAudioFile(headCut), { name: 'AudioFileError', message: /truncated Ogg page/ }, 'cut inside the OpusHead page');
});
