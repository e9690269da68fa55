/**
 * TypeScript runtime vs Python: `devox analyze --json` (audio-decode -> int16 stream -> AudioStream windows ->
 * onnxruntime-node) and `python3 training/parity.py` (soundfile -> the same 1-s / 250-ms windowing ->
 * onnxruntime) score the demo samples with the shipped model; window starts must agree exactly and scores within 1e-4.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot, python } from './python.js';

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

interface TsWindow { seq: number; mediaStartSec: number; mediaEndSec: number; score: number }
interface PyWindow { index: number; startSec: number; endSec: number; score: number }

for (const file of FILES) {
  t.test(`devox analyze = training/parity.py on ${file}`, { skip: existsSync(join(MODEL, 'card.json')) ? false : 'no shipped model yet' }, async (t) => {
    const [ts, py] = await Promise.all([
      devox(['analyze', file, '--model', MODEL, '--json']),
      python([join(projectRoot, 'training/parity.py'), file, '--model', MODEL]),
    ]);
    t.equal(ts.code, 0, `devox analyze exits 0 ${ts.stderr.slice(-1000)}`);
    t.equal(py.code, 0, `parity.py exits 0 ${py.stderr.slice(-1000)}`);
    const tw = (JSON.parse(ts.stdout) as { windows: TsWindow[] }).windows;
    const pw = (JSON.parse(py.stdout) as { windows: PyWindow[]; fileScore: number }).windows;
    t.equal(tw.length, pw.length, `${pw.length} windows on both sides`);
    let maxStart = 0, maxScore = 0;
    for (let i = 0; i < Math.min(tw.length, pw.length); i++) {
      maxStart = Math.max(maxStart, Math.abs(tw[i]!.mediaStartSec - pw[i]!.startSec), Math.abs(tw[i]!.mediaEndSec - pw[i]!.endSec));
      maxScore = Math.max(maxScore, Math.abs(tw[i]!.score - pw[i]!.score));
    }
    t.ok(maxStart < 1e-6, `window times agree (max diff ${maxStart} s)`);
    t.ok(maxScore < TOL, `scores agree: max |ts - py| = ${maxScore.toExponential(2)}`);
  });
}
