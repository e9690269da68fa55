/** What supervisor.ts and worker.ts exchange: the worker's start data and its messages. */
import type { Finding, LoopStats } from './loop.js';

export interface WorkerData {
  targetUrl: string;
  seeds: Uint8Array[];
  runs: number;
  seconds: number;
  seed: number;
  timeoutMs: number;
  feedback: boolean;
  maxLen?: number;
  progressMs: number;
  /** Int32 header [execs, input length] then the input bytes (see supervisor.ts). */
  shared: SharedArrayBuffer;
  instrument: string[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; stats: LoopStats }
  | { type: 'finding'; finding: Finding }
  | { type: 'done'; stats: LoopStats };

export const SHARED_HEADER_BYTES = 16;

