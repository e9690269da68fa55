/**
 * Starts a worker thread that runs onnxruntime: `<file>.js` beside `base` when the project is built
 * (dist/), else `<file>.ts` through tsx (tests, `tsx src/...`). onnxruntime's telemetry is switched
 * off first, on the main thread (ort-telemetry.ts says why it must be there). Used by the detector's
 * inference engine and the speaker model's engine.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { disableOrtTelemetry } from './ort-telemetry.js';

export function spawnOrtWorker(base: string, file: string, name: string, workerData: unknown): Worker {
  disableOrtTelemetry(); // before the worker's first session reads the environment
  const opts = { workerData, name };
  const js = new URL(`./${file}.js`, base);
  if (existsSync(fileURLToPath(js))) return new Worker(js, opts);
  const ts = new URL(`./${file}.ts`, base).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(boot, { ...opts, eval: true });
}
