/**
 * `devox analyze` and `devox eval` as a user runs them (the real CLI in a child process) on real
 * speech from ../shared/data/speech with the tiny ONNX model: sane timelines, valid JSON with the
 * documented keys, consistent numbers, clear errors.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';
import { computeEer } from '../../src/detect/eer.js';
import { SPEECH_FILES } from './support.js';
import { TINY_MODEL } from '../helpers/fixture-paths.js';
import { NEEDS_SHARED_SPEECH, SHARED_SPEECH_DIR } from '../helpers/shared-data.js';
import { runDevoxCli } from '../helpers/child-process.js';

const devox = runDevoxCli;

const GENUINE = join(SHARED_SPEECH_DIR, SPEECH_FILES.genuine[0]!);

// Each case spawns the CLI (a few seconds each on a busy 2-core machine).
t.setTimeout(300_000);

/** `devox analyze GENUINE --json` with the tiny model, run once and shared by the cases below. */
let analyzed: ReturnType<typeof devox> | undefined;
const analyzeGenuineJson = (): ReturnType<typeof devox> => (analyzed ??= devox(['analyze', GENUINE, '--model', TINY_MODEL, '--json']));

interface WindowJson {
  seq: number;
  mediaStartSec: number;
  mediaEndSec: number;
  score: number;
  speechRatio: number;
  speech: boolean;
  label: string;
  modelVersion: string;
}

/** `devox analyze --json` (the fields read here). */
interface AnalyzeJson {
  durationSec: number;
  sampleRate: number;
  channel: string;
  verdict: { label: string; evidence: { windows: number } };
  fileScore: number;
  speechWindows: number;
  shed: number;
  windows: WindowJson[];
  model: { name: string; version: string; band: string; executionProvider: string };
}

/** The summary line of `devox eval` (the fields read here). */
interface EvalSummaryJson {
  eer_window: number | null;
  eer_file: number | null;
  file_score: string;
  counts: Record<'files' | 'failed' | 'files_genuine' | 'files_synthetic' | 'windows_genuine' | 'windows_synthetic' | 'windows_shed', number>;
}

t.test('analyze --json: one window per hop over the file, verdict and model', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const r = await analyzeGenuineJson();
  t.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as AnalyzeJson;
  for (const k of ['file', 'durationSec', 'sampleRate', 'channel', 'verdict', 'fileScore', 'speechWindows', 'shed', 'windows', 'model']) {
    t.ok(k in doc, `key ${k}`);
  }
  t.equal(doc.channel, 'none');
  t.equal(doc.sampleRate, 16000);
  t.same(doc.model, { name: 'devox-tiny', version: 'tiny-1', band: 'wideband', executionProvider: 'cpu' });
  const w = doc.windows;
  t.equal(w.length, Math.floor((doc.durationSec - 1) / 0.25) + 1, 'one window per 250 ms hop once the first second is in');
  w.forEach((x, i) => {
    t.equal(x.seq, i);
    t.ok(Math.abs(x.mediaStartSec - i * 0.25) < 1e-6 && Math.abs(x.mediaEndSec - x.mediaStartSec - 1) < 1e-6, `window ${i} media times`);
    t.ok(x.score > 0 && x.score < 1);
    t.ok(x.speechRatio >= 0 && x.speechRatio <= 1);
  });
  t.ok(new Set(w.map((x) => x.score.toFixed(3))).size > 3, 'scores vary along the file');
  t.equal(doc.shed, 0);
  t.match(doc.verdict.label, /^(genuine|suspicious|synthetic|insufficient_speech|listening)$/);
  t.equal(doc.verdict.evidence.windows, w.length);
  const speech = w.filter((x) => x.speech);
  t.equal(doc.speechWindows, speech.length);
  t.ok(Math.abs(doc.fileScore - speech.reduce((a, x) => a + x.score, 0) / speech.length) < 1e-9, 'file score = mean of speech-window scores');
  t.equal(w[w.length - 1]!.label, doc.verdict.label, 'last timeline label is the verdict');
});

