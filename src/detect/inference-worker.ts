/**
 * Worker-thread entry: owns one verified onnxruntime session and runs batches on it.
 *
 * Why a worker: in onnxruntime-node 1.29 `session.run()` returns a Promise but does the work
 * synchronously on the calling thread (its backend wraps the native call in setImmediate), so a
 * 20 ms batch would stall RTP reception for 20 ms. Here the main thread only copies windows and
 * posts messages; inference blocks this thread instead.
 *
 * Protocol (see inference-engine.ts, the only user): workerData = WorkerInit. The worker loads
 * and verifies the model (model-registry.ts), posts `ready` or `load_failed`, then answers each
 * `run` (batch buffer transferred in, zero-copy) with `done` / `failed` (buffer transferred back).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { ModelLoadError } from './errors.js';
import { loadModel, type ExecutionProviderName, type LoadedModel } from './model-registry.js';
import type { ModelCard } from './types.js';

export interface WorkerInit {
  modelDir: string;
  executionProviders: ExecutionProviderName[];
  intraOpThreads: number;
  /** Also fetch the card's embedding output and hand it back with the scores (features export). */
  embeddings: boolean;
}

export type ToWorker = { type: 'run'; id: number; buffer: ArrayBuffer; rows: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; card: ModelCard; executionProvider: ExecutionProviderName }
  | { type: 'load_failed'; code: ModelLoadError['code'] | 'unexpected'; field?: string; detail: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; obj: object; msg: string }
  | { type: 'done'; id: number; buffer: ArrayBuffer; scores: Float32Array; inferenceMs: number; embeddings: Float32Array | null; embeddingDim: number }
  | { type: 'failed'; id: number; buffer: ArrayBuffer; message: string }
  | { type: 'closed' };

const port = parentPort;
if (!port) throw new Error('inference-worker.ts must run in a worker thread');

const init = workerData as WorkerInit;
const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
const log = {
  info: (obj: object, msg: string) => post({ type: 'log', level: 'info', obj, msg }),
  warn: (obj: object, msg: string) => post({ type: 'log', level: 'warn', obj, msg }),
};

function sigmoidInPlace(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = 1 / (1 + Math.exp(-a[i]!));
}

/** A learned head (head.json) on the embedding rows: score = sigmoid(bias + w · e). */
function applyHead(head: NonNullable<LoadedModel['head']>, emb: Float32Array, rows: number, dim: number): Float32Array {
  const scores = new Float32Array(rows);
  const w = head.weights;
  for (let r = 0; r < rows; r++) {
    let z = head.bias;
    const o = r * dim;
    for (let i = 0; i < dim; i++) z += w[i]! * emb[o + i]!;
    scores[r] = 1 / (1 + Math.exp(-z));
  }
  return scores;
}

async function runBatch(model: LoadedModel, id: number, buffer: ArrayBuffer, rows: number): Promise<void> {
  const len = model.windowLength;
  const embName = model.card.embedding?.name;
  const dim = model.card.embedding?.dim ?? 0;
  // The embedding is fetched only when a head reads it or features are exported.
  const wantEmb = embName !== undefined && (model.head !== null || init.embeddings);
  try {
    const input = new ort.Tensor('float32', new Float32Array(buffer, 0, rows * len), [rows, len]);
    const fetches = model.head ? [embName!] : wantEmb ? [model.card.output.name, embName!] : [model.card.output.name];
    const t0 = performance.now();
    const out = await model.session.run({ [model.card.input.name]: input }, fetches);
    const inferenceMs = performance.now() - t0;
    let embeddings: Float32Array | null = null;
    if (wantEmb) {
      const e = out[embName!];
      if (!e || !(e.data instanceof Float32Array) || e.data.length !== rows * dim) {
        throw new Error(`output ${embName} has ${e?.data.length ?? 0} values for ${rows} rows of ${dim}`);
      }
      embeddings = Float32Array.from(e.data);
    }
    let scores: Float32Array;
    if (model.head) {
      scores = applyHead(model.head, embeddings!, rows, dim);
    } else {
      const tensor = out[model.card.output.name];
      if (!tensor || !(tensor.data instanceof Float32Array) || tensor.data.length !== rows) {
        throw new Error(`output ${model.card.output.name} has ${tensor?.data.length ?? 0} values for ${rows} rows`);
      }
      // Copy: the output tensor's memory belongs to onnxruntime.
      scores = Float32Array.from(tensor.data);
      if (model.outputIsLogit) sigmoidInPlace(scores);
    }
    for (const name of Object.keys(out)) out[name]!.dispose();
    const transfer = [buffer, scores.buffer as ArrayBuffer];
    if (embeddings && init.embeddings) transfer.push(embeddings.buffer as ArrayBuffer);
    post({ type: 'done', id, buffer, scores, inferenceMs, embeddings: init.embeddings ? embeddings : null, embeddingDim: dim }, transfer);
  } catch (err) {
    post({ type: 'failed', id, buffer, message: (err as Error).message ?? String(err) }, [buffer]);
  }
}

async function main(): Promise<void> {
  let model: LoadedModel;
  try {
    model = await loadModel(init.modelDir, {
      executionProviders: init.executionProviders,
      intraOpThreads: init.intraOpThreads,
      log,
    });
  } catch (err) {
    if (err instanceof ModelLoadError) {
      post({ type: 'load_failed', code: err.code, detail: err.detail, ...(err.field ? { field: err.field } : {}) });
    } else {
      post({ type: 'load_failed', code: 'unexpected', detail: (err as Error).message ?? String(err) });
    }
    port!.close();
    return;
  }
  // Batches arrive one at a time (the micro-batcher keeps one in flight); run them in order.
  let chain: Promise<void> = Promise.resolve();
  port!.on('message', (m: ToWorker) => {
    if (m.type === 'run') {
      chain = chain.then(() => runBatch(model, m.id, m.buffer, m.rows));
    } else if (m.type === 'close') {
      chain = chain.then(async () => {
        await model.release();
        post({ type: 'closed' });
        port!.close();
      });
    }
  });
  post({ type: 'ready', card: model.card as ModelCard, executionProvider: model.executionProvider });
}

void main();
