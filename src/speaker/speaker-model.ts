/**
 * Loads the speaker-embedding model (models/devox-speaker: card.json + model.onnx) the way
 * detect/model-registry.ts loads the detector: the card is validated, the ONNX bytes must hash
 * to card.sha256, the graph must take `audio` [batch, samples] and give `embedding` [batch, dim].
 * Anything wrong is a ModelLoadError naming the field.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ModelLoadError } from '../detect/errors.js';
import type { SpeakerCard } from './types.js';

const nonEmpty = z.string().min(1);
const cosine = z.number().gt(-1).lt(1);

const SpeakerCardSchema = z
  .object({
    name: nonEmpty,
    version: nonEmpty,
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters'),
    file: nonEmpty.refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..', 'must be a file name inside the model directory'),
    kind: z.literal('speaker_embedding'),
    input: z.object({
      name: nonEmpty,
      sampleRate: z.number().int().min(1000).max(192000),
      windowSec: z.number().positive().max(10),
      shape: z.tuple([z.union([z.string(), z.number().int()]), z.number().int().positive()]),
    }),
    output: z.object({ name: nonEmpty, dim: z.number().int().positive(), normalized: z.boolean() }),
    thresholds: z.object({ eer: cosine, far1: cosine, enrolConsistency: cosine }),
  })
  .passthrough();

async function readBytes(dir: string, path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelLoadError('missing_file', dir, `cannot read ${what} ${path}${code ? ` (${code})` : ''}`, { cause: err, field: what });
  }
}

export async function readSpeakerCard(modelDir: string): Promise<SpeakerCard> {
  const dir = resolve(modelDir);
  const text = (await readBytes(dir, resolve(dir, 'card.json'), 'card.json')).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError('invalid_card', dir, `card.json is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = SpeakerCardSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ModelLoadError('invalid_card', dir, `card.json: ${field}: ${issue.message}`, { cause: parsed.error, field });
  }
  return parsed.data as SpeakerCard;
}

export interface LoadedSpeakerModel {
  readonly dir: string;
  readonly card: Readonly<SpeakerCard>;
  readonly session: ort.InferenceSession;
  /** Samples per window row. */
  readonly windowLength: number;
  readonly dim: number;
}

/** Loads and verifies a speaker model directory (card → sha256 → session → graph vs card). */
export async function loadSpeakerModel(modelDir: string, intraOpThreads = 1): Promise<LoadedSpeakerModel> {
  const dir = resolve(modelDir);
  const card = await readSpeakerCard(dir);
  const bytes = await readBytes(dir, resolve(dir, card.file), 'model file');
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== card.sha256.toLowerCase()) {
    throw new ModelLoadError('sha256_mismatch', dir, `sha256 of ${card.file} is ${digest}, card.json says ${card.sha256}`, { field: 'sha256' });
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new ModelLoadError('onnx_load_failed', dir, `onnxruntime cannot load ${card.file}: ${(err as Error).message}`, { cause: err, field: 'file' });
  }
  const input = session.inputMetadata.find((m) => m.name === card.input.name);
  const output = session.outputMetadata.find((m) => m.name === card.output.name);
  const outShape = output && output.isTensor ? (output as ort.InferenceSession.TensorValueMetadata).shape : [];
  if (!input || !output || outShape.length !== 2 || outShape[1] !== card.output.dim) {
    await session.release().catch(() => undefined);
    throw new ModelLoadError('card_mismatch', dir, `card and ONNX disagree: expected ${card.input.name} -> ${card.output.name} [batch, ${card.output.dim}]`, { field: 'output' });
  }
  return Object.freeze({ dir, card: Object.freeze(card), session, windowLength: card.input.shape[1], dim: card.output.dim });
}

/** Embeds `rows` windows laid out in `input` (rows × windowLength); returns rows × dim unit vectors. */
export async function embedBatch(model: LoadedSpeakerModel, input: Float32Array, rows: number): Promise<Float32Array> {
  const len = model.windowLength;
  const tensor = new ort.Tensor('float32', input.subarray(0, rows * len), [rows, len]);
  const out = await model.session.run({ [model.card.input.name]: tensor });
  const t = out[model.card.output.name]!;
  const data = Float32Array.from(t.data as Float32Array);
  for (const name of Object.keys(out)) out[name]!.dispose();
  if (data.length !== rows * model.dim) throw new Error(`speaker model gave ${data.length} values for ${rows} rows`);
  return data;
}
