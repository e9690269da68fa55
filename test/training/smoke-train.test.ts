/**
 * Smoke train: `python3 training/train.py --smoke` runs the whole pipeline (readers -> splits -> cache with
 * Opus via ffmpeg -> augmented training -> ONNX export -> evaluation -> card) on a tiny subset of the shared data
 * into a temp dir, and the card it writes is the runtime contract (src/detect/types.ts ModelCard) for the model
 * next to it, loaded with onnxruntime-node.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t from 'tap';
import type { ModelCard } from '../../src/detect/types.js';
import { projectRoot, python } from './python.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

// ~1 min on an idle 2-core machine; several times that while other jobs share the CPU
t.setTimeout(600_000);

/** The smoke train reads the shared corpus. */
const skip = NEEDS_SHARED_SPEECH;

/** What train.py writes into card.json beyond the runtime's ModelCard (the fields read here). */
interface TrainedCard extends ModelCard {
  params: number;
  flops: { per_window_mflops: number };
  inference: Record<'batch1' | 'batch64', { ms_per_window: number }>;
  git_commit: string;
  created: string;
  metrics: { test: Record<string, { overall: { window_eer_pct: number } }> };
  training: { smoke: boolean; seed: number; history: Array<{ step: number }>; best_step: number; select_from: number };
  splits: { seed: number };
}

t.test('smoke train writes a loadable model and a card matching ModelCard', { timeout: 600_000, skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-smoke-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'model');
  const r = await python([join(projectRoot, 'training/train.py'), '--smoke', '--out', out, '--cache-dir', join(dir, 'cache'),
    '--select-from', '0.75'], 580_000);
  t.equal(r.code, 0, `train.py --smoke exits 0 ${r.code ? r.stderr.slice(-3000) : ''}`);
  t.match(r.stdout, /export parity on \d+ dev windows: max \|torch - onnxruntime\| = /);

  const card = JSON.parse(await readFile(join(out, 'card.json'), 'utf8')) as TrainedCard;
  const onnx = await readFile(join(out, card.file));
  t.equal(card.sha256, createHash('sha256').update(onnx).digest('hex'), 'sha256 is that of model.onnx');
  t.equal(card.file, 'model.onnx');
  t.same(card.input, { name: 'audio', sampleRate: 16000, windowSec: 1, shape: ['batch', 16000] });
  t.same(card.output, { name: 'prob_synthetic', meaning: 'probability_synthetic' });
  t.same(card.embedding, { name: 'embedding', dim: 64 });
  const th = card.thresholds;
  t.ok(th.suspicious < th.eer && th.eer < th.synthetic, `thresholds ordered ${JSON.stringify(th)}`);
  t.ok(th.suspicious >= 0 && th.synthetic <= 1);
  t.ok(card.params > 1000 && card.params < 1_000_000, `${card.params} parameters (budget 1 M)`);
  t.ok(card.flops.per_window_mflops > 1 && card.flops.per_window_mflops <= 50, `${card.flops.per_window_mflops} MFLOPs (budget 50)`);
  t.ok(card.inference.batch1.ms_per_window > 0 && card.inference.batch64.ms_per_window > 0, 'inference timing in the card');
  t.type(card.git_commit, 'string');
  t.type(card.created, 'string');
  for (const cond of ['wideband', 'g711_ulaw']) t.type(card.metrics.test[cond]?.overall.window_eer_pct, 'number', `${cond} EER computed`);
  t.ok(card.training.smoke, 'card says it is a smoke model');
  // dev is evaluated at steps 3 and 6; with --select-from 0.75 only step 6 may be chosen, whatever its dev EER
  t.same(card.training.history.map((h) => h.step), [3, 6]);
  t.equal(card.training.best_step, 6, 'no checkpoint before 75 % of the steps is selected');
  t.equal(card.training.select_from, 0.75);
  t.ok(existsSync(join(out, 'README.md')), 'model card README written');

  const session = await ort.InferenceSession.create(join(out, 'model.onnx'), { executionProviders: ['cpu'] });
  t.teardown(() => session.release());
  t.same(session.inputNames, ['audio']);
  t.same(session.outputNames, ['prob_synthetic', 'embedding']);
  const x = new Float32Array(3 * 16000);
  for (let i = 0; i < x.length; i++) x[i] = 0.1 * Math.sin(i * 0.05 * (1 + Math.floor(i / 16000)));
  const res = await session.run({ audio: new ort.Tensor('float32', x, [3, 16000]) });
  t.same([...res.prob_synthetic!.dims], [3], 'dynamic batch of 3 -> [3]');
  t.same([...res.embedding!.dims], [3, 64]);
  for (const v of res.prob_synthetic!.data as Float32Array) t.ok(v >= 0 && v <= 1, `probability ${v}`);
});

