/**
 * TypeScript runtime vs Python: `devox analyze --json` (audio-decode -> int16 stream -> AudioStream windows ->
 * onnxruntime-node) and `python3 training/parity.py` (soundfile -> the same 1-s / 250-ms windowing ->
 * onnxruntime) score the demo samples with the shipped model; window starts must agree exactly and scores within 1e-4,
 * wideband and through G.711 (the runtime's 16 -> 8 kHz resampler, G.711 encode/decode, its 8 -> 16 kHz resampler, in
 * TypeScript; training/devoxtrain/channel.py's g711_channel, with resample.py's port of that resampler, in Python).
 * The G.711 rows are what makes the card's G.711 EERs the runtime's G.711 EERs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot, python } from './python.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';

const MODEL = join(projectRoot, 'models/devox-phone');
const FILES = ['samples/genuine-librispeech.flac', 'samples/synthetic-ljspeech-espnet.flac'];
const TOL = 1e-4;

function devox(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/cli.ts'), ...args],
      { cwd: projectRoot, maxBuffer: 32 << 20, timeout: 110_000, env: { ...process.env, DEVOX_CONFIG: '' } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

interface TsWindow { seq: number; mediaStartSec: number; mediaEndSec: number; score: number; speechRatio: number; speech: boolean }
interface PyWindow { index: number; startSec: number; endSec: number; score: number; speechRatio: number; speech: boolean }

/** The runtime's channel names and parity.py's for the same G.711 path. */
const CHANNELS: Array<[ts: string, py: string]> = [['none', 'none'], ['g711u', 'ulaw'], ['g711a', 'alaw']];

for (const file of FILES) for (const [tsChannel, pyChannel] of CHANNELS) {
  t.test(`devox analyze --channel ${tsChannel} = training/parity.py --channel ${pyChannel} on ${file}`, { skip: existsSync(join(MODEL, 'card.json')) ? false : 'no shipped model yet' }, async (t) => {
    const [ts, py] = await Promise.all([
      devox(['analyze', file, '--model', MODEL, '--json', '--channel', tsChannel]),
      python([join(projectRoot, 'training/parity.py'), file, '--model', MODEL, '--channel', pyChannel]),
    ]);
    t.equal(ts.code, 0, `devox analyze exits 0 ${ts.stderr.slice(-1000)}`);
    t.equal(py.code, 0, `parity.py exits 0 ${py.stderr.slice(-1000)}`);
    const tsOut = JSON.parse(ts.stdout) as { windows: TsWindow[]; fileScore: number };
    const pyOut = JSON.parse(py.stdout) as { windows: PyWindow[]; fileScore: number };
    const tw = tsOut.windows;
    const pw = pyOut.windows;
    t.equal(tw.length, pw.length, `${pw.length} windows on both sides`);
    let maxStart = 0, maxScore = 0;
    for (let i = 0; i < Math.min(tw.length, pw.length); i++) {
      maxStart = Math.max(maxStart, Math.abs(tw[i]!.mediaStartSec - pw[i]!.startSec), Math.abs(tw[i]!.mediaEndSec - pw[i]!.endSec));
      maxScore = Math.max(maxScore, Math.abs(tw[i]!.score - pw[i]!.score));
    }
    t.ok(maxStart < 1e-6, `window times agree (max diff ${maxStart} s)`);
    t.ok(maxScore < TOL, `scores agree: max |ts - py| = ${maxScore.toExponential(2)}`);
    // The speech windows the verdict engine counts are the ones calibration and the card count.
    const ratioDiff = Math.max(...tw.map((w, i) => Math.abs(w.speechRatio - (pw[i]?.speechRatio ?? NaN))));
    t.ok(ratioDiff < 1e-9, `speech ratios agree (max diff ${ratioDiff})`);
    t.same(tw.map((w) => w.speech), pw.map((w) => w.speech), 'same speech windows');
    t.ok(Math.abs(tsOut.fileScore - pyOut.fileScore) < TOL, `file scores agree (${tsOut.fileScore} vs ${pyOut.fileScore})`);
  });
}

t.test('training/devoxtrain/resample.py = the runtime resampler (resampleBuffer), sample for sample', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { resampleBuffer } = await import('../../src/media/resampler.js');
  const dir = mkdtempSync(join(tmpdir(), 'devox-resample-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let seed = 11;
  const x = new Float32Array(12_345).map((_, i) => 0.3 * Math.sin(i * 0.07) + 0.2 * ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5));
  writeFileSync(join(dir, 'x.f32'), Buffer.from(x.buffer));
  const pairs: Array<[number, number]> = [[16000, 8000], [8000, 16000], [48000, 16000], [44100, 16000], [16000, 48000], [22050, 16000]];
  for (const [a, b] of pairs) writeFileSync(join(dir, `${a}_${b}.f32`), Buffer.from(resampleBuffer(x, a, b).buffer));
  const script = `
import sys, json, numpy as np
sys.path.insert(0, 'training')
from devoxtrain.resample import resample
x = np.fromfile(sys.argv[1] + '/x.f32', dtype=np.float32)
out = {}
for a, b in ${JSON.stringify(pairs)}:
    ts = np.fromfile(f'{sys.argv[1]}/{a}_{b}.f32', dtype=np.float32)
    py = resample(x, a, b)
    out[f'{a}_{b}'] = [len(ts), len(py), float(np.abs(ts - py).max()) if len(ts) == len(py) else None]
print(json.dumps(out))`;
  const r = await python(['-c', script, dir]);
  t.equal(r.code, 0, r.stderr.slice(-1000));
  const res = JSON.parse(r.stdout) as Record<string, [number, number, number | null]>;
  for (const [k, [nTs, nPy, diff]] of Object.entries(res)) {
    t.equal(nPy, nTs, `${k}: same length (${nTs})`);
    t.ok(diff !== null && diff < 1e-6, `${k}: max |ts - py| = ${diff}`);
  }
});

t.test('devox analyze = training/parity.py on an Ogg Opus file (both read it at 16 kHz with libsndfile\'s trimming)', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const file = sharedSpeech('audio/rtvc_demo/genuine/bonafide/rtvc-src2_5934b12529.opus');
  const model = join(projectRoot, 'test/fixtures/tiny-model-embedding');
  const [ts, py] = await Promise.all([
    devox(['analyze', file, '--model', model, '--json']),
    python([join(projectRoot, 'training/parity.py'), file, '--model', model]),
  ]);
  t.equal(ts.code, 0, `devox analyze exits 0 ${ts.stderr.slice(-1000)}`);
  t.equal(py.code, 0, `parity.py exits 0 ${py.stderr.slice(-1000)}`);
  const tw = (JSON.parse(ts.stdout) as { windows: TsWindow[] }).windows;
  const pw = (JSON.parse(py.stdout) as { windows: PyWindow[] }).windows;
  t.ok(pw.length > 0, `${pw.length} windows`);
  t.equal(tw.length, pw.length, 'same window count');
  const maxScore = Math.max(...pw.map((w, i) => Math.abs(w.score - (tw[i]?.score ?? NaN))));
  t.ok(maxScore < 1e-3, `scores agree: max |ts - py| = ${maxScore.toExponential(2)}`);
});
