/**
 * Unpaired extra synthetic training speech (training/synth_debian_tts.py, train.py --extra-synthetic /
 * --extra-share, devoxtrain/sampler.py synthetic_shares): the sampler's fixed share, the Debian TTS generator, and a
 * smoke train that adds such a manifest to the training split only.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { check, projectRoot, python } from './python.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

t.setTimeout(600_000);

interface Share { weight_share: number; drawn_share: number; genuine_from_tts: number }
interface Extra { '0.0': Share; '0.2': Share; '0.5': Share; errors: Record<string, string | null> }

t.test('synthetic_shares: a fixed fraction of the synthetic draws, never a genuine one', async (t) => {
  const v = await check<Extra>(['extra-synthetic']);
  t.ok(Math.abs(v['0.0'].weight_share - 2 / 7) < 1e-6, `no share: sqrt(minutes) weights (${v['0.0'].weight_share})`);
  for (const f of ['0.2', '0.5'] as const) {
    t.ok(Math.abs(v[f].weight_share - Number(f)) < 1e-9, `share ${f} in the weights`);
    t.ok(Math.abs(v[f].drawn_share - Number(f)) < 0.03, `share ${f} drawn (${v[f].drawn_share})`);
  }
  for (const s of Object.values(v).filter((x): x is Share => 'genuine_from_tts' in x)) t.equal(s.genuine_from_tts, 0);
  for (const [name, err] of Object.entries(v.errors)) t.match(err, /synthetic_shares/, `refused: ${name}`);
});

interface Tts {
  missing: string[];
  files: Array<{ generator: string; sr: number; mono: boolean; sec: number; level_err_db: number }>;
  labels: string[]; sources: string[]; pair_keys: string[]; packages: string[]; deterministic: boolean;
}

t.test('synth_debian_tts.py: one file per engine, 16 kHz at the planned level, package named', async (t) => {
  const v = await check<Tts>(['debian-tts']);
  if (v.missing.length) {
    t.pass(`skipped: Debian TTS not installed (${v.missing.join(', ')}): apt-get install -y espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts`);
    return;
  }
  t.same(v.files.map((f) => f.generator), ['espeak-ng', 'flite', 'festival-diphone', 'festival-hts']);
  for (const f of v.files) {
    t.equal(f.sr, 16000);
    t.ok(f.mono && f.sec > 1 && f.sec < 15, `${f.generator}: ${f.sec} s mono`);
    t.ok(Math.abs(f.level_err_db) < 0.5, `${f.generator}: level as planned (${f.level_err_db} dB)`);
  }
  t.same(v.labels, ['synthetic']);
  t.same(v.sources, ['debian-tts']);
  t.same(v.pair_keys, [''], 'unpaired');
  t.ok(v.packages.every((p) => /espeak-ng|flite|festvox/.test(p)), v.packages.join('; '));
  t.ok(v.deterministic);
});

const WRITE_MANIFEST = `
import csv, sys, numpy as np, soundfile as sf, pathlib
d = pathlib.Path(sys.argv[1]); (d / 'audio').mkdir(parents=True)
rng = np.random.default_rng(0)
rows = []
for i in range(3):
    sf.write(d / 'audio' / f'x{i}.flac', (0.05 * rng.standard_normal(32000)).astype('float32'), 16000)
    rows.append({'path': f'audio/x{i}.flac', 'label': 'synthetic', 'generator': 'noise', 'speaker': 'x',
                 'source': 'extra-test', 'duration_s': '2.0', 'pair_key': ''})
with open(d / 'manifest.csv', 'w', newline='') as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
`;

t.test('train.py --smoke --extra-synthetic: the rows train, at the asked share', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-extra-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const w = await python(['-c', WRITE_MANIFEST, join(dir, 'extra')]);
  t.equal(w.code, 0, w.stderr);
  const out = join(dir, 'model');
  const r = await python([join(projectRoot, 'training/train.py'), '--smoke', '--out', out, '--cache-dir', join(dir, 'cache'),
    '--extra-synthetic', join(dir, 'extra', 'manifest.csv'), '--extra-share', '0.25'], 580_000);
  t.equal(r.code, 0, `exits 0 ${r.code ? r.stderr.slice(-3000) : ''}`);
  t.match(r.stdout, /extra synthetic: 3 files \(0\.1 min\) .*training split only, sources \['extra-test'\]/);
  t.match(r.stdout, /extra synthetic share of synthetic crops: extra-test 0\.250/);
  const card = JSON.parse(await readFile(join(out, 'card.json'), 'utf8')) as { training: { extra_share: number } };
  t.equal(card.training.extra_share, 0.25);
  const bad = await python([join(projectRoot, 'training/train.py'), '--smoke', '--out', join(dir, 'bad'),
    '--cache-dir', join(dir, 'cache'), '--extra-synthetic', join(dir, 'nope.csv')]);
  t.not(bad.code, 0, 'a missing manifest is an error');
});
