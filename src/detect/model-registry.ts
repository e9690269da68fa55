/**
 * Loads one model version from a directory (models/<name>/: card.json + model.onnx), the way
 * Triton's model repository does: the card is validated, the ONNX file must hash to card.sha256,
 * the session's inputs/outputs must match the card, and execution providers come from config
 * (cuda first when configured and loadable, else cpu — always logged). Anything wrong is a
 * ModelLoadError naming the file or field, never a silently wrong score.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ModelLoadError } from './errors.js';
import { disableOrtTelemetry } from './ort-telemetry.js';
import type { ModelCard } from './types.js';

// Sessions created on the main thread (tools, tests) too: no telemetry (ort-telemetry.ts).
disableOrtTelemetry();

export type ExecutionProviderName = 'cuda' | 'cpu';

const nonEmpty = z.string().min(1);

/** zod mirror of ModelCard (types.ts); extra keys (training data, metrics...) are kept. */
const ModelCardSchema = z
  .object({
    name: nonEmpty,
    version: nonEmpty,
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters'),
    file: nonEmpty.refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..', 'must be a file name inside the model directory'),
    input: z.object({
      name: nonEmpty,
      sampleRate: z.number().int().min(1000).max(192000),
      windowSec: z.number().positive().max(10),
      shape: z.tuple([z.union([z.string(), z.number().int()]), z.number().int().positive()]),
    }),
    output: z.object({
      name: nonEmpty,
      meaning: z.enum(['probability_synthetic', 'logit_synthetic']),
    }),
    embedding: z.object({ name: nonEmpty, dim: z.number().int().positive() }).optional(),
    // A learned head (devox learn): scores come from head.json applied to the embedding output.
    head: z
      .object({
        file: nonEmpty.refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..', 'must be a file name inside the model directory'),
        sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters'),
      })
      .optional(),
    // Open interval: the verdict engine works on log-odds, where 0 and 1 are infinite (verdict-policy.ts).
    thresholds: z.object({
      eer: z.number().gt(0).lt(1),
      suspicious: z.number().gt(0).lt(1),
      synthetic: z.number().gt(0).lt(1),
    }),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    const samples = c.input.sampleRate * c.input.windowSec;
    if (Math.abs(samples - c.input.shape[1]) > 1e-6) {
      ctx.addIssue({
        code: 'custom',
        path: ['input', 'shape', 1],
        message: `must equal input.sampleRate * input.windowSec (${samples})`,
      });
    }
    if (c.head && !c.embedding) {
      ctx.addIssue({ code: 'custom', path: ['head'], message: 'a head needs the embedding output it reads (card.embedding)' });
    }
    if (c.thresholds.suspicious > c.thresholds.synthetic) {
      ctx.addIssue({ code: 'custom', path: ['thresholds', 'suspicious'], message: 'must be <= thresholds.synthetic' });
    }
  });

/** The two log calls loading makes (a pino Logger fits; the inference worker forwards them to the main thread). */
export interface ModelLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LoadModelOptions {
  /** In order of preference; default ['cpu']. */
  executionProviders?: readonly ExecutionProviderName[];
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
  intraOpThreads?: number;
  log?: ModelLog;
}

/** One loaded, verified model version. Immutable; release() frees the native session (idempotent). */
export interface LoadedModel {
  readonly dir: string;
  readonly card: Readonly<ModelCard>;
  readonly session: ort.InferenceSession;
  readonly executionProvider: ExecutionProviderName;
  /** Samples per window row (card.input.shape[1]). */
  readonly windowLength: number;
  /** True when the output is a logit and the runtime applies the sigmoid. */
  readonly outputIsLogit: boolean;
  /** The learned head (head.json) that replaces the score output, or null. */
  readonly head: LinearHead | null;
  release(): Promise<void>;
}

/**
 * head.json: a logistic head on the embedding output, written by `devox learn` (src/learn/).
 * score = sigmoid(bias + Σ weights[i] · embedding[i]); the ONNX file (the frozen backbone) is unchanged.
 */
export interface LinearHead {
  readonly weights: Float32Array;
  readonly bias: number;
}

const HeadSchema = z
  .object({
    type: z.literal('logistic'),
    input: nonEmpty,
    dim: z.number().int().positive(),
    weights: z.array(z.number().finite()),
    bias: z.number().finite(),
  })
  .passthrough();

