/**
 * Main-thread handle on one model version running in its own worker thread
 * (inference-worker.ts explains why a worker). One engine = one model version = one session.
 * The detector keeps one engine at a time and swaps engines between batches.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { InferenceError, InferenceTimeoutError, ModelLoadError } from './errors.js';
import type { FromWorker, ToWorker, WorkerInit } from './inference-worker.js';
import { spawnOrtWorker } from './ort-worker.js';
import type { ExecutionProviderName } from './model-registry.js';
import type { ModelCard } from './types.js';

/** What a run settles with (it never rejects): scores, or the error; the buffer comes back when it can. */
export type BatchOutcome =
  | {
      ok: true;
      /** The batch buffer, handed back by the worker (ownership returns to the caller). */
      buffer: ArrayBuffer;
      /** Probability of "synthetic" per row (sigmoid already applied for logit models). */
      scores: Float32Array;
      inferenceMs: number;
      /** Embedding rows (rows × embeddingDim) when EngineOptions.embeddings asked for them, else null. */
      embeddings: Float32Array | null;
      embeddingDim: number;
    }
  | {
      ok: false;
      error: InferenceError;
      /** Null when the worker died holding it: the caller allocates a replacement. */
      buffer: ArrayBuffer | null;
    };

export interface EngineOptions {
  executionProviders: readonly ExecutionProviderName[];
  intraOpThreads: number;
  /** A run still going after this long is abandoned and the worker terminated (the engine is then dead). */
  inferenceTimeoutMs: number;
  log: Logger;
  /** Hand back the model's embedding output with every batch (features export). */
  embeddings?: boolean;
}

/**
 * The built JS next to this file; or, when running from TS sources (tests, `npx tsx`), a tiny
 * bootstrap that registers tsx in the worker first: tsx's CLI loader does not carry over into
 * worker threads.
 */

interface PendingRun {
  id: number;
  resolve(r: BatchOutcome): void;
  rows: number;
  timer: NodeJS.Timeout;
}

export class InferenceEngine {
  readonly card: Readonly<ModelCard>;
  readonly executionProvider: ExecutionProviderName;
  readonly modelDir: string;
  #worker: Worker;
  #log: Logger;
  #pending: PendingRun | null = null;
  #nextId = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;
  readonly #timeoutMs: number;
  /** Id of a run given up on after a timeout (its late answer is ignored). */
  #abandonedRun = -1;
  #closeSent = false;
  #hasExited = false;
  readonly #exited: Promise<void>;

