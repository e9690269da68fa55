/**
 * Worker-thread entry (loaded by boot.mjs once tsx and the istanbul hook are installed): runs the
 * fuzz loop for one target and reports to supervisor.ts. Before each execution the input and the
 * execution count go to shared memory, so a parent that sees the count stop moving (a synchronous
 * endless loop never returns to this thread's event loop) can name the input and terminate us.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoop } from './loop.js';
import { SHARED_HEADER_BYTES, type WorkerData, type WorkerMessage } from './messages.js';

const data = workerData as WorkerData;
const port = parentPort!;
const header = new Int32Array(data.shared, 0, SHARED_HEADER_BYTES / 4);
const payload = new Uint8Array(data.shared, SHARED_HEADER_BYTES);
const send = (m: WorkerMessage): void => port.postMessage(m);

const stats = await runLoop({
  ...data,
  runs: data.runs,
  seconds: data.seconds,
  onInput(input, execs) {
    const n = Math.min(input.length, payload.length);
    payload.set(input.subarray(0, n));
    header[1] = n;
    Atomics.store(header, 0, execs | 0);
  },
  onReady: () => send({ type: 'ready' }),
  onProgress: (s) => send({ type: 'progress', stats: s }),
  onFinding: (f) => send({ type: 'finding', finding: f }),
});
send({ type: 'done', stats });