async function readHead(dir: string, card: ModelCard): Promise<LinearHead | null> {
  if (!card.head) return null;
  const bytes = await readBytes(dir, resolve(dir, card.head.file), 'head file');
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== card.head.sha256.toLowerCase()) {
    throw new ModelLoadError('sha256_mismatch', dir, `sha256 of ${card.head.file} is ${digest}, card.json head.sha256 says ${card.head.sha256}`, { field: 'head.sha256' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ModelLoadError('invalid_card', dir, `${card.head.file} is not valid JSON: ${(err as Error).message}`, { cause: err, field: 'head' });
  }
  const h = HeadSchema.safeParse(raw);
  if (!h.success) {
    const issue = h.error.issues[0]!;
    throw new ModelLoadError('invalid_card', dir, `${card.head.file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { field: 'head' });
  }
  const emb = card.embedding!;
  if (h.data.input !== emb.name || h.data.dim !== emb.dim || h.data.weights.length !== emb.dim) {
    throw new ModelLoadError('card_mismatch', dir, `${card.head.file} reads ${h.data.input} [${h.data.weights.length} weights, dim ${h.data.dim}] but the card's embedding is ${emb.name} [${emb.dim}]`, { field: 'head' });
  }
  return { weights: Float32Array.from(h.data.weights), bias: h.data.bias };
}

async function readBytes(dir: string, path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelLoadError('missing_file', dir, `cannot read ${what} ${path}${code ? ` (${code})` : ''}`, {
      cause: err,
      field: what,
    });
  }
}

/** Reads and validates card.json; throws ModelLoadError('invalid_card') naming the first bad field. */
export async function readModelCard(modelDir: string): Promise<ModelCard> {
  const dir = resolve(modelDir);
  const cardPath = resolve(dir, 'card.json');
  const text = (await readBytes(dir, cardPath, 'card.json')).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError('invalid_card', dir, `card.json is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const parsed = ModelCardSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ModelLoadError('invalid_card', dir, `card.json: ${field}: ${issue.message}`, {
      cause: parsed.error,
      field,
    });
  }
  return parsed.data as ModelCard;
}

function isDynamicDim(d: number | string | undefined): boolean {
  return typeof d === 'string' || (typeof d === 'number' && d < 0);
}

function fmtShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'string' ? JSON.stringify(d) : String(d))).join(', ')}]`;
}

/** Checks the session's graph against the card; throws ModelLoadError('card_mismatch'). */
function checkContract(dir: string, card: ModelCard, session: ort.InferenceSession): void {
  const mismatch = (field: string, msg: string): never => {
    throw new ModelLoadError('card_mismatch', dir, `card and ONNX disagree: ${field}: ${msg}`, { field });
  };
  const input = session.inputMetadata.find((m) => m.name === card.input.name);
  if (!input) mismatch('input.name', `graph has no input ${JSON.stringify(card.input.name)} (inputs: ${session.inputNames.join(', ')})`);
  if (session.inputNames.length !== 1) mismatch('input.name', `graph must have exactly one input, has ${session.inputNames.join(', ')}`);
  if (!input!.isTensor || input!.type !== 'float32') mismatch('input.name', 'input must be a float32 tensor');
  const inShape = (input as ort.InferenceSession.TensorValueMetadata).shape;
  if (inShape.length !== 2) mismatch('input.shape', `graph input shape ${fmtShape(inShape)} is not [batch, samples]`);
  if (!isDynamicDim(inShape[0])) mismatch('input.shape', `graph input batch axis ${fmtShape(inShape)} must be dynamic`);
  if (typeof card.input.shape[0] === 'number' && card.input.shape[0] >= 0) {
    mismatch('input.shape', `card batch axis ${card.input.shape[0]} must be dynamic (a name such as "batch")`);
  }
  if (inShape[1] !== card.input.shape[1]) {
    mismatch('input.shape', `graph input ${fmtShape(inShape)} vs card ${fmtShape(card.input.shape)}`);
  }
  const checkOutput = (field: string, name: string, trailing: number | null): void => {
    const out = session.outputMetadata.find((m) => m.name === name);
    if (!out) mismatch(field, `graph has no output ${JSON.stringify(name)} (outputs: ${session.outputNames.join(', ')})`);
    if (!out!.isTensor || out!.type !== 'float32') mismatch(field, `output ${JSON.stringify(name)} must be a float32 tensor`);
    const shape = (out as ort.InferenceSession.TensorValueMetadata).shape;
    // Scores may be [batch] or [batch, 1] (a common export artefact); embeddings [batch, dim].
    const ok =
      trailing === null
        ? (shape.length === 1 && isDynamicDim(shape[0])) || (shape.length === 2 && isDynamicDim(shape[0]) && shape[1] === 1)
        : shape.length === 2 && isDynamicDim(shape[0]) && shape[1] === trailing;
    if (!ok) {
      mismatch(field, `graph output ${JSON.stringify(name)} has shape ${fmtShape(shape)}, expected ${trailing === null ? '[batch]' : `[batch, ${trailing}]`}`);
    }
  };
  checkOutput('output.name', card.output.name, null);
  if (card.embedding) checkOutput('embedding', card.embedding.name, card.embedding.dim);
}

async function createSession(
  dir: string,
  bytes: Uint8Array,
  ep: ExecutionProviderName,
  intraOpThreads: number,
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: [ep],
    intraOpNumThreads: intraOpThreads,
    // One inference at a time per session (the micro-batcher serialises); inter-op parallelism off.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logId: dir,
  });
}

