/**
 * The fuzz loop (runs inside a worker thread, see supervisor.ts): a libFuzzer-style
 * coverage-guided loop written for DevoX instead of taken from @jazzer.js/core. Why hand-written:
 * jazzer.js 4.0.0's libFuzzer addon prebuilt needs GLIBC_2.38 (`__isoc23_strtol`) and does not
 * load on this Debian 12 (glibc 2.36); 2.1.0 downloads its addon from GitHub at install time
 * (offline here); @jazzer.js/instrumentor needs that addon too. istanbul-lib-instrument (nyc's
 * instrumenter) gives the coverage counters instead, and the loop around it is this file.
 *
 * Per input: the bytes go to the shared buffer (so the parent can name the input of a hang),
 * the target runs (an async target under a deadline), a throw is classified (the target's
 * expected refusal classes vs anything else: a crash), then coverage.ts says whether a feature
 * was hit for the first time; if so the input joins the in-memory corpus. The seeds run first;
 * after them inputs are mutations (mutate.ts) of a corpus entry picked at random.
 */
import { CoverageTracker } from './coverage.js';
import { dictionaryFrom, Mutator, Rng } from './mutate.js';
import type { TargetModule } from './target.js';

export interface LoopOptions {
  /** file: URL of the target module. */
  targetUrl: string;
  seeds: readonly Uint8Array[];
  /** Executions in all (seeds included); Infinity for no limit. */
  runs: number;
  /** Wall-clock limit (s); Infinity for none. */
  seconds: number;
  seed: number;
  /** Deadline of one execution of an async target (ms). */
  timeoutMs: number;
  /** false: never add to the corpus (blind mutation of the seeds; for comparison). */
  feedback: boolean;
  maxLen?: number;
  progressMs: number;
  /** Called before each execution with the input (the worker copies it to shared memory). */
  onInput(input: Uint8Array, execs: number): void;
  onReady(): void;
  onProgress(stats: LoopStats): void;
  onFinding(finding: Finding): void;
}

export interface LoopStats {
  execs: number;
  elapsedMs: number;
  corpus: number;
  seeds: number;
  /** Features (statements, functions, branch arms) hit / known, over the instrumented files loaded. */
  covered: number;
  total: number;
  /** Covered once the seeds had run (module loading included). */
  seedCovered: number;
  files: number;
  crashes: number;
  timeouts: number;
}

export interface Finding {
  kind: 'crash' | 'timeout' | 'hang' | 'oom';
  input: Uint8Array;
  name: string;
  message: string;
  stack: string;
  /** Dedup key: error name + top stack frame. */
  signature: string;
  /** Execution number of the input (approximate for a throw outside any execution). */
  exec: number;
}

/** Distinct findings reported per run (all are counted). */
const MAX_REPORTED = 20;

class DeadlineExceeded extends Error {}

function describe(err: unknown, kind: Finding['kind'], input: Uint8Array, exec: number): Finding {
  const e = err instanceof Error ? err : new Error(`non-Error thrown: ${String(err)}`);
  const stack = e.stack ?? '';
  const frame = stack.split('\n').find((l) => l.trimStart().startsWith('at ')) ?? '';
  return { kind, input, name: e.name, message: e.message, stack, signature: `${kind}:${e.name}:${frame.trim()}`, exec };
}

export async function runLoop(o: LoopOptions): Promise<LoopStats> {
  const mod = (await import(o.targetUrl)) as TargetModule;
  const cov = new CoverageTracker();
  cov.refresh();
  const rng = new Rng(o.seed);
  const maxLen = o.maxLen ?? mod.maxLen ?? 4096;
  const corpus: Uint8Array[] = [];
  const reported = new Set<string>();
  const late: unknown[] = [];
  const onLate = (err: unknown): void => {
    late.push(err);
  };
  process.on('unhandledRejection', onLate);
  process.on('uncaughtException', onLate);
  const stats: LoopStats = {
    execs: 0, elapsedMs: 0, corpus: 0, seeds: o.seeds.length, covered: 0, total: 0, seedCovered: 0, files: 0, crashes: 0, timeouts: 0,
  };
  const started = Date.now();
  const endAt = started + o.seconds * 1000;
  let lastInput: Uint8Array = new Uint8Array(0);

  const report = (f: Finding): void => {
    if (f.kind === 'timeout') stats.timeouts++;
    else stats.crashes++;
    if (reported.size >= MAX_REPORTED || reported.has(f.signature)) return;
    reported.add(f.signature);
    o.onFinding(f);
  };
  /** Set when the current input crashed or timed out (it then stays out of the corpus). */
  let failed = false;
  const classify = (err: unknown, input: Uint8Array): void => {
    if (err instanceof DeadlineExceeded) report(describe(new Error(`no result within ${o.timeoutMs} ms`), 'timeout', input, stats.execs));
    else if (!mod.expected.some((c) => err instanceof c)) report(describe(err, 'crash', input, stats.execs));
    else return;
    failed = true;
  };
  const withDeadline = async (p: Promise<void>, input: Uint8Array): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceeded()), o.timeoutMs);
    });
    try {
      await Promise.race([p, deadline]);
    } catch (err) {
      classify(err, input);
    } finally {
      clearTimeout(timer);
    }
  };
  /** Runs one input; a promise only when the target returned one. */
  const exec = (input: Uint8Array): Promise<void> | undefined => {
    stats.execs++;
    failed = false;
    lastInput = input;
    o.onInput(input, stats.execs);
    try {
      const r = mod.fuzz(Buffer.from(input.buffer, input.byteOffset, input.length));
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') return withDeadline(r, input);
    } catch (err) {
      classify(err, input);
    }
    return undefined;
  };
  const snapshot = (): LoopStats => {
    stats.elapsedMs = Date.now() - started;
    stats.corpus = corpus.length;
    stats.covered = cov.covered;
    stats.total = cov.total;
    stats.files = cov.files;
    return { ...stats };
  };
  /** Lets timers, rejections and messages through; reports anything thrown outside an execution. */
  const breathe = async (): Promise<void> => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (late.length > 0) report(describe(late.shift(), 'crash', lastInput, stats.execs));
  };

  o.onReady();
  for (const s of o.seeds) {
    if (stats.execs >= o.runs) break;
    const p = exec(s);
    if (p) await p;
    corpus.push(s);
    cov.collect();
  }
  await breathe();
  cov.refresh();
  cov.collect();
  stats.seedCovered = cov.covered;
  if (corpus.length === 0) corpus.push(new Uint8Array(0));
  const seedEntries = corpus.length;
  const mutator = new Mutator(rng, maxLen, dictionaryFrom(o.seeds, mod.dictionary));
  let nextProgress = Date.now() + o.progressMs;
  let sinceBreath = 0;
  const timed = Number.isFinite(endAt);
  while (stats.execs < o.runs && !(timed && Date.now() >= endAt)) {
    const input = mutator.mutate(corpus[rng.below(corpus.length)]!, corpus);
    const p = exec(input);
    if (p) await p;
    if (cov.collect() > 0 && o.feedback && !failed) corpus.push(input);
    if (++sinceBreath >= 512) {
      sinceBreath = 0;
      await breathe();
      cov.refresh();
      const now = Date.now();
      if (now >= nextProgress) {
        nextProgress = now + o.progressMs;
        o.onProgress(snapshot());
      }
    }
  }
  await breathe();
  cov.collect();
  process.off('unhandledRejection', onLate);
  process.off('uncaughtException', onLate);
  const final = snapshot();
  final.seeds = seedEntries;
  return final;
}