t.test('analyze matches an independent reference: Python onnxruntime on the same 1-s windows every 250 ms', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const r = await analyzeGenuineJson();
  t.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { windows: WindowJson[] };
  const py = `
import json, sys, numpy as np, soundfile as sf, onnxruntime as ort
x, sr = sf.read(sys.argv[1], dtype='float32')
assert sr == 16000
starts = range(0, len(x) - 16000 + 1, 4000)
w = np.stack([x[s:s + 16000] for s in starts]).astype(np.float32)
p = ort.InferenceSession(sys.argv[2] + '/model.onnx').run(None, {'audio': w})[0]
print(json.dumps([float(v) for v in p]))
`;
  const run = (args: string[]) =>
    new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile('python3', args, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
  // Skip only where the Python packages are missing; a failing reference script is a failure.
  const deps = await run(['-c', 'import numpy, soundfile, onnxruntime']);
  if (deps.err) {
    t.pass('reference comparison', { skip: 'python3 with numpy/soundfile/onnxruntime not available (pip install -r training/requirements.txt)' });
    return;
  }
  const refRun = await run(['-c', py, GENUINE, TINY_MODEL]);
  t.equal(refRun.err, null, `python reference ran: ${refRun.stderr.slice(-500)}`);
  if (refRun.err) return;
  const ref = JSON.parse(refRun.stdout) as number[];
  t.equal(doc.windows.length, ref.length, 'same windows');
  const maxDiff = Math.max(...ref.map((p, i) => Math.abs(p - doc.windows[i]!.score)));
  // The live path carries int16 samples (as RTP does): at most ~1 LSB of difference in the input.
  t.ok(maxDiff < 1e-3, `max |devox - python| = ${maxDiff.toExponential(2)}`);
});

t.test('analyze timeline (text) and the phone channels', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const text = await devox(['analyze', GENUINE, '--model', TINY_MODEL]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /model {4}devox-tiny tiny-1 \(wideband\) \(cpu\)/);
  t.match(text.stdout, /^ +0 +0\.00–1\.00 +0\.\d{3} +[01]\.\d\d[ *] +\w+$/m, 'a timeline row: seq, media time, score, speech, label');
  t.match(text.stdout, /^verdict {2}(genuine|suspicious|synthetic|insufficient_speech|listening) {2}\(evidence score/m);

  const none = JSON.parse((await analyzeGenuineJson()).stdout) as { windows: WindowJson[] };
  for (const ch of ['g711u', 'g711a', 'opus']) {
    const r = await devox(['analyze', GENUINE, '--model', TINY_MODEL, '--json', '--channel', ch]);
    t.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { channel: string; windows: WindowJson[] };
    t.equal(doc.channel, ch);
    t.ok(Math.abs(doc.windows.length - none.windows.length) <= 1, `${ch}: same number of windows (±1 for codec framing)`);
    const diff = doc.windows.slice(0, 8).reduce((a, w, i) => a + Math.abs(w.score - none.windows[i]!.score), 0);
    t.ok(diff > 1e-3, `${ch}: the codec changed the audio the model saw (Σ|Δscore| ${diff.toFixed(3)})`);
  }
});

for (const [channel, dir, band] of [
  ['g711u', 'models/devox-phone-nb', 'narrowband'],
  ['none', 'models/devox-phone', 'wideband'],
] as const) {
  t.test(`analyze with the shipped models (embedded defaults), channel ${channel}: the ${band} model judges`, { skip: NEEDS_SHARED_SPEECH }, async (t) => {
    const shipped = join(projectRoot, dir);
    if (!existsSync(join(shipped, 'card.json'))) {
      t.pass('shipped model', { skip: `no trained model at ${shipped} yet (training/train.py writes it)` });
      return;
    }
    const card = JSON.parse(await readFile(join(shipped, 'card.json'), 'utf8')) as { name: string; version: string };
    const r = await devox(['analyze', GENUINE, '--json', '--channel', channel]);
    t.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { model: { name: string; version: string; band: string }; windows: WindowJson[]; verdict: { label: string } };
    t.same([doc.model.name, doc.model.version, doc.model.band], [card.name, card.version, band], `scored by the shipped ${band} model`);
    t.ok(doc.windows.length > 10 && doc.windows.every((w) => w.score >= 0 && w.score <= 1 && w.modelVersion === card.version));
    t.match(doc.verdict.label, /^(genuine|suspicious|synthetic|insufficient_speech|listening)$/);
  });
}