/**
 * Loads and verifies a model directory. Order: card → sha256 of the ONNX bytes → session
 * (execution providers in configured order, falling back with a loud log) → graph vs card.
 */
export async function loadModel(modelDir: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const dir = resolve(modelDir);
  const log = opts.log;
  const card = await readModelCard(dir);
  const onnxPath = resolve(dir, card.file);
  const bytes = await readBytes(dir, onnxPath, 'model file');
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== card.sha256.toLowerCase()) {
    throw new ModelLoadError(
      'sha256_mismatch',
      dir,
      `sha256 of ${card.file} is ${digest}, card.json says ${card.sha256}: the file and card disagree`,
      { field: 'sha256' },
    );
  }

  const wanted = opts.executionProviders && opts.executionProviders.length > 0 ? opts.executionProviders : ['cpu' as const];
  const threads = opts.intraOpThreads ?? 1;
  let session: ort.InferenceSession | undefined;
  let chosen: ExecutionProviderName | undefined;
  let lastErr: unknown;
  for (let i = 0; i < wanted.length && !session; i++) {
    const ep = wanted[i]!;
    try {
      session = await createSession(dir, bytes, ep, threads);
      chosen = ep;
    } catch (err) {
      lastErr = err;
      const next = wanted[i + 1];
      if (ep === 'cuda') {
        // The usual cause: libonnxruntime_providers_cuda.so / CUDA / cuDNN not installed (docs/detector.md).
        log?.warn(
          { modelDir: dir, executionProvider: ep, fallback: next ?? null, reason: (err as Error).message },
          next
            ? 'CUDA execution provider configured but not available: falling back'
            : 'CUDA execution provider configured but not available and no fallback configured',
        );
      }
    }
  }
  if (!session || !chosen) {
    throw new ModelLoadError(
      'onnx_load_failed',
      dir,
      `onnxruntime cannot load ${card.file} with execution providers [${wanted.join(', ')}]: ${(lastErr as Error)?.message ?? 'unknown error'}`,
      { cause: lastErr, field: 'file' },
    );
  }
  let head: LinearHead | null;
  try {
    checkContract(dir, card, session);
    head = await readHead(dir, card);
  } catch (err) {
    await session.release().catch(() => undefined);
    throw err;
  }
  log?.info(
    { modelDir: dir, model: card.name, modelVersion: card.version, executionProvider: chosen, intraOpThreads: threads },
    'model loaded',
  );

  let released: Promise<void> | undefined;
  const s = session;
  return Object.freeze({
    dir,
    card: Object.freeze(card),
    session: s,
    executionProvider: chosen,
    windowLength: card.input.shape[1],
    outputIsLogit: card.output.meaning === 'logit_synthetic',
    head,
    release(): Promise<void> {
      released ??= s.release().catch((err: unknown) => {
        log?.warn({ modelDir: dir, err }, 'releasing onnxruntime session failed');
      });
      return released;
    },
  });
}
