/**
 * `devox eval --by` as a user runs it: the real CLI in a child process, the tiny ONNX model, real
 * speech (short WAV cuts of the repo's two samples, made with ffmpeg) and a manifest with source
 * and generator columns. Breakdown groups and their file counts, bootstrap intervals around the
 * estimates (the same in two runs), per-file windows and model in --json, the text tables, usage
 * errors naming the columns, and no progress line when stderr is not a terminal.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { projectRoot } from '../../src/config.js';
import { computeEer } from '../../src/detect/eer.js';
import { runDevoxCli } from '../helpers/child-process.js';

const TINY_MODEL = join(projectRoot, 'test/fixtures/tiny-model');
const GENUINE = join(projectRoot, 'samples/genuine-librispeech.flac'); // 11.3 s
const SYNTHETIC = join(projectRoot, 'samples/synthetic-ljspeech-espnet.flac'); // 7.6 s

const devox = runDevoxCli;

t.setTimeout(300_000);

const ffmpeg = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8' });
if (ffmpeg.error || ffmpeg.status !== 0) {
  t.fail('ffmpeg is required for these tests (apt-get install ffmpeg)');
  process.exit(1);
}

// file, source, start s, length s, label, source, generator (empty on genuine rows)
const FILES: Array<[string, string, number, number, 'genuine' | 'synthetic', string, string]> = [
  ['g1.wav', GENUINE, 0, 2.8, 'genuine', 'libri', ''],
  ['g2.wav', GENUINE, 2.8, 2.8, 'genuine', 'libri', ''],
  ['g3.wav', GENUINE, 5.6, 2.8, 'genuine', 'mixed', ''],
  ['g4.wav', GENUINE, 8.4, 2.8, 'genuine', 'mixed', ''],
  ['s1.wav', SYNTHETIC, 0, 2.5, 'synthetic', 'mixed', 'tacotron'],
  ['s2.wav', SYNTHETIC, 2.5, 2.5, 'synthetic', 'mixed', 'tacotron'],
  ['s3.wav', SYNTHETIC, 5.0, 2.5, 'synthetic', 'lj', 'wavenet'],
  ['s4.wav', SYNTHETIC, 1.2, 2.5, 'synthetic', 'lj', 'wavenet'],
];

async function makeManifest(dir: string): Promise<string> {
  for (const [name, src, ss, len] of FILES) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-ss', String(ss), '-t', String(len), '-i', src, '-ac', '1', join(dir, name)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`ffmpeg ${name}: ${r.stderr}`);
  }
  const manifest = join(dir, 'manifest.csv');
  await writeFile(manifest, 'path,label,source,generator\n' + FILES.map(([n, , , , l, s, g]) => `${n},${l},${s},${g}`).join('\n') + '\n');
  return manifest;
}

interface Group {
  value: string;
  genuine: 'own' | 'all';
  synthetic: 'own' | 'all';
  files_genuine: number;
  files_synthetic: number;
  eer_window: number | null;
  eer_window_ci95: [number, number] | null;
  eer_file: number | null;
  eer_file_ci95: [number, number] | null;
}

interface FileJson {
  path: string;
  label: string;
  columns: Record<string, string>;
  fileScore: number;
  speechWindows: number;
  windowCount: number;
  windows: Array<{ seq: number; mediaStartSec: number; score: number; speechRatio: number; speech: boolean }>;
  model: { name: string; version: string; band: string };
}

/** The summary fields these tests read (eval prints more: see src/commands/eval.ts). */
interface EvalSummaryJson {
  eer_window: number | null;
  eer_window_ci95: [number, number] | null;
  eer_file: number | null;
  eer_file_ci95: [number, number] | null;
  counts: { files_genuine: number; files_synthetic: number };
  bootstrap: { resamples: number; seed: number };
  by: Record<string, Group[]>;
}

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Asserts lo ≤ eer ≤ hi (both present). */
function brackets(t: Test, what: string, eer: number | null, ci: [number, number] | null): void {
  t.ok(eer !== null && ci !== null && ci[0] <= eer && eer <= ci[1] && ci[0] >= 0 && ci[1] <= 1, `${what}: ${eer} in ${JSON.stringify(ci)}`);
}

