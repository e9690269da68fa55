/**
 * Gathers ready windows from every stream into preallocated batches and runs one when it is
 * full or when its first window has waited maxBatchWaitMs, whichever comes first (Triton's
 * dynamic batcher, nats.js's flush-on-size-or-time).
 *
 * Buffering: batch buffers of maxBatchSize rows, allocated once and reused. Windows are copied
 * straight into the tail "filling" batch with WindowView.copyInto. Exactly one batch is in
 * flight (lent to the inference worker, zero-copy transfer); behind it wait up to
 * maxQueuedBatches batches (1 = classic double buffering). So at most
 * (1 + maxQueuedBatches) × maxBatchSize windows are ever held, and latency cannot grow without
 * bound:
 *  - a window arriving when every waiting batch is full evicts the oldest queued window of the
 *    stream with the most windows in the detector (so streams lose their own oldest first) —
 *    `buffer_full`;
 *  - at launch, windows that waited longer than maxQueueDelayMs are dropped — `queue_delay`.
 * Every window pushed is either scored or reported shed (with its reason); none vanish.
 *
 * Order: every window of a waiting batch is older than every window of the batches behind it,
 * and scores are emitted in push order within a batch, so each stream's scores come in window
 * order. An eviction keeps that true by pulling the oldest window of each later batch one batch
 * forward (one row copy per batch) and writing the new window in the tail.
 *
 * Per-window metadata lives in preallocated slot objects, reused batch after batch.
 * Knows nothing of onnxruntime: `run` is the inference (see detector.ts).
 */
import type { StreamDescriptor, WindowMeasures, WindowView } from '../media/types.js';
import { fillSlot, newBatch, newSlot, pushOrder, resetBatch, type Batch } from './batch-slots.js';
import type { InferenceError } from './errors.js';

/** Why a window went unscored: overload (queue_delay, buffer_full) or something else. */
export const SHED_REASONS = ['queue_delay', 'buffer_full', 'inference_error', 'closed', 'invalid_window'] as const;
export type ShedReason = (typeof SHED_REASONS)[number];

/** Windows queued by one principal (who sent the audio: a WebSocket token, else the call). */
export interface PrincipalQueue {
  queued: number;
}

/** Per-stream bookkeeping the batcher updates (the detector owns the objects). */
export interface StreamQueue {
  /** Windows of this stream pushed and not yet scored or shed. */
  queued: number;
  /** Shared by every stream of the same principal: overload sheds the principal holding most first. */
  principal: PrincipalQueue;
}

/** A queued window's metadata. Slots are reused: valid only during the callback that receives it. */
export interface QueuedWindow extends WindowMeasures {
  stream: StreamDescriptor;
  owner: StreamQueue;
  seq: number;
  arrivalMs: number;
  readyMs: number;
  /** When the batcher took the window. */
  enqueuedMs: number;
  /** Global push order (tie-breaks and keeps per-stream score order). */
  order: number;
}

/** Facts about one finished batch. One object reused for every batch: copy what you keep. */
export interface BatchInfo {
  size: number;
  inferenceMs: number;
  /** Longest and mean time a window of this batch waited between push and launch. */
  queueWaitMs: number;
  meanQueueWaitMs: number;
  startedMs: number;
  scoredMs: number;
  modelVersion: string;
  /** The batch's embedding rows (row-major, `embeddingDim` each) when the engine fetched them, else null. */
  embeddings: Float32Array | null;
  embeddingDim: number;
}

export type RunOutcome =
  | { ok: true; buffer: ArrayBuffer; scores: Float32Array; inferenceMs: number; modelVersion: string; embeddings: Float32Array | null; embeddingDim: number }
  | { ok: false; error: InferenceError; buffer: ArrayBuffer | null; modelVersion: string };

export interface MicroBatcherOptions {
  windowLength: number;
  maxBatchSize: number;
  maxBatchWaitMs: number;
  maxQueueDelayMs: number;
  /** Batches that may wait behind the one in flight (>= 1). */
  maxQueuedBatches: number;
  /** Runs `rows` windows at the start of `buffer` (ownership passes to it until it settles). Never rejects. */
  run(buffer: ArrayBuffer, rows: number): Promise<RunOutcome>;
  /** `row` indexes the window in the batch (batch.embeddings). */
  onScored(w: QueuedWindow, score: number, batch: BatchInfo, row: number): void;
  onBatch(batch: BatchInfo): void;
  onShed(w: QueuedWindow, reason: ShedReason, waitMs: number): void;
  onBatchError(err: InferenceError, rows: number): void;
  now(): number;
}

