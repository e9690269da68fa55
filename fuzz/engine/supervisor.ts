/**
 * Parent side of a fuzz run: loads the target's seed corpus, starts the loop in a worker thread
 * (boot.mjs), relays progress, and watches for hangs: the worker stores its execution count in
 * shared memory before every input, and when that count has not moved for hangMs the worker is
 * terminated and the input it was running (also in shared memory) is the hang. A worker that
 * dies (out of memory, a throw nobody caught) is a crash with that same input. Findings are
 * written to findingsDir/<target>/<kind>-<sha1>(.txt) for `npm run fuzz -- --input FILE`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Finding, LoopStats } from './loop.js';
import { SHARED_HEADER_BYTES, type WorkerData, type WorkerMessage } from './messages.js';

export const FUZZ_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(FUZZ_ROOT, '..');

export interface FuzzOptions {
  target: string;
  /** Executions in all, seeds included (default: no limit; then `seconds` bounds the run). */
  runs?: number;
  seconds?: number;
  seed?: number;
  /** Deadline of one async execution (ms, default 5000). */
  timeoutMs?: number;
  /** No progress for this long is a hang (ms, default 10000). */
  hangMs?: number;
  maxLen?: number;
  /** false: blind mutation of the seeds (no corpus growth), for comparison. */
  feedback?: boolean;
  /** Seed files or directories (default fuzz/corpus/<target>). */
  inputs?: string[];
  /** Where findings go (default fuzz/findings; null: not written). */
  findingsDir?: string | null;
  /** The target module (default fuzz/targets/<target>.ts). */
  targetFile?: string;
  /** Path prefixes to instrument (default: the repository's src/). */
  instrument?: string[];
  progressMs?: number;
  onProgress?(stats: LoopStats): void;
}

export interface FuzzResult extends LoopStats {
  target: string;
  execsPerSec: number;
  hangs: number;
  findings: Finding[];
  /** Files written for the findings. */
  saved: string[];
}

/** Names of the targets in fuzz/targets/. */
export function listTargets(): string[] {
  return readdirSync(join(FUZZ_ROOT, 'targets'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function readSeeds(paths: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of paths) {
    let files: string[];
    try {
      files = statSync(p).isDirectory() ? readdirSync(p).sort().map((f) => join(p, f)) : [p];
    } catch {
      continue; // no corpus yet: start from the empty input
    }
    for (const f of files) if (statSync(f).isFile()) out.push(new Uint8Array(readFileSync(f)));
  }
  return out;
}

function save(dir: string, target: string, f: Finding): string {
  const sha = createHash('sha1').update(f.input).digest('hex').slice(0, 12);
  const base = join(dir, target, `${f.kind}-${sha}`);
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(base, f.input);
  writeFileSync(`${base}.txt`, `${f.kind}: ${f.signature}\n\n${f.stack}\n`);
  return base;
}

export function fuzzTarget(opts: FuzzOptions): Promise<FuzzResult> {
  const targetFile = opts.targetFile ?? join(FUZZ_ROOT, 'targets', `${opts.target}.ts`);
  const maxLen = opts.maxLen ?? 65536;
  const shared = new SharedArrayBuffer(SHARED_HEADER_BYTES + maxLen);
  const header = new Int32Array(shared, 0, SHARED_HEADER_BYTES / 4);
  const data: WorkerData = {
    targetUrl: pathToFileURL(targetFile).href,
    seeds: readSeeds(opts.inputs ?? [join(FUZZ_ROOT, 'corpus', opts.target)]),
    runs: opts.runs ?? Infinity,
    seconds: opts.seconds ?? (opts.runs === undefined ? 60 : Infinity),
    seed: opts.seed ?? 1,
    timeoutMs: opts.timeoutMs ?? 5000,
    feedback: opts.feedback ?? true,
    ...(opts.maxLen !== undefined ? { maxLen: opts.maxLen } : {}),
    progressMs: opts.progressMs ?? 5000,
    shared,
    instrument: opts.instrument ?? [join(REPO_ROOT, 'src') + '/'],
  };
  const findingsDir = opts.findingsDir === undefined ? join(FUZZ_ROOT, 'findings') : opts.findingsDir;
  const hangMs = opts.hangMs ?? 10_000;
  const started = Date.now();

  return new Promise((resolvePromise, reject) => {
    const worker = new Worker(new URL('./boot.mjs', import.meta.url), {
      workerData: data,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    const findings: Finding[] = [];
    const saved: string[] = [];
    let last: LoopStats | undefined;
    let done: LoopStats | undefined;
    let lastCount = -1;
    let lastMove = Date.now();
    let ready = false;
    let hung = false;
    let died: Error | undefined;
    const currentInput = (): Uint8Array => new Uint8Array(shared, SHARED_HEADER_BYTES, header[1]).slice();
    const record = (f: Finding): void => {
      findings.push(f);
      if (findingsDir !== null) saved.push(save(findingsDir, opts.target, f));
    };
    const watchdog = setInterval(() => {
      const count = Atomics.load(header, 0);
      const now = Date.now();
      if (count !== lastCount) {
        lastCount = count;
        lastMove = now;
        return;
      }
      // Start-up (instrumenting and importing src/) is allowed longer than one execution.
      if (now - lastMove > (ready ? hangMs : Math.max(hangMs, 180_000))) {
        hung = true;
        clearInterval(watchdog);
        void worker.terminate();
      }
    }, Math.min(250, hangMs / 4));
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') ready = true;
      else if (m.type === 'progress') {
        last = m.stats;
        opts.onProgress?.(m.stats);
      } else if (m.type === 'finding') record(m.finding);
      else if (m.type === 'done') done = m.stats;
    });
    worker.on('error', (err) => {
      died = err;
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      const elapsedMs = Date.now() - started;
      if (!ready && !hung && died) return reject(died); // the target did not even load
      let stats = done ?? last;
      let hangs = 0;
      if (hung) {
        hangs = 1;
        record({ kind: 'hang', input: currentInput(), name: 'Hang', message: `no progress for ${hangMs} ms`, stack: '', signature: 'hang', exec: lastCount });
      } else if (done === undefined) {
        const err = died ?? new Error('fuzz worker exited early');
        const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
        record({ kind: oom ? 'oom' : 'crash', input: currentInput(), name: err.name, message: err.message, stack: err.stack ?? '',
          signature: `${oom ? 'oom' : 'crash'}:${err.name}`, exec: lastCount });
      }
      stats ??= { execs: Math.max(0, lastCount), elapsedMs, corpus: 0, seeds: 0, covered: 0, total: 0, seedCovered: 0, files: 0, crashes: 0, timeouts: 0 };
      if (done === undefined) {
        stats = { ...stats, execs: Math.max(stats.execs, lastCount), elapsedMs };
        if (!hung) stats.crashes++;
      }
      resolvePromise({
        ...stats,
        target: opts.target,
        execsPerSec: stats.elapsedMs > 0 ? Math.round((stats.execs * 1000) / stats.elapsedMs) : 0,
        hangs: hangs + stats.timeouts,
        findings,
        saved,
      });
    });
  });
}
