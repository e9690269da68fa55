/**
 * The pieces behind `devox eval --by` and its intervals, without the model: the seeded bootstrap
 * (determinism, and equality with computeEer over the drawn multiset), the --by/--bootstrap
 * options, the breakdown's pooling rule, the progress line, the manifest's extra columns.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { breakdown, extractEvalArgs, formatProgress, MIN_OWN_FILES, type FileEvidence } from '../../src/commands/eval-report.js';
import { manifestColumns, readManifest, type ManifestRow } from '../../src/commands/manifest.js';
import { bootstrapEerCi, bootstrapEers, computeEer, mulberry32 } from '../../src/detect/eer.js';

/** Overlapping classes, a few scores per "file", from a seeded stream independent of the bootstrap's. */
function units(n: number, offset: number, seed: number): number[][] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const base = offset + rnd() * 0.4;
    return Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => base + rnd() * 0.3);
  });
}

t.test('mulberry32: same seed, same stream; in [0, 1)', async (t) => {
  const a = mulberry32(7);
  const b = mulberry32(7);
  const c = mulberry32(8);
  const xa = Array.from({ length: 1000 }, a);
  t.same(Array.from({ length: 1000 }, b), xa);
  t.notSame(Array.from({ length: 1000 }, c), xa);
  t.ok(xa.every((x) => x >= 0 && x < 1));
  const mean = xa.reduce((s, x) => s + x, 0) / xa.length;
  t.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean.toFixed(3)}`);
});

t.test('bootstrap interval: same seed → same interval; brackets a typical EER; seed matters', async (t) => {
  const g = units(40, 0, 1);
  const s = units(30, 0.25, 2);
  const point = computeEer(g.flat(), s.flat()).eer;
  const a = bootstrapEerCi(g, s, { resamples: 500, seed: 1234 });
  const b = bootstrapEerCi(g, s, { resamples: 500, seed: 1234 });
  t.ok(a, 'an interval');
  t.same(a, b, 'reproducible');
  const [lo, hi] = a!;
  t.ok(lo <= point && point <= hi && lo < hi, `[${lo.toFixed(4)}, ${hi.toFixed(4)}] around ${point.toFixed(4)}`);
  t.notSame(bootstrapEerCi(g, s, { resamples: 500, seed: 99 }), a, 'another seed, other resamples');
  const narrow = bootstrapEerCi(g, s, { resamples: 500, seed: 1234, level: 0.5 })!;
  t.ok(narrow[0] >= lo && narrow[1] <= hi, 'a 50% interval sits inside the 95% one');
});

t.test('each resample EER equals computeEer over the drawn files (draw order as documented)', async (t) => {
  const g = units(12, 0, 3);
  const s = units(9, 0.2, 4);
  const seed = 77;
  const eers = bootstrapEers(g, s, { resamples: 25, seed });
  const rand = mulberry32(seed);
  const disagree: string[] = [];
  for (let r = 0; r < eers.length; r++) {
    const dg = Array.from({ length: g.length }, () => g[Math.floor(rand() * g.length)]!).flat();
    const ds = Array.from({ length: s.length }, () => s[Math.floor(rand() * s.length)]!).flat();
    const ref = computeEer(dg, ds).eer;
    if (Math.abs(eers[r]! - ref) > 1e-12) disagree.push(`resample ${r}: ${eers[r]} vs ${ref}`);
  }
  t.equal(eers.length, 25, '25 resamples drawn');
  t.same(disagree, [], '25 resamples agree');
  // File level (one score per unit), with ties.
  const fg = [[0.1], [0.4], [0.4], [0.6]];
  const fs = [[0.4], [0.7], [0.9]];
  const fe = bootstrapEers(fg, fs, { resamples: 10, seed: 5 });
  const r2 = mulberry32(5);
  for (let r = 0; r < fe.length; r++) {
    const dg = fg.map(() => fg[Math.floor(r2() * fg.length)]![0]!);
    const ds = fs.map(() => fs[Math.floor(r2() * fs.length)]![0]!);
    t.equal(fe[r], computeEer(dg, ds).eer, `file-level resample ${r}`);
  }
});

t.test('bootstrap: no interval without both classes or resamples; empty units are NaN resamples', async (t) => {
  t.equal(bootstrapEerCi([], [[0.5]], { resamples: 100, seed: 1 }), null);
  t.equal(bootstrapEerCi([[0.2]], [[0.5]], { resamples: 0, seed: 1 }), null);
  t.same(bootstrapEerCi([[0.2], [0.3]], [[0.5], [0.6]], { resamples: 100, seed: 1 }), [0, 0], 'separated classes stay separated');
  const e = bootstrapEers([[], [0.2]], [[0.5]], { resamples: 200, seed: 3 });
  const nan = Array.from(e).filter(Number.isNaN).length;
  t.ok(nan > 20 && nan < 100, `resamples that drew only the empty genuine file are NaN (${nan}/200, ~1/4 expected)`);
  t.ok(Array.from(e).every((x) => Number.isNaN(x) || x === 0));
});

t.test('--by and --bootstrap are taken out of argv', async (t) => {
  t.same(extractEvalArgs(['m.csv', '--by', 'Source,generator', '--json', '--by=condition', '--by', 'source', '--bootstrap', '200']), {
    rest: ['m.csv', '--json'],
    by: ['source', 'generator', 'condition'],
    resamples: 200,
  });
  t.same(extractEvalArgs(['m.csv']), { rest: ['m.csv'], by: [], resamples: 1000 });
  t.same(extractEvalArgs(['--', '--by']), { rest: ['--', '--by'], by: [], resamples: 1000 }, 'nothing after --');
  t.match(extractEvalArgs(['m.csv', '--by']), { error: /--by needs a value/ });
  t.match(extractEvalArgs(['m.csv', '--by', '--json']), { error: /--by needs a value/ });
  t.match(extractEvalArgs(['m.csv', '--by', ' , ']), { error: /--by needs a column name/ });
  t.match(extractEvalArgs(['m.csv', '--bootstrap', 'many']), { error: /--bootstrap must be a whole number/ });
});

t.test('breakdown: own files where a value has both labels, the whole run for the missing class', async (t) => {
  const rows: ManifestRow[] = [];
  const used: FileEvidence[] = [];
  const add = (label: 'genuine' | 'synthetic', source: string, generator: string, score: number): void => {
    const columns = { source, generator };
    rows.push({ path: `/x/${rows.length}.wav`, relPath: `${rows.length}.wav`, label, line: rows.length + 2, columns });
    used.push({ label, columns, fileScore: score, speechScores: [score, score + 0.01] });
  };
  add('genuine', 'a', '', 0.1);
  add('genuine', 'a', '', 0.3);
  add('genuine', 'b', '', 0.2);
  add('genuine', 'b', '', 0.6);
  add('synthetic', 'a', 'tts1', 0.7);
  add('synthetic', 'a', 'tts1', 0.25);
  add('synthetic', 'c', 'tts2', 0.9);
  add('synthetic', 'c', 'tts2', 0.8);
  const bySource = breakdown(rows, used, 'source', 200);
  t.same(
    bySource.map((g) => [g.value, g.genuine, g.synthetic, g.files_genuine, g.files_synthetic, g.windows_genuine, g.windows_synthetic]),
    [
      ['a', 'own', 'own', 2, 2, 4, 4],
      ['b', 'own', 'all', 2, 4, 4, 8],
      ['c', 'all', 'own', 4, 2, 8, 4],
    ],
  );
  const a = bySource[0]!;
  t.equal(a.eer_file, computeEer([0.1, 0.3], [0.7, 0.25]).eer, 'value a: its own files only');
  const c = bySource[2]!;
  t.equal(c.eer_file, computeEer([0.1, 0.3, 0.2, 0.6], [0.9, 0.8]).eer, 'value c: all genuine vs its synthetic');
  for (const g of bySource) {
    t.ok(g.eer_file_ci95 && g.eer_file_ci95[0] <= g.eer_file! && g.eer_file! <= g.eer_file_ci95[1], `${g.value}: file CI brackets the EER`);
    t.ok(g.eer_window_ci95 && g.eer_window_ci95[0] <= g.eer_window! && g.eer_window! <= g.eer_window_ci95[1], `${g.value}: window CI brackets the EER`);
  }
  const byGen = breakdown(rows, used, 'generator', 0);
  t.same(byGen.map((g) => [g.value, g.genuine, g.synthetic, g.files_genuine, g.files_synthetic]), [
    ['', 'own', 'all', 4, 4],
    ['tts1', 'all', 'own', 4, 2],
    ['tts2', 'all', 'own', 4, 2],
  ]);
  t.equal(byGen[1]!.eer_file_ci95, null, 'no interval with --bootstrap 0');
  t.equal(MIN_OWN_FILES, 2);
  // A value with one genuine file is judged against all genuine files; one whose files all failed has no EER.
  rows.push({ path: '/x/g.wav', relPath: 'g.wav', label: 'genuine', line: 99, columns: { source: 'd', generator: '' } });
  used.push({ label: 'genuine', columns: { source: 'd', generator: '' }, fileScore: 0.5, speechScores: [0.5] });
  add('synthetic', 'd', 'tts3', 0.95);
  rows.push({ path: '/x/f.wav', relPath: 'f.wav', label: 'synthetic', line: 100, columns: { source: 'failed', generator: '' } });
  const again = breakdown(rows, used, 'source', 0);
  t.match(again.find((g) => g.value === 'd'), { genuine: 'all', synthetic: 'own', files_genuine: 5, files_synthetic: 1 });
  t.match(again.find((g) => g.value === 'failed'), { files_genuine: 0, files_synthetic: 0, eer_file: null, eer_window: null });
});

t.test('progress line: done/total, elapsed, ETA; bar only where it fits', async (t) => {
  t.equal(formatProgress(0, 40, 3, 100), 'eval [------------------------------] 0/40 files  elapsed 0:03  ETA --:--');
  t.equal(formatProgress(10, 40, 30, 100), 'eval [########----------------------] 10/40 files  elapsed 0:30  ETA 1:30');
  t.equal(formatProgress(40, 40, 3725, 100).endsWith('40/40 files  elapsed 1:02:05  ETA 0:00'), true);
  const narrow = formatProgress(5, 40, 10, 40);
  t.notMatch(narrow, /\[/, 'no bar on a narrow terminal');
  t.ok(narrow.length < 40);
});

t.test('manifest: extra columns kept per row, keyed by the lowercased header', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-manifest-cols-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = join(dir, 'm.csv');
  await writeFile(m, 'Source,path,label,Generator,,constructor\nlibri,a.wav,genuine\nlj, b.wav ,synthetic, "tts, v2" ,x,y\n');
  const rows = await readManifest(m);
  t.same(manifestColumns(rows), ['source', 'generator', 'constructor']);
  t.same({ ...rows[0]!.columns }, { source: 'libri', generator: '', constructor: '' }, 'short row: empty values');
  t.same({ ...rows[1]!.columns }, { source: 'lj', generator: 'tts, v2', constructor: 'y' });
  t.equal(rows[1]!.relPath, 'b.wav');
});