export class MicroBatcher {
  readonly #o: MicroBatcherOptions;
  readonly #len: number;
  readonly #max: number;
  readonly #depth: number;
  /** Waiting batches, oldest first; the last one is filling. Never empty. */
  readonly #waiting: Batch[] = [];
  /** Batches not in use (allocated lazily, at most 1 + maxQueuedBatches in all). */
  readonly #free: Batch[] = [];
  #inFlight: Batch | null = null;
  #timeout: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** Reports windows pushed after close() without touching a batch slot. */
  readonly #scratch: QueuedWindow = newSlot();
  #order = 0;
  #flushing = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #roomWaiters: Array<() => void> = [];
  readonly #info: BatchInfo = {
    size: 0,
    inferenceMs: 0,
    queueWaitMs: 0,
    meanQueueWaitMs: 0,
    startedMs: 0,
    scoredMs: 0,
    modelVersion: '',
    embeddings: null,
    embeddingDim: 0,
  };

  constructor(opts: MicroBatcherOptions) {
    if (!Number.isInteger(opts.maxBatchSize) || opts.maxBatchSize < 1) throw new RangeError('maxBatchSize must be >= 1');
    if (!Number.isInteger(opts.windowLength) || opts.windowLength < 1) throw new RangeError('windowLength must be >= 1');
    if (!Number.isInteger(opts.maxQueuedBatches) || opts.maxQueuedBatches < 1) throw new RangeError('maxQueuedBatches must be >= 1');
    this.#o = opts;
    this.#len = opts.windowLength;
    this.#max = opts.maxBatchSize;
    this.#depth = opts.maxQueuedBatches;
    this.#waiting.push(this.#newBatch());
    this.#free.push(this.#newBatch());
  }

  #newBatch(): Batch {
    return newBatch(this.#max, this.#len);
  }

  #tail(): Batch {
    return this.#waiting[this.#waiting.length - 1]!;
  }

  /** Windows pushed and not yet handed to inference. */
  get queued(): number {
    let n = 0;
    for (const b of this.#waiting) n += b.count;
    return n;
  }

  /** A window can be taken without evicting one. */
  get hasRoom(): boolean {
    return this.#tail().count < this.#max || this.#waiting.length < this.#depth;
  }

  get inFlight(): number {
    return this.#inFlight?.count ?? 0;
  }

  /** Copies the window into the filling batch (the view is not kept). */
  push(w: WindowView, owner: StreamQueue): void {
    const now = this.#o.now();
    if (this.#closed) {
      this.#o.onShed(this.#fill(this.#scratch, w, owner, now, false), 'closed', 0);
      return;
    }
    let tail = this.#tail();
    if (tail.count >= this.#max && this.#waiting.length < this.#depth) {
      tail = this.#free.pop() ?? this.#newBatch();
      this.#waiting.push(tail);
    }
    let row: number;
    if (tail.count < this.#max) {
      row = tail.count++;
      if (row === 0) tail.firstEnqueuedMs = now;
    } else {
      row = this.#evict(owner, now);
    }
    w.copyInto(tail.input, row * this.#len);
    this.#fill(tail.slots[row]!, w, owner, now, true);
    owner.queued++;
    owner.principal.queued++;
    if (this.#inFlight) return;
    const head = this.#waiting[0]!;
    if (head.count >= this.#max || this.#flushing) this.#launch();
    else if (head.count > 0) this.#arm(this.#o.maxBatchWaitMs);
  }

  #fill(s: QueuedWindow, w: WindowView, owner: StreamQueue, now: number, count: boolean): QueuedWindow {
    return fillSlot(s, w, owner, now, count ? this.#order++ : -1);
  }

  /**
   * Every waiting batch is full: sheds the oldest window of the stream holding most windows within
   * the principal holding most windows (the incoming one counts for both), so one customer's flood
   * is shed before another's calls; then moves the hole to the tail batch, keeping batches in age
   * order. Returns the tail row the incoming window goes to.
   */
  #evict(incoming: StreamQueue, now: number): number {
    const waiting = this.#waiting;
    let vb = 0;
    let vr = 0;
    let bestPrincipal = -1;
    let bestQueued = -1;
    let bestOrder = Infinity;
    for (let b = 0; b < waiting.length; b++) {
      const batch = waiting[b]!;
      for (let i = 0; i < batch.count; i++) {
        const s = batch.slots[i]!;
        const pq = s.owner.principal.queued + (s.owner.principal === incoming.principal ? 1 : 0);
        const q = s.owner.queued + (s.owner === incoming ? 1 : 0);
        if (pq > bestPrincipal || (pq === bestPrincipal && (q > bestQueued || (q === bestQueued && s.order < bestOrder)))) {
          vb = b;
          vr = i;
          bestPrincipal = pq;
          bestQueued = q;
          bestOrder = s.order;
        }
      }
    }
    const victim = waiting[vb]!.slots[vr]!;
    victim.owner.queued--;
    victim.owner.principal.queued--;
    this.#o.onShed(victim, 'buffer_full', now - victim.enqueuedMs);
    let hole = vr;
    waiting[vb]!.reordered = true;
    for (let b = vb + 1; b < waiting.length; b++) {
      const from = waiting[b]!;
      const to = waiting[b - 1]!;
      let m = 0;
      for (let i = 1; i < from.count; i++) if (from.slots[i]!.order < from.slots[m]!.order) m = i;
      // Hand-rolled move: set() from a subarray (one view object) then swap the slot objects.
      to.input.set(from.input.subarray(m * this.#len, (m + 1) * this.#len), hole * this.#len);
      const t = to.slots[hole]!;
      to.slots[hole] = from.slots[m]!;
      from.slots[m] = t;
      from.reordered = true;
      hole = m;
    }
    return hole;
  }

  readonly #fire = (): void => {
    this.#timeout = null;
    this.#immediate = null;
    this.#launch();
  };

  /** Flush timer; 0 ms still waits for the current synchronous burst of windows (setImmediate). */
  #arm(ms: number): void {
    if (this.#timeout || this.#immediate) return;
    if (ms <= 0) this.#immediate = setImmediate(this.#fire);
    else this.#timeout = setTimeout(this.#fire, ms);
  }

  #disarm(): void {
    if (this.#timeout) clearTimeout(this.#timeout);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timeout = null;
    this.#immediate = null;
  }

  #launch(): void {
    this.#disarm();
    if (this.#inFlight) return;
    const now = this.#o.now();
    for (;;) {
      const b = this.#waiting[0]!;
      if (b.count === 0) {
        if (this.#waiting.length === 1) {
          this.#settleWaiters();
          return;
        }
        this.#free.push(this.#waiting.shift()!);
        continue;
      }
      // Shed what already waited past the budget; compact the survivors to the front.
      let kept = 0;
      let waitSum = 0;
      let waitMax = 0;
      const slots = b.slots;
      for (let r = 0; r < b.count; r++) {
        const s = slots[r]!;
        const wait = now - s.enqueuedMs;
        if (wait > this.#o.maxQueueDelayMs) {
          s.owner.queued--;
          s.owner.principal.queued--;
          this.#o.onShed(s, 'queue_delay', wait);
          continue;
        }
        if (kept !== r) {
          b.input.copyWithin(kept * this.#len, r * this.#len, (r + 1) * this.#len);
          slots[r] = slots[kept]!;
          slots[kept] = s;
        }
        waitSum += wait;
        if (wait > waitMax) waitMax = wait;
        kept++;
      }
      b.count = kept;
      if (kept === 0) {
        b.reordered = false;
        continue; // the next waiting batch, if any
      }
      this.#waiting.shift();
      if (this.#waiting.length === 0) this.#waiting.push(this.#free.pop() ?? this.#newBatch());
      this.#inFlight = b;
      const buffer = b.buffer!;
      b.buffer = null;
      void this.#o.run(buffer, kept).then((out) => this.#finish(b, out, now, waitMax, waitSum / kept));
      this.#settleRoom();
      return;
    }
  }

  #finish(b: Batch, out: RunOutcome, startedMs: number, waitMax: number, waitMean: number): void {
    const scoredMs = this.#o.now();
    const buffer = out.buffer ?? new ArrayBuffer(this.#max * this.#len * 4);
    b.buffer = buffer;
    b.input = new Float32Array(buffer);
    const n = b.count;
    const perm = pushOrder(b);
    if (out.ok) {
      const info = this.#info;
      info.size = n;
      info.inferenceMs = out.inferenceMs;
      info.queueWaitMs = waitMax;
      info.meanQueueWaitMs = waitMean;
      info.startedMs = startedMs;
      info.scoredMs = scoredMs;
      info.modelVersion = out.modelVersion;
      info.embeddings = out.embeddings;
      info.embeddingDim = out.embeddingDim;
      this.#o.onBatch(info);
      for (let i = 0; i < n; i++) {
        const s = b.slots[perm[i]!]!;
        s.owner.queued--;
        s.owner.principal.queued--;
        this.#o.onScored(s, out.scores[perm[i]!]!, info, perm[i]!);
      }
    } else {
      this.#o.onBatchError(out.error, n);
      for (let i = 0; i < n; i++) {
        const s = b.slots[perm[i]!]!;
        s.owner.queued--;
        s.owner.principal.queued--;
        this.#o.onShed(s, 'inference_error', scoredMs - s.enqueuedMs);
      }
    }
    resetBatch(b);
    this.#inFlight = null;
    this.#free.push(b);

    const head = this.#waiting[0]!;
    if (head.count > 0) {
      const waited = this.#o.now() - head.firstEnqueuedMs;
      const due = head.count >= this.#max || this.#waiting.length > 1 || this.#flushing || this.#closed;
      if (due || waited >= this.#o.maxBatchWaitMs) this.#launch();
      else this.#arm(this.#o.maxBatchWaitMs - waited);
    } else {
      this.#settleWaiters();
    }
  }

  #settleRoom(): void {
    if (!this.hasRoom || this.#roomWaiters.length === 0) return;
    const w = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const r of w) r();
  }

  #settleWaiters(): void {
    this.#settleRoom();
    if (this.#inFlight || this.queued > 0) return;
    this.#flushing = false;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const r of w) r();
  }

  /** Resolves when a window can be taken without evicting one (offline feeders use it instead of being shed). */
  whenRoom(): Promise<void> {
    if (this.hasRoom) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Runs what is queued now, without waiting for maxBatchWaitMs; resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    if (!this.#inFlight && this.queued === 0) return Promise.resolve();
    this.#flushing = true;
    const p = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (!this.#inFlight) this.#launch();
    return p;
  }

  /** Scores what is queued, then refuses (sheds as `closed`) anything pushed later. Idempotent. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#disarm();
  }
}