  private constructor(worker: Worker, modelDir: string, card: ModelCard, ep: ExecutionProviderName, opts: EngineOptions) {
    const log = opts.log;
    this.#timeoutMs = opts.inferenceTimeoutMs;
    this.#worker = worker;
    this.modelDir = modelDir;
    this.card = card;
    this.executionProvider = ep;
    this.#log = log;
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#die(err));
    this.#exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.#hasExited = true;
        if (!this.#closeSent || this.#pending) this.#die(new Error(`inference worker exited (code ${code})`));
        resolve();
      });
    });
  }

  /** Starts a worker, loads and verifies the model there; throws ModelLoadError on any refusal. */
  static async start(modelDir: string, opts: EngineOptions): Promise<InferenceEngine> {
    const init: WorkerInit = {
      modelDir,
      executionProviders: [...opts.executionProviders],
      intraOpThreads: opts.intraOpThreads,
      embeddings: opts.embeddings ?? false,
    };
    const worker = spawnOrtWorker(import.meta.url, 'inference-worker', 'devox-inference', init);
    const log = opts.log;
    const first = await new Promise<FromWorker>((resolve, reject) => {
      const onMessage = (m: FromWorker): void => {
        if (m.type === 'log') {
          log[m.level](m.obj, m.msg);
          return;
        }
        cleanup();
        resolve(m);
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(new ModelLoadError('onnx_load_failed', modelDir, `inference worker failed while loading: ${err.message}`, { cause: err }));
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new ModelLoadError('onnx_load_failed', modelDir, `inference worker exited (code ${code}) while loading`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      if (first.type === 'load_failed') {
        const code = first.code === 'unexpected' ? 'onnx_load_failed' : first.code;
        throw new ModelLoadError(code, modelDir, first.detail, first.field ? { field: first.field } : undefined);
      }
      throw new ModelLoadError('onnx_load_failed', modelDir, `unexpected first message from inference worker: ${first.type}`);
    }
    return new InferenceEngine(worker, modelDir, first.card, first.executionProvider, opts);
  }

  get modelVersion(): string {
    return this.card.version;
  }

  /** The worker died (crash, out of memory); runs are refused and the owner should start a new engine. */
  get dead(): boolean {
    return this.#dead !== null;
  }

  /**
   * Runs `rows` windows held at the start of `buffer` (transferred to the worker, so the
   * caller must not touch it until the promise settles; it comes back in the result).
   * One run at a time.
   */
  run(buffer: ArrayBuffer, rows: number): Promise<BatchOutcome> {
    const refuse = (cause: Error): Promise<BatchOutcome> =>
      Promise.resolve({ ok: false, error: new InferenceError(this.modelVersion, rows, { cause }), buffer });
    if (this.#dead) return refuse(this.#dead);
    if (this.#closed) return refuse(new Error('engine closed'));
    if (this.#pending) return refuse(new Error('a batch is already in flight on this engine'));
    const id = this.#nextId++;
    return new Promise<BatchOutcome>((resolve) => {
      const timer = setTimeout(() => this.#timedOut(id), this.#timeoutMs);
      this.#pending = { id, resolve, rows, timer };
      const msg: ToWorker = { type: 'run', id, buffer, rows };
      this.#worker.postMessage(msg, [buffer]);
    });
  }

  #onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'log':
        this.#log[m.level](m.obj, m.msg);
        return;
      case 'done':
      case 'failed': {
        if (m.id === this.#abandonedRun) {
          this.#log.warn({ modelVersion: this.modelVersion, runId: m.id }, 'abandoned batch finished; its worker now exits');
          return;
        }
        const p = this.#pending;
        if (!p || p.id !== m.id) {
          this.#log.error({ modelVersion: this.modelVersion, runId: m.id }, 'inference worker answered an unknown batch');
          return;
        }
        this.#pending = null;
        clearTimeout(p.timer);
        if (m.type === 'done') p.resolve({ ok: true, buffer: m.buffer, scores: m.scores, inferenceMs: m.inferenceMs, embeddings: m.embeddings, embeddingDim: m.embeddingDim });
        else {
          const error = new InferenceError(this.modelVersion, p.rows, { cause: new Error(m.message) });
          p.resolve({ ok: false, error, buffer: m.buffer });
        }
        return;
      }
      default:
        return;
    }
  }

  /**
   * A wedged or pathologically slow batch: give up on it so the detector can start another worker.
   * The worker is NOT terminated: a native onnxruntime call cannot be interrupted, and tearing the
   * thread down under it makes the addon abort the whole process when the call returns. Instead the
   * worker is asked to close, which it does once the call returns; its late answer is ignored.
   */
  #timedOut(id: number): void {
    const p = this.#pending;
    if (!p || p.id !== id || this.#dead) return;
    const err = new InferenceTimeoutError(this.modelVersion, p.rows, this.#timeoutMs);
    this.#pending = null;
    this.#dead = err;
    this.#abandonedRun = id;
    this.#log.error(
      { modelVersion: this.modelVersion, modelDir: this.modelDir, rows: p.rows, timeoutMs: this.#timeoutMs },
      'inference timed out: abandoning the worker',
    );
    p.resolve({ ok: false, error: err, buffer: null });
    this.#askToClose();
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    this.#log.error({ modelVersion: this.modelVersion, modelDir: this.modelDir, err }, 'inference worker died');
    const p = this.#pending;
    this.#pending = null;
    if (p) clearTimeout(p.timer);
    p?.resolve({ ok: false, error: new InferenceError(this.modelVersion, p.rows, { cause: err }), buffer: null });
  }

  #askToClose(): void {
    if (this.#closeSent || this.#hasExited) return;
    this.#closeSent = true;
    const msg: ToWorker = { type: 'close' };
    this.#worker.postMessage(msg);
  }

  /**
   * Lets the batch in flight finish, releases the session and waits for the worker to exit by
   * itself. Only a worker still busy after `graceMs` is terminated (last resort, see #timedOut).
   * Idempotent.
   */
  close(graceMs = Math.max(10_000, 2 * this.#timeoutMs)): Promise<void> {
    this.#closed ??= (async () => {
      this.#askToClose();
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([
        this.#exited.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (gaveUp) {
        this.#log.error({ modelVersion: this.modelVersion, modelDir: this.modelDir, graceMs }, 'inference worker did not exit: terminating it');
        await this.#worker.terminate();
      }
    })();
    return this.#closed;
  }
}
