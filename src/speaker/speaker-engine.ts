/**
 * Main-thread handle on the speaker model running in its worker (speaker-worker.ts). One batch
 * in flight at a time; the batch buffer is transferred to the worker and back (no copy, no
 * allocation per batch). A worker that dies or a model that fails to load is a ModelLoadError /
 * an Error from run(), never a silent empty result.
 */
import { Worker } from 'node:worker_threads';
import { ModelLoadError, type ModelLoadErrorCode } from '../detect/errors.js';
import { spawnOrtWorker } from '../detect/ort-worker.js';
import type { FromSpeakerWorker, SpeakerWorkerInit, ToSpeakerWorker } from './speaker-worker.js';
import type { SpeakerCard } from './types.js';


export interface SpeakerRun {
  buffer: ArrayBuffer;
  embeddings: Float32Array;
  inferenceMs: number;
}

export class SpeakerEngine {
  readonly card: Readonly<SpeakerCard>;
  readonly #worker: Worker;
  #next = 0;
  #pending: { id: number; resolve(r: SpeakerRun): void; reject(e: Error): void } | undefined;
  #dead: Error | undefined;
  #closed: Promise<void> | undefined;

  private constructor(worker: Worker, card: SpeakerCard) {
    this.#worker = worker;
    this.card = Object.freeze(card);
    worker.on('message', (m: FromSpeakerWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#die(err));
    worker.on('exit', (code) => this.#die(new Error(`speaker worker exited (code ${code})`)));
  }

  static start(modelDir: string, intraOpThreads = 1): Promise<SpeakerEngine> {
    const init: SpeakerWorkerInit = { modelDir, intraOpThreads };
    const worker = spawnOrtWorker(import.meta.url, 'speaker-worker', 'devox-speaker', init);
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromSpeakerWorker): void => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          worker.off('error', onError);
          resolve(new SpeakerEngine(worker, m.card));
        } else if (m.type === 'load_failed') {
          worker.off('message', onMessage);
          reject(new ModelLoadError(m.code as ModelLoadErrorCode, modelDir, m.detail, m.field ? { field: m.field } : undefined));
        }
      };
      const onError = (err: Error): void => reject(new ModelLoadError('onnx_load_failed', modelDir, `speaker worker failed: ${err.message}`, { cause: err }));
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  get windowLength(): number {
    return this.card.input.shape[1];
  }

  get busy(): boolean {
    return this.#pending !== undefined;
  }

  /** Embeds `rows` windows of `buffer` (transferred: unusable until it comes back in the result). */
  run(buffer: ArrayBuffer, rows: number): Promise<SpeakerRun> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#pending) return Promise.reject(new Error('speaker engine: a batch is already in flight'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending = { id, resolve, reject };
      this.#worker.postMessage({ type: 'run', id, buffer, rows } satisfies ToSpeakerWorker, [buffer]);
    });
  }

  #onMessage(m: FromSpeakerWorker): void {
    const p = this.#pending;
    if ((m.type === 'done' || m.type === 'failed') && p && p.id === m.id) {
      this.#pending = undefined;
      if (m.type === 'done') p.resolve({ buffer: m.buffer, embeddings: m.embeddings, inferenceMs: m.inferenceMs });
      else p.reject(Object.assign(new Error(`speaker inference failed: ${m.message}`), { buffer: m.buffer }));
    }
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (this.#dead) return resolve();
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage({ type: 'close' } satisfies ToSpeakerWorker);
      setTimeout(() => void this.#worker.terminate(), 2000).unref();
    });
    return this.#closed;
  }
}
