/**
 * Worker-thread entry of the speaker model (speaker-engine.ts is its only user): onnxruntime-node
 * runs `session.run()` on the calling thread (see detect/inference-worker.ts), so live legs embed
 * here and RTP reception never waits on a batch. Protocol: workerData = SpeakerWorkerInit; posts
 * `ready` / `load_failed`, then answers each `run` (buffer transferred both ways) with `done` / `failed`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ModelLoadError } from '../detect/errors.js';
import { embedBatch, loadSpeakerModel, type LoadedSpeakerModel } from './speaker-model.js';
import type { SpeakerCard } from './types.js';

export interface SpeakerWorkerInit {
  modelDir: string;
  intraOpThreads: number;
}

export type ToSpeakerWorker = { type: 'run'; id: number; buffer: ArrayBuffer; rows: number } | { type: 'close' };

export type FromSpeakerWorker =
  | { type: 'ready'; card: SpeakerCard }
  | { type: 'load_failed'; code: string; field?: string; detail: string }
  | { type: 'done'; id: number; buffer: ArrayBuffer; embeddings: Float32Array; inferenceMs: number }
  | { type: 'failed'; id: number; buffer: ArrayBuffer; message: string }
  | { type: 'closed' };

const port = parentPort;
if (!port) throw new Error('speaker-worker.ts must run in a worker thread');
const init = workerData as SpeakerWorkerInit;
const post = (m: FromSpeakerWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

async function run(model: LoadedSpeakerModel, id: number, buffer: ArrayBuffer, rows: number): Promise<void> {
  try {
    const t0 = performance.now();
    const embeddings = await embedBatch(model, new Float32Array(buffer), rows);
    post({ type: 'done', id, buffer, embeddings, inferenceMs: performance.now() - t0 }, [buffer, embeddings.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: 'failed', id, buffer, message: (err as Error).message ?? String(err) }, [buffer]);
  }
}

async function main(): Promise<void> {
  let model: LoadedSpeakerModel;
  try {
    model = await loadSpeakerModel(init.modelDir, init.intraOpThreads);
  } catch (err) {
    const e = err instanceof ModelLoadError ? err : undefined;
    post({ type: 'load_failed', code: e?.code ?? 'unexpected', detail: e?.detail ?? String((err as Error).message ?? err), ...(e?.field ? { field: e.field } : {}) });
    port!.close();
    return;
  }
  let chain: Promise<void> = Promise.resolve();
  port!.on('message', (m: ToSpeakerWorker) => {
    if (m.type === 'run') {
      chain = chain.then(() => run(model, m.id, m.buffer, m.rows));
    } else {
      chain = chain.then(async () => {
        await model.session.release().catch(() => undefined);
        post({ type: 'closed' });
        port!.close();
      });
    }
  });
  post({ type: 'ready', card: model.card as SpeakerCard });
}

void main();
