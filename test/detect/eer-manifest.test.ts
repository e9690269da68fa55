/**
 * EER (ROC walk with interpolation) and the eval manifest reader.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readManifest, parseCsv } from '../../src/commands/manifest.js';
import { computeEer } from '../../src/detect/eer.js';

t.test('EER on hand-checked cases', async (t) => {
  t.same(computeEer([0.1, 0.2], [0.8, 0.9]), { eer: 0, threshold: 0.5, genuine: 2, synthetic: 2 }, 'separated: 0, threshold between');
  t.equal(computeEer([0.8, 0.9], [0.1, 0.2]).eer, 1, 'inverted: 1');
  const r = computeEer([0.1, 0.2, 0.3, 0.4], [0.35, 0.5, 0.6, 0.7]);
  t.equal(r.eer, 0.25, 'one genuine above, one synthetic below: 25%');
  t.equal(r.threshold, 0.375);
  t.equal(computeEer([0.5, 0.5], [0.5, 0.5]).eer, 0.5, 'all tied: 50%');
  t.ok(Number.isNaN(computeEer([], [0.5]).eer), 'NaN when a class is empty');
});

t.test('EER agrees with a brute-force threshold sweep on random scores', async (t) => {
  // Deterministic LCG so the case is reproducible.
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const g = Array.from({ length: 3000 }, () => rnd() * 0.7);
  const s = Array.from({ length: 2000 }, () => 0.3 + rnd() * 0.7);
  const r = computeEer(g, s);
  let best = { gap: Infinity, eer: NaN };
  for (let i = 0; i <= 10000; i++) {
    const th = i / 10000;
    const fpr = g.filter((x) => x >= th).length / g.length;
    const fnr = s.filter((x) => x < th).length / s.length;
    if (Math.abs(fpr - fnr) < best.gap) best = { gap: Math.abs(fpr - fnr), eer: (fpr + fnr) / 2 };
  }
  t.ok(Math.abs(r.eer - best.eer) < 2e-3, `EER ${r.eer.toFixed(4)} vs sweep ${best.eer.toFixed(4)}`);
  // Genuine is uniform on [0, 0.7], synthetic on [0.3, 1]: the EER threshold lies in the overlap.
  t.ok(r.threshold > 0.3 && r.threshold < 0.7, `threshold ${r.threshold.toFixed(3)} inside the overlap`);
});

t.test('CSV: quotes, commas in quotes, CRLF, blank lines', async (t) => {
  const rows = parseCsv('path,label\r\n"a,b.wav",genuine\r\n\r\n"say ""hi"".flac",synthetic\nlast.wav,genuine');
  t.same(rows.map((r) => r.fields), [
    ['path', 'label'],
    ['a,b.wav', 'genuine'],
    ['say "hi".flac', 'synthetic'],
    ['last.wav', 'genuine'],
  ]);
  t.same(rows.map((r) => r.line), [1, 2, 4, 5]);
});

t.test('manifest: paths relative to the manifest, clear errors with line numbers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-manifest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = join(dir, 'm.csv');
  await writeFile(m, '\uFEFFspeaker,Path,LABEL\nx,audio/a.flac,Genuine\ny,/abs/b.wav,synthetic\n');
  const rows = await readManifest(m);
  t.same(rows.map((r) => [r.path, r.label, r.line]), [
    [join(dir, 'audio/a.flac'), 'genuine', 2],
    ['/abs/b.wav', 'synthetic', 3],
  ]);
  await writeFile(m, 'path,label\na.wav,fake\n');
  await t.rejects(readManifest(m), { name: 'ManifestError', message: /m\.csv:2: label must be genuine or synthetic, got "fake"/ });
  await writeFile(m, 'file,label\na.wav,genuine\n');
  await t.rejects(readManifest(m), { name: 'ManifestError', message: /header must have "path" and "label"/ });
  await writeFile(m, 'path,label\n');
  await t.rejects(readManifest(m), { name: 'ManifestError', message: /no rows/ });
  await t.rejects(readManifest(join(dir, 'missing.csv')), { name: 'ManifestError', message: /cannot read manifest \(ENOENT\)/ });
});