t.test('train.py refuses bad options at once, before decoding anything', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--widths', '16,32'], /--widths must be 5 positive integers \(stem \+ 4 blocks\), not '16,32'/],
    [['--widths', 'a,b,c,d,e'], /--widths must be 5 comma-separated integers/],
    [['--clean-crops', '1.5'], /--clean-crops must be a fraction in \[0, 1\], not 1.5/],
    [['--select-from', '-0.1'], /--select-from must be a fraction in \[0, 1\]/],
    [['--g711', '0.7'], /--g711 0.7, --opus 0.25, --mobile 0.0, --lace 0.0 and --amrwb 0.0 must be probabilities that leave room for band-limit 0.15/],
    [['--g711', '0.5', '--opus', '0.4'], /--g711 0.5, --opus 0.4, --mobile 0.0, --lace 0.0 and --amrwb 0.0 must be probabilities/],
    [['--g711', '0.5', '--mobile', '0.6'], /--g711 0.5, --opus 0.25, --mobile 0.6, --lace 0.0 and --amrwb 0.0 must be probabilities/],
    [['--g711', '0.5', '--opus', '0', '--lace', '0.6'], /--g711 0.5, --opus 0.0, --mobile 0.0, --lace 0.6 and --amrwb 0.0 must be probabilities/],
    [['--g711', '0.5', '--opus', '0', '--amrwb', '0.6'], /--g711 0.5, --opus 0.0, --mobile 0.0, --lace 0.0 and --amrwb 0.6 must be probabilities/],
    [['--amrwb-tandem', '2'], /--amrwb-tandem must be a fraction in \[0, 1\], not 2.0/],
    [['--denoise', '1.5'], /--denoise must be a fraction in \[0, 1\], not 1.5/],
    [['--pair-speed', '-0.5'], /--pair-speed must be a fraction in \[0, 1\], not -0.5/],
    [['--speed-range', 'huge'], /--speed-range: invalid choice: 'huge'/],
    [['--weight-decay', '-1'], /--weight-decay must be in \[0, 1\/lr\), not -1.0/],
    [['--mixup', '0.4', '--head', 'oc'], /--mixup must be >= 0 and cannot go with --head oc, --pairs or --adversary \(got --mixup 0.4\)/],
    [['--mixup', '-1'], /--mixup must be >= 0/],
    [['--fmin', '5000', '--fmax', '4000'], /--fmin must be in \[0, --fmax\), not 5000.0/],
    [['--vtlp', '1.5'], /--vtlp must be a fraction in \[0, 1\], not 1.5/],
    [['--vtlp', '0.5', '--phase'], /--vtlp cannot go with --phase/],
  ];
  for (const [args, msg] of cases) {
    const r = await python([join(projectRoot, 'training/train.py'), ...args, '--out', join(tmpdir(), 'devox-never-written')], 60_000);
    t.equal(r.code, 2, `${args.join(' ')}: usage error`);
    t.match(r.stderr, msg);
    t.notOk(existsSync(join(tmpdir(), 'devox-never-written')), 'nothing written');
  }
  // A forgotten --out must not replace the shipped model with a differently versioned one.
  const shipped = join(projectRoot, 'models/devox-phone/card.json');
  const before = readFileSync(shipped, 'utf8');
  const r = await python([join(projectRoot, 'training/train.py'), '--steps', '1'], 60_000);
  t.equal(r.code, 2, 'train.py with no --out, over the shipped model: usage error');
  t.match(r.stderr, /models\/devox-phone already holds devox-phone \S+; this run would write devox-phone 0\.0\.0-dev\. Give another --out, or --overwrite/);
  t.equal(readFileSync(shipped, 'utf8'), before, 'shipped card untouched');
});

t.test('--seed varies training only when --split-seed holds the split', { timeout: 600_000, skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-seeds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const runs: Array<{ card: TrainedCard; files: string[] }> = [];
  for (const seed of ['5', '6']) {
    const out = join(dir, `s${seed}`);
    const r = await python([join(projectRoot, 'training/train.py'), '--smoke', '--seed', seed, '--split-seed', '1337',
      '--out', out, '--cache-dir', join(dir, 'cache')], 580_000);
    t.equal(r.code, 0, `seed ${seed} ${r.code ? r.stderr.slice(-2000) : ''}`);
    const card = JSON.parse(await readFile(join(out, 'card.json'), 'utf8')) as TrainedCard;
    const scores = JSON.parse(await readFile(join(out, 'file_scores.json'), 'utf8')) as Record<string, Record<string, number>>;
    runs.push({ card, files: Object.keys(scores.wideband!).sort() });
  }
  const [a, b] = runs as [(typeof runs)[number], (typeof runs)[number]];
  t.equal(a.card.splits.seed, 1337);
  t.equal(b.card.splits.seed, 1337);
  t.same(a.files, b.files, 'the same test files');
  t.ok(a.files.length > 0);
  t.same([a.card.training.seed, b.card.training.seed], [5, 6]);
  t.not(JSON.stringify(a.card.training.history), JSON.stringify(b.card.training.history), 'but a different training run');
});
