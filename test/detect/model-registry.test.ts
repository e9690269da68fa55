/**
 * Model loading against real ONNX files: the tiny fixtures, and copies of them with one thing
 * broken each. Every refusal must be a ModelLoadError with its code and the field named.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import t, { type Test } from 'tap';
import { ModelLoadError } from '../../src/detect/errors.js';
import { loadModel, readModelCard } from '../../src/detect/model-registry.js';
import type { ModelCard } from '../../src/detect/types.js';
import { modelVariant, speech } from './support.js';
import { captureLog } from '../helpers/capture.js';
import { EMBEDDING_MODEL, TINY_LOGIT_MODEL, TINY_MODEL } from '../helpers/fixture-paths.js';
import { NEEDS_SHARED_SPEECH } from '../helpers/shared-data.js';

async function refusal(t: Test, dir: string, code: string, field: RegExp | undefined, message: RegExp): Promise<void> {
  try {
    const m = await loadModel(dir);
    await m.release();
    t.fail(`expected ModelLoadError ${code}`);
  } catch (err) {
    t.ok(err instanceof ModelLoadError, `a ModelLoadError (${(err as Error).message})`);
    const e = err as ModelLoadError;
    t.equal(e.code, code, 'code');
    if (field) t.match(e.field ?? '', field, 'field named');
    t.match(e.message, message, 'message says what is wrong');
    t.match(e.message, dir, 'message names the model directory');
  }
}

t.test('tiny model loads, card and graph agree, scores vary with input', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const { log, lines } = captureLog();
  const m = await loadModel(TINY_MODEL, { log });
  t.equal(m.card.input.name, 'audio');
  t.equal(m.windowLength, 16000);
  t.equal(m.executionProvider, 'cpu');
  t.equal(m.outputIsLogit, false);
  const loaded = lines.find((l) => l.msg === 'model loaded');
  t.equal(loaded?.executionProvider, 'cpu', 'chosen execution provider is logged');
  t.equal(loaded?.modelVersion, 'tiny-1');

  const audio = await speech();
  const x = new Float32Array(3 * 16000);
  x.set(audio.subarray(16000, 32000), 0);
  for (let i = 16000; i < 32000; i++) x[i] = Math.sin(i * 0.05) * 0.3; // low tone: dull
  for (let i = 32000; i < 48000; i++) x[i] = ((i * 7919) % 200) / 100 - 1; // sawtooth noise: bright
  const out = await m.session.run({ audio: new ort.Tensor('float32', x, [3, 16000]) });
  const p = out.prob_synthetic!.data as Float32Array;
  t.equal(p.length, 3);
  for (const v of p) t.ok(v > 0 && v < 1, `probability in (0,1): ${v}`);
  t.ok(p[1]! < p[0]! && p[0]! < p[2]!, `tone < speech < noise (${Array.from(p).join(', ')})`);
  await m.release();
  await m.release(); // idempotent
});

t.test('logit_synthetic card: runtime applies the sigmoid (same numbers as the probability model)', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const prob = await loadModel(TINY_MODEL);
  const logit = await loadModel(TINY_LOGIT_MODEL);
  t.equal(logit.outputIsLogit, true);
  const audio = await speech();
  const x = audio.slice(0, 4 * 16000);
  const feed = { audio: new ort.Tensor('float32', x, [4, 16000]) };
  const p = (await prob.session.run(feed)).prob_synthetic!.data as Float32Array;
  const z = (await logit.session.run(feed)).prob_synthetic!.data as Float32Array;
  for (let i = 0; i < 4; i++) t.ok(Math.abs(1 / (1 + Math.exp(-z[i]!)) - p[i]!) < 1e-5, `row ${i}: sigmoid(logit) = prob`);
  await prob.release();
  await logit.release();
});

t.test('refusals', async (t) => {
  const dirs: string[] = [];
  const variant = async (...a: Parameters<typeof modelVariant>): Promise<string> => {
    const d = await modelVariant(...a);
    dirs.push(d);
    return d;
  };
  t.teardown(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  await t.test('missing directory / card.json', async (t) => {
    await refusal(t, '/nonexistent/devox-model', 'missing_file', /card\.json/, /cannot read card\.json.*ENOENT/);
  });

  await t.test('missing model file', async (t) => {
    const d = await variant(() => undefined);
    await unlink(join(d, 'model.onnx'));
    await refusal(t, d, 'missing_file', /model file/, /cannot read model file .*model\.onnx.*ENOENT/);
  });

  await t.test('card.json is not JSON', async (t) => {
    const d = await variant(() => undefined);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(d, 'card.json'), '{ "name": ');
    await refusal(t, d, 'invalid_card', undefined, /card\.json is not valid JSON/);
  });

  // Test seam: these cards are broken on purpose, so the edits write what ModelCard's type rules
  // out through an untyped view of the parsed card.json.
  const raw = (c: ModelCard) => c as unknown as { output: Record<string, unknown>; [field: string]: unknown };
  const cardCases: Array<[string, (c: ModelCard) => void, RegExp]> = [
    ['missing output.name', (c) => delete raw(c).output.name, /^output\.name$/],
    ['bad output.meaning', (c) => (raw(c).output.meaning = 'score'), /^output\.meaning$/],
    ['missing thresholds', (c) => delete raw(c).thresholds, /^thresholds$/],
    ['threshold out of range', (c) => (c.thresholds.synthetic = 1.5), /^thresholds\.synthetic$/],
    // 0 and 1 are infinite log-odds: such a card used to load and then fail every stream.
    ['threshold exactly 1', (c) => (c.thresholds.synthetic = 1), /^thresholds\.synthetic$/],
    ['threshold exactly 0', (c) => (c.thresholds.suspicious = 0), /^thresholds\.suspicious$/],
    ['suspicious above synthetic', (c) => (c.thresholds.suspicious = 0.9), /^thresholds\.suspicious$/],
    ['sha256 not hex', (c) => (c.sha256 = 'abc'), /^sha256$/],
    ['window length disagrees with rate × seconds', (c) => (c.input.windowSec = 0.5), /^input\.shape\.1$/],
    ['file escapes the directory', (c) => (c.file = '../model.onnx'), /^file$/],
  ];
  for (const [name, edit, field] of cardCases) {
    await t.test(`invalid card: ${name}`, async (t) => {
      const d = await variant(edit);
      await refusal(t, d, 'invalid_card', field, new RegExp(`card\\.json: ${field.source.replace(/[\^$]/g, '')}`));
    });
  }

  await t.test('sha256 mismatch (card and file disagree)', async (t) => {
    const d = await variant((c) => (c.sha256 = '0'.repeat(64)));
    await refusal(t, d, 'sha256_mismatch', /^sha256$/, /sha256 of model\.onnx is [0-9a-f]{64}, card\.json says 0{64}/);
  });

  await t.test('corrupt ONNX whose sha256 matches the card', async (t) => {
    const garbage = new TextEncoder().encode('this is not a protobuf model at all');
    const d = await variant((c) => (c.sha256 = createHash('sha256').update(garbage).digest('hex')), { onnx: garbage });
    await refusal(t, d, 'onnx_load_failed', /^file$/, /onnxruntime cannot load model\.onnx/);
  });

  await t.test('truncated ONNX', async (t) => {
    const bytes = (await readFile(join(TINY_MODEL, 'model.onnx'))).subarray(0, 300);
    const d = await variant((c) => (c.sha256 = createHash('sha256').update(bytes).digest('hex')), { onnx: bytes });
    await refusal(t, d, 'onnx_load_failed', /^file$/, /onnxruntime cannot load/);
  });

  await t.test('input name mismatch', async (t) => {
    const d = await variant((c) => (c.input.name = 'waveform'));
    await refusal(t, d, 'card_mismatch', /^input\.name$/, /graph has no input "waveform" \(inputs: audio\)/);
  });

  await t.test('input shape mismatch', async (t) => {
    const d = await variant((c) => {
      c.input.sampleRate = 8000;
      c.input.windowSec = 1;
      c.input.shape = ['batch', 8000];
    });
    await refusal(t, d, 'card_mismatch', /^input\.shape$/, /graph input \["batch", 16000\] vs card \["batch", 8000\]/);
  });

  await t.test('fixed batch axis in the card', async (t) => {
    const d = await variant((c) => (c.input.shape = [1, 16000]));
    await refusal(t, d, 'card_mismatch', /^input\.shape$/, /batch axis 1 must be dynamic/);
  });

  await t.test('output name mismatch', async (t) => {
    const d = await variant((c) => (c.output.name = 'scores'));
    await refusal(t, d, 'card_mismatch', /^output\.name$/, /graph has no output "scores" \(outputs: prob_synthetic\)/);
  });

  await t.test('embedding dimension differs from the card', async (t) => {
    const d = await variant((c) => (c.embedding!.dim = 128), { from: EMBEDDING_MODEL });
    await refusal(t, d, 'card_mismatch', /^embedding$/, /graph output "embedding" has shape \["batch", 2\], expected \[batch, 128\]/);
  });

  await t.test('declared embedding missing from the graph', async (t) => {
    const d = await variant((c) => (c.embedding = { name: 'embedding', dim: 128 }));
    await refusal(t, d, 'card_mismatch', /^embedding$/, /graph has no output "embedding"/);
  });
});

t.test('execution providers: cuda configured on a machine without it falls back to cpu, loudly', async (t) => {
  const { log, lines } = captureLog();
  const m = await loadModel(TINY_MODEL, { executionProviders: ['cuda', 'cpu'], log });
  t.equal(m.executionProvider, 'cpu', 'cpu chosen');
  const warn = lines.find((l) => l.level === 40 && l.executionProvider === 'cuda');
  t.ok(warn, 'a warning about cuda');
  t.match(String(warn?.msg), /CUDA execution provider configured but not available: falling back/);
  t.equal(warn?.fallback, 'cpu');
  t.match(String(warn?.reason), /Cuda|CUDA|shared library|providers/i, 'the reason from onnxruntime is logged');
  t.equal(lines.find((l) => l.msg === 'model loaded')?.executionProvider, 'cpu', 'chosen provider logged');
  await m.release();

  // cuda alone: nothing to fall back to → clear refusal.
  const only = captureLog();
  await t.rejects(loadModel(TINY_MODEL, { executionProviders: ['cuda'], log: only.log }), {
    name: 'ModelLoadError',
    code: 'onnx_load_failed',
    message: /with execution providers \[cuda\]/,
  });
  t.ok(only.lines.some((l) => l.msg === 'CUDA execution provider configured but not available and no fallback configured'));
});

t.test('a model with an embedding output loads; its score output is the same as without', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const plain = await loadModel(TINY_MODEL);
  const emb = await loadModel(EMBEDDING_MODEL);
  t.same(emb.card.embedding, { name: 'embedding', dim: 2 });
  const x = (await speech()).slice(0, 3 * 16000);
  const feed = { audio: new ort.Tensor('float32', x, [3, 16000]) };
  const a = (await plain.session.run(feed)).prob_synthetic!.data as Float32Array;
  const out = await emb.session.run(feed);
  t.same(Array.from(out.prob_synthetic!.data as Float32Array), Array.from(a));
  t.same(out.embedding!.dims, [3, 2]);
  await plain.release();
  await emb.release();
});

t.test('readModelCard keeps extra card fields', async (t) => {
  const card = await readModelCard(TINY_MODEL);
  t.equal(card.name, 'devox-tiny');
  t.type(card.description, 'string');
  t.same(card.input.shape, ['batch', 16000]);
});