t.test('eval --json --by source --by generator: groups, intervals, windows, clean stderr', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-eval-by-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const manifest = await makeManifest(dir);

  const r = await devox(['eval', manifest, '--model', TINY_MODEL, '--json', '--by', 'source', '--by', 'generator']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /\r|\x1b\[K|ETA|\[#*-*\]/, 'no progress line on a non-TTY stderr');
  const doc = JSON.parse(r.stdout) as EvalSummaryJson & { files: FileJson[] };

  // The existing summary fields, plus the overall intervals.
  for (const k of ['eer_window', 'eer_file', 'threshold', 'threshold_window', 'counts', 'file_score', 'model', 'elapsed_sec']) t.ok(k in doc, `key ${k}`);
  t.equal(doc.counts.files_genuine, 4);
  t.equal(doc.counts.files_synthetic, 4);
  brackets(t, 'overall window EER', doc.eer_window, doc.eer_window_ci95);
  brackets(t, 'overall file EER', doc.eer_file, doc.eer_file_ci95);
  t.match(doc.bootstrap, { resamples: 1000 });

  // Files: windows back in, with the window count, the model and the manifest's columns.
  t.equal(doc.files.length, FILES.length);
  for (const f of doc.files) {
    t.ok(f.windowCount > 3 && f.windows.length === f.windowCount, `${f.path}: ${f.windowCount} windows`);
    t.same(Object.keys(f.windows[0]!).sort(), ['mediaStartSec', 'score', 'seq', 'speech', 'speechRatio']);
    f.windows.forEach((w, i) => {
      if (w.seq !== i || Math.abs(w.mediaStartSec - i * 0.25) > 1e-6 || !(w.score > 0 && w.score < 1)) t.fail(`${f.path} window ${i}: ${JSON.stringify(w)}`);
    });
    t.equal(f.windows.filter((w) => w.speech).length, f.speechWindows);
    const speech = f.windows.filter((w) => w.speech);
    t.ok(Math.abs(f.fileScore - speech.reduce((a, w) => a + w.score, 0) / speech.length) < 1e-9, `${f.path}: file score from its windows`);
    t.same(f.model, { name: 'devox-tiny', version: 'tiny-1', band: 'wideband' });
    const src = FILES.find(([n]) => n === f.path)!;
    t.same(f.columns, { source: src[5], generator: src[6] });
  }
  // The overall window EER is reproducible from the windows in the document.
  const win = (label: string, keep: (f: FileJson) => boolean = () => true): number[] =>
    doc.files.filter((f) => f.label === label && keep(f)).flatMap((f) => f.windows.filter((w) => w.speech).map((w) => w.score));
  t.equal(doc.eer_window, r4(computeEer(win('genuine'), win('synthetic')).eer), 'eer_window from the per-file windows');

  // Breakdowns.
  const counts = (gs: Group[]): unknown => gs.map((g) => [g.value, g.genuine, g.files_genuine, g.synthetic, g.files_synthetic]);
  t.same(counts(doc.by.source!), [
    ['libri', 'own', 2, 'all', 4],
    ['lj', 'all', 4, 'own', 2],
    ['mixed', 'own', 2, 'own', 2],
  ]);
  t.same(counts(doc.by.generator!), [
    ['', 'own', 4, 'all', 4],
    ['tacotron', 'all', 4, 'own', 2],
    ['wavenet', 'all', 4, 'own', 2],
  ]);
  for (const [col, groups] of Object.entries(doc.by)) {
    for (const g of groups) {
      brackets(t, `${col}=${g.value} window EER`, g.eer_window, g.eer_window_ci95);
      brackets(t, `${col}=${g.value} file EER`, g.eer_file, g.eer_file_ci95);
    }
  }
  const is = (col: string, v: string) => (f: FileJson) => f.columns[col] === v;
  const fileScores = (label: string, keep: (f: FileJson) => boolean = () => true): number[] =>
    doc.files.filter((f) => f.label === label && keep(f)).map((f) => f.fileScore);
  const mixed = doc.by.source!.find((g) => g.value === 'mixed')!;
  t.equal(mixed.eer_window, r4(computeEer(win('genuine', is('source', 'mixed')), win('synthetic', is('source', 'mixed'))).eer), 'mixed: its own windows');
  t.equal(mixed.eer_file, r4(computeEer(fileScores('genuine', is('source', 'mixed')), fileScores('synthetic', is('source', 'mixed'))).eer), 'mixed: its own files');
  const taco = doc.by.generator!.find((g) => g.value === 'tacotron')!;
  t.equal(taco.eer_window, r4(computeEer(win('genuine'), win('synthetic', is('generator', 'tacotron'))).eer), 'tacotron: all genuine windows vs its own');
  t.equal(taco.eer_file, r4(computeEer(fileScores('genuine'), fileScores('synthetic', is('generator', 'tacotron'))).eer), 'tacotron: all genuine files vs its own');

  // Text mode: same intervals (fixed seed, another process), then a table per --by column.
  const text = await devox(['eval', manifest, '--model', TINY_MODEL, '--by', 'source,generator']);
  t.equal(text.code, 0, text.stderr);
  t.notMatch(text.stderr, /\r|\x1b\[K|ETA/, 'no progress line on a non-TTY stderr (text mode)');
  const lines = text.stdout.trimEnd().split('\n');
  const summary = JSON.parse(lines.find((l) => l.startsWith('{'))!) as EvalSummaryJson;
  t.same([summary.eer_window_ci95, summary.eer_file_ci95, summary.by], [doc.eer_window_ci95, doc.eer_file_ci95, doc.by], 'reproducible intervals and breakdowns');
  t.match(text.stdout, /^window EER \d+\.\d\d% \[\d+\.\d\d%, \d+\.\d\d%\] over \d+\+\d+ speech windows; file EER /m);
  t.match(text.stdout, /^by source:\n {2}source +files genuine\/synthetic +window EER \[95% CI\] +file EER \[95% CI\]\n {2}libri +2 \/ 4 \(synthetic: all\) +\d/m);
  t.match(text.stdout, /^ {2}lj +4 \(genuine: all\) \/ 2 +\d+\.\d\d% \[/m);
  t.match(text.stdout, /^ {2}mixed +2 \/ 2 +\d/m);
  t.match(text.stdout, /^by generator:\n.*\n {2}\(empty\) +4 \/ 4 \(synthetic: all\)/m);
  t.match(text.stdout, /^ {2}wavenet +4 \(genuine: all\) \/ 2 /m);
});

t.test('eval --by: an unknown column is a usage error naming the columns', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-eval-by-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'manifest.csv');
  await writeFile(manifest, 'path,label,source,generator\na.wav,genuine,libri,\nb.wav,synthetic,lj,tts\n');
  const r = await devox(['eval', manifest, '--model', TINY_MODEL, '--by', 'source', '--by', 'speaker']);
  t.equal(r.code, 2);
  t.match(r.stderr, /devox eval: unknown --by column "speaker"; the manifest's columns besides path and label are: source, generator/);
  t.equal(r.stdout, '');

  await writeFile(manifest, 'path,label\na.wav,genuine\n');
  const bare = await devox(['eval', manifest, '--model', TINY_MODEL, '--by', 'source']);
  t.equal(bare.code, 2);
  t.match(bare.stderr, /unknown --by column "source"; the manifest has no columns besides path and label/);

  const noValue = await devox(['eval', manifest, '--by']);
  t.equal(noValue.code, 2);
  t.match(noValue.stderr, /--by needs a value/);
});
