/**
 * npm run bench:speaker-cost — what a leg costs with both models: the narrowband detector
 * (models/devox-phone-nb, every window: 4 per second at the 250-ms hop) and the speaker model
 * (models/devox-speaker, one speech window in speaker.everyNthWindow: 1 per second of speech at
 * the default 4), each on one onnxruntime thread, measured on real speech windows at the same
 * batch sizes, interleaved round by round so both see the same machine load. From the two it
 * derives the CPU per leg and the legs one core carries with and without the speaker model
 * (inference only; media, verdicts and events come on top: `npm run bench` / `npm run bench:speaker`
 * measure the whole path).
 *
 *   npm run bench:speaker-cost [-- --batches 1,8,32 --rounds 9 --every 4]
 */
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../src/config.js';
import { loadModel } from '../src/detect/model-registry.js';
import { readAudioFile } from '../src/media/audio-file.js';
import { resampleBuffer } from '../src/media/resampler.js';
import { loadSpeakerModel } from '../src/speaker/speaker-model.js';
import { benchArgs } from './args.js';

const USAGE = `usage: npm run bench:speaker-cost -- [options]

  --batches 1,8,32   batch sizes (default 1,8,32)
  --rounds N         interleaved rounds per batch size (default 9; the median is reported)
  --every N          speaker.everyNthWindow assumed for the per-leg figures (default 4)
  -h, --help`;

const v = benchArgs(USAGE, { batches: { type: 'string' }, rounds: { type: 'string' }, every: { type: 'string' } });
const batches = (v.batches ?? '1,8,32').split(',').map(Number);
const rounds = Number(v.rounds ?? '9');
const every = Number(v.every ?? '4');
const HOP_PER_SEC = 4;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const detector = await loadModel(resolve(projectRoot, 'models/devox-phone-nb'), { intraOpThreads: 1 });
  const speaker = await loadSpeakerModel(resolve(projectRoot, 'models/devox-speaker'), 1);
  const a = await readAudioFile(resolve(projectRoot, 'samples/genuine-librispeech.flac'));
  const x = a.sampleRate === 16000 ? a.samples : resampleBuffer(a.samples, a.sampleRate, 16000);
  const len = 16000;
  const maxB = Math.max(...batches);
  const input = new Float32Array(maxB * len);
  for (let r = 0; r < maxB; r++) input.set(x.subarray((r * 4000) % (x.length - len), ((r * 4000) % (x.length - len)) + len), r * len);
  console.log(
    `speaker cost bench: ${detector.card.name} ${detector.card.version} vs ${speaker.card.name} ${speaker.card.version}, 1 thread each, ` +
      `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join('/')}`,
  );
  const run = async (session: ort.InferenceSession, name: string, b: number): Promise<number> => {
    const t = new ort.Tensor('float32', input.subarray(0, b * len), [b, len]);
    const t0 = performance.now();
    const n = Math.max(3, Math.round(64 / b));
    for (let i = 0; i < n; i++) {
      const out = await session.run({ [name]: t });
      for (const k of Object.keys(out)) out[k]!.dispose();
    }
    return (performance.now() - t0) / (n * b);
  };
  for (const b of batches) {
    await run(detector.session, detector.card.input.name, b);
    await run(speaker.session, speaker.card.input.name, b);
    const d: number[] = [];
    const s: number[] = [];
    for (let r = 0; r < rounds; r++) {
      d.push(await run(detector.session, detector.card.input.name, b));
      s.push(await run(speaker.session, speaker.card.input.name, b));
    }
    const dm = median(d);
    const sm = median(s);
    const legDet = dm * HOP_PER_SEC;
    const legSpk = (sm * HOP_PER_SEC) / every;
    const r = {
      batch: b,
      detectorMsPerWindow: +dm.toFixed(3),
      speakerMsPerWindow: +sm.toFixed(3),
      detectorMsPerLegSecond: +legDet.toFixed(3),
      speakerMsPerLegSecond: +legSpk.toFixed(3),
      legsPerCoreDetectorOnly: Math.floor(1000 / legDet),
      legsPerCoreBoth: Math.floor(1000 / (legDet + legSpk)),
    };
    console.log(
      `batch ${String(b).padStart(2)}: detector ${r.detectorMsPerWindow} ms/window (${r.detectorMsPerLegSecond} ms per leg-second), ` +
        `speaker ${r.speakerMsPerWindow} ms/window (${r.speakerMsPerLegSecond} ms per leg-second of speech, 1 in ${every}) → ` +
        `inference legs per core: ${r.legsPerCoreDetectorOnly} detector only, ${r.legsPerCoreBoth} with the speaker model`,
    );
    console.log(JSON.stringify({ bench: 'speaker-cost', every, ...r }));
  }
  await detector.release();
  await speaker.session.release();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