t.test('analyze: clear errors', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const missing = await devox(['analyze', '/nonexistent.wav', '--model', TINY_MODEL]);
  t.equal(missing.code, 2, 'a missing file is a usage error (test/commands/analyze-input.test.ts has the rest)');
  t.match(missing.stderr, /devox analyze: \/nonexistent\.wav: no such file/);
  const badModel = await devox(['analyze', GENUINE, '--model', '/nonexistent/model']);
  t.equal(badModel.code, 1);
  t.match(badModel.stderr, /devox analyze: model \/nonexistent\/model: cannot read card\.json/);
  const badChannel = await devox(['analyze', GENUINE, '--channel', 'gsm']);
  t.equal(badChannel.code, 2);
  t.match(badChannel.stderr, /--channel must be one of none\|g711u\|g711a\|opus, got "gsm"/);
  const noFile = await devox(['analyze']);
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, /expected exactly one file/);
});

t.test('eval: per-file lines and a final JSON line with EERs and counts', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-eval-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files = [
    ...SPEECH_FILES.genuine.map((p) => [p, 'genuine'] as const),
    ...SPEECH_FILES.synthetic.map((p) => [p, 'synthetic'] as const),
  ];
  const manifest = join(dir, 'manifest.csv');
  await writeFile(manifest, 'path,label\n' + files.map(([p, l]) => `${relative(dir, join(SHARED_SPEECH_DIR, p))},${l}`).join('\n') + '\n');

  const r = await devox(['eval', manifest, '--model', TINY_MODEL]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const fileLines = lines.filter((l) => /^(genuine|synthetic) +score /.test(l));
  t.equal(fileLines.length, files.length, 'one line per file');
  const summary = JSON.parse(lines[lines.length - 1]!) as EvalSummaryJson;
  for (const k of ['eer_window', 'eer_file', 'threshold', 'threshold_window', 'counts']) t.ok(k in summary, `key ${k}`);
  for (const k of ['eer_window', 'eer_file'] as const) {
    const v = summary[k];
    t.ok(v !== null && v >= 0 && v <= 1, `${k} = ${v}`);
  }
  t.equal(summary.counts.files, 4);
  t.equal(summary.counts.files_genuine, 2);
  t.equal(summary.counts.files_synthetic, 2);
  t.ok(summary.counts.windows_genuine > 20 && summary.counts.windows_synthetic > 20, 'speech windows counted');
  t.equal(summary.counts.windows_shed, 0);
  t.equal(summary.file_score, 'mean of speech-window scores');

  // --json: the per-file scores reproduce eer_file; analyze agrees with eval on the same file.
  const j = await devox(['eval', manifest, '--model', TINY_MODEL, '--json']);
  t.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout) as { eer_file: number; files: Array<{ label: string; fileScore: number; path: string }> };
  t.equal(doc.files.length, 4);
  const eer = computeEer(
    doc.files.filter((f) => f.label === 'genuine').map((f) => f.fileScore),
    doc.files.filter((f) => f.label === 'synthetic').map((f) => f.fileScore),
  );
  t.equal(doc.eer_file, Math.round(eer.eer * 1e4) / 1e4, 'eer_file recomputed from per-file scores');
  const a = JSON.parse((await analyzeGenuineJson()).stdout) as { fileScore: number };
  const sameFile = doc.files.find((f) => GENUINE.endsWith(f.path.replace(/^(\.\.\/)+/, '')))!;
  t.ok(Math.abs(sameFile.fileScore - a.fileScore) < 1e-6, 'analyze and eval score a file the same (one path)');

  // A missing file is reported and counted; the run still summarises the rest.
  await writeFile(manifest, `path,label\n${relative(dir, GENUINE)},genuine\nmissing.flac,synthetic\n`);
  const bad = await devox(['eval', manifest, '--model', TINY_MODEL]);
  t.equal(bad.code, 1);
  t.match(bad.stdout, /^ERROR +synthetic +missing\.flac: cannot read audio file .*: no such file/m);
  const s2 = JSON.parse(bad.stdout.trim().split('\n').pop()!) as EvalSummaryJson;
  t.equal(s2.counts.failed, 1);
  t.equal(s2.eer_file, null, 'no EER without both classes');

  await writeFile(manifest, 'path,label\nx.flac,maybe\n');
  const badManifest = await devox(['eval', manifest, '--model', TINY_MODEL]);
  t.equal(badManifest.code, 2);
  t.match(badManifest.stderr, /manifest\.csv:2: label must be genuine or synthetic/);
});
