/**
 * Measuring whether one model beats another: file-level bootstrap intervals of the EER (training/devoxtrain/metrics.py)
 * and the paired comparison of two model directories on the shared data (training/compare.py).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { check, projectRoot, python } from './python.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

t.test('file-level bootstrap: label counts kept, correlated windows widen the interval', async (t) => {
  const b = await check<{ eer: number; file_ci: [number, number]; window_ci: [number, number]; row_counts: [number, number][] }>(
    ['bootstrap'],
  );
  t.same(b.row_counts, [[4000, 2000]], 'every resample keeps 200 genuine and 100 synthetic files of 20 windows');
  t.ok(b.file_ci[0] < b.eer && b.eer < b.file_ci[1], `the interval holds the EER (${b.file_ci} around ${b.eer})`);
  t.ok(b.window_ci[0] < b.eer && b.eer < b.window_ci[1], 'so does the window-resampled one');
  const wFile = b.file_ci[1] - b.file_ci[0];
  const wWin = b.window_ci[1] - b.window_ci[0];
  t.ok(wFile > 2 * wWin, `resampling files, not windows, is what shows the real uncertainty (${wFile.toFixed(3)} vs ${wWin.toFixed(3)})`);
});

const SHIPPED = join(projectRoot, 'models/devox-phone');

t.test('compare.py: a model against itself differs by exactly zero, on real dev files', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const r = await python([join(projectRoot, 'training/compare.py'), SHIPPED, SHIPPED, '--splits', 'dev', '--boot', '30',
    '--limit', '5', '--json']);
  t.equal(r.code, 0, r.stderr.slice(-1500));
  const out = JSON.parse(r.stdout) as {
    results: Record<string, { window: { a_pct: number; b_minus_a_pct: number; ci95_pct: number[] }; file: { b_minus_a_pct: number }; files: number; windows: number }>;
  };
  t.same(Object.keys(out.results), ['dev/wideband', 'dev/g711_ulaw'], 'both channels');
  for (const [k, v] of Object.entries(out.results)) {
    t.equal(v.files, 10, `${k}: 5 genuine + 5 synthetic files`);
    t.ok(v.windows > 50, `${k}: ${v.windows} speech windows scored`);
    t.ok(v.window.a_pct >= 0 && v.window.a_pct <= 100, `${k}: a real EER (${v.window.a_pct}%)`);
    t.equal(v.window.b_minus_a_pct, 0);
    t.same(v.window.ci95_pct, [0, 0]);
    t.equal(v.file.b_minus_a_pct, 0);
  }
});

t.test('compare.py: bad input is refused with a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-compare-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(join(projectRoot, 'test/fixtures/tiny-model'), dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), Buffer.concat([await readFile(join(dir, 'model.onnx')), Buffer.from([0])]));
  const tampered = await python([join(projectRoot, 'training/compare.py'), SHIPPED, dir, '--splits', 'dev']);
  t.not(tampered.code, 0);
  t.match(tampered.stderr, /does not match the sha256 in its card/, 'a model file that is not the one its card names');
  const missing = await python([join(projectRoot, 'training/compare.py'), SHIPPED, join(dir, 'nowhere')]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /not a model directory with a readable card\.json/, 'a folder without a card');
  const other = join(dir, 'other-split');
  await cp(SHIPPED, other, { recursive: true });
  const card = JSON.parse(await readFile(join(other, 'card.json'), 'utf8')) as { splits: { seed: number } };
  card.splits.seed = 7;
  await writeFile(join(other, 'card.json'), JSON.stringify(card));
  const leak = await python([join(projectRoot, 'training/compare.py'), SHIPPED, other, '--splits', 'dev']);
  t.not(leak.code, 0);
  t.match(leak.stderr, /was trained on another split than .* it would score files it trained on/,
    'a model trained on another split is not compared on this one');
  const split = await python([join(projectRoot, 'training/compare.py'), SHIPPED, SHIPPED, '--splits', 'train']);
  t.not(split.code, 0);
  t.match(split.stderr, /--splits: dev and\/or test, not 'train'/, 'never compared on the training split');
});
