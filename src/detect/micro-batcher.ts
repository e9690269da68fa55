/**
 * Gathers ready windows from every stream into one preallocated batch and runs it when it is
 * full or when its first window has waited maxBatchWaitMs, whichever comes first (Triton's
 * dynamic batcher, nats.js's flush-on-size-or-time).
 *
 * Double buffering: two batch buffers of maxBatchSize rows. One is "filling" (windows are
 * copied straight into it with WindowView.copyInto), the other is "in flight" (lent to the
 * inference worker, zero-copy transfer). Exactly one batch is in flight at a time; when it
 * returns, the filling buffer is launched if it is due. So at most 2 × maxBatchSize windows are
 * ever held, and latency cannot grow without bound:
 *  - a window that would overflow the full filling buffer evicts the oldest queued window of the
 *    stream with the most queued windows (so streams lose their own oldest first) — `buffer_full`;
 *  - at launch, windows that waited longer than maxQueueDelayMs are dropped — `queue_delay`.
 * Every window pushed is either scored or reported shed (with its reason); none vanish.
 *
 * Per-window metadata lives in preallocated slot objects, reused batch after batch.
 * Knows nothing of onnxruntime: `run` is the inference (see detector.ts).
 */
import type { StreamDescriptor, WindowView } from '../media/types.js';
import type { InferenceError } from './errors.js';

export type ShedReason = 'queue_delay' | 'buffer_full' | 'inference_error' | 'closed' | 'invalid_window';

/** Per-stream bookkeeping the batcher updates (the detector owns the objects). */
export interface StreamQueue {
  /** Windows of this stream pushed and not yet scored or shed. */
  queued: number;
}

/** A queued window's metadata. Slots are reused: valid only during the callback that receives it. */
export interface QueuedWindow {
  stream: StreamDescriptor;
  owner: StreamQueue;
  seq: number;
  speechRatio: number;
  rmsDbfs: number;
  lostRatio: number;
  mediaStartSec: number;
  mediaEndSec: number;
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
}

export type RunOutcome =
  | { ok: true; buffer: ArrayBuffer; scores: Float32Array; inferenceMs: number; modelVersion: string }
  | { ok: false; error: InferenceError; buffer: ArrayBuffer | null; modelVersion: string };

export interface MicroBatcherOptions {
  windowLength: number;
  maxBatchSize: number;
  maxBatchWaitMs: number;
  maxQueueDelayMs: number;
  /** Runs `rows` windows at the start of `buffer` (ownership passes to it until it settles). Never rejects. */
  run(buffer: ArrayBuffer, rows: number): Promise<RunOutcome>;
  onScored(w: QueuedWindow, score: number, batch: BatchInfo): void;
  onBatch(batch: BatchInfo): void;
  onShed(w: QueuedWindow, reason: ShedReason, waitMs: number): void;
  onBatchError(err: InferenceError, rows: number): void;
  now(): number;
}

interface Batch {
  buffer: ArrayBuffer | null;
  input: Float32Array;
  slots: QueuedWindow[];
  count: number;
  /** Set when an eviction put a newer window in an older one's row: scores are then emitted in push order. */
  reordered: boolean;
  perm: Int32Array;
  firstEnqueuedMs: number;
}

const NO_STREAM: StreamDescriptor = Object.freeze({ streamId: '', callId: '', leg: '', transport: 'file' });
const NO_OWNER: StreamQueue = { queued: 0 };

function newSlot(): QueuedWindow {
  return {
    stream: NO_STREAM,
    owner: NO_OWNER,
    seq: 0,
    speechRatio: 0,
    rmsDbfs: 0,
    lostRatio: 0,
    mediaStartSec: 0,
    mediaEndSec: 0,
    arrivalMs: 0,
    readyMs: 0,
    enqueuedMs: 0,
    order: 0,
  };
}

export class MicroBatcher {
  readonly #o: MicroBatcherOptions;
  readonly #len: number;
  readonly #max: number;
  #filling: Batch;
  #spare: Batch | null;
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
  };

  constructor(opts: MicroBatcherOptions) {
    if (!Number.isInteger(opts.maxBatchSize) || opts.maxBatchSize < 1) throw new RangeError('maxBatchSize must be >= 1');
    if (!Number.isInteger(opts.windowLength) || opts.windowLength < 1) throw new RangeError('windowLength must be >= 1');
    this.#o = opts;
    this.#len = opts.windowLength;
    this.#max = opts.maxBatchSize;
    this.#filling = this.#newBatch();
    this.#spare = this.#newBatch();
  }

  #newBatch(): Batch {
    const buffer = new ArrayBuffer(this.#max * this.#len * 4);
    return {
      buffer,
      input: new Float32Array(buffer),
      slots: Array.from({ length: this.#max }, newSlot),
      count: 0,
      reordered: false,
      perm: new Int32Array(this.#max),
      firstEnqueuedMs: 0,
    };
  }

  /** Windows pushed and not yet handed to inference. */
  get queued(): number {
    return this.#filling.count;
  }

  /** The filling batch can take a window without evicting one. */
  get hasRoom(): boolean {
    return this.#filling.count < this.#max;
  }

  get inFlight(): number {
    return this.#inFlight?.count ?? 0;
  }

  /** Copies the window into the filling batch (the view is not kept). */
  push(w: WindowView, owner: StreamQueue): void {
    const now = this.#o.now();
    const f = this.#filling;
    let row: number;
    if (this.#closed) {
      const s = this.#fill(this.#scratch, w, owner, now, false);
      this.#o.onShed(s, 'closed', 0);
      return;
    }
    if (f.count < this.#max) {
      row = f.count++;
      if (row === 0) f.firstEnqueuedMs = now;
    } else {
      row = this.#victim(f, owner);
      const v = f.slots[row]!;
      v.owner.queued--;
      this.#o.onShed(v, 'buffer_full', now - v.enqueuedMs);
      f.reordered = true;
    }
    w.copyInto(f.input, row * this.#len);
    this.#fill(f.slots[row]!, w, owner, now, true);
    owner.queued++;
    if (this.#inFlight) return;
    if (f.count >= this.#max || this.#flushing) this.#launch();
    else if (f.count === 1) this.#arm(this.#o.maxBatchWaitMs);
  }

  #fill(s: QueuedWindow, w: WindowView, owner: StreamQueue, now: number, count: boolean): QueuedWindow {
    s.stream = w.stream;
    s.owner = owner;
    s.seq = w.seq;
    s.speechRatio = w.speechRatio;
    s.rmsDbfs = w.rmsDbfs;
    s.lostRatio = w.lostRatio;
    s.mediaStartSec = w.mediaStartSec;
    s.mediaEndSec = w.mediaEndSec;
    s.arrivalMs = w.arrivalMs;
    s.readyMs = w.readyMs;
    s.enqueuedMs = now;
    s.order = count ? this.#order++ : -1;
    return s;
  }

  /** Row to evict: the oldest window of the stream holding most rows (the incoming window counts for its stream). */
  #victim(b: Batch, incoming: StreamQueue): number {
    let best = 0;
    let bestQueued = -1;
    let bestOrder = Infinity;
    for (let i = 0; i < b.count; i++) {
      const s = b.slots[i]!;
      const q = s.owner.queued + (s.owner === incoming ? 1 : 0);
      if (q > bestQueued || (q === bestQueued && s.order < bestOrder)) {
        best = i;
        bestQueued = q;
        bestOrder = s.order;
      }
    }
    return best;
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
    const b = this.#filling;
    if (b.count === 0) {
      this.#settleWaiters();
      return;
    }
    const now = this.#o.now();
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
      this.#settleWaiters();
      return;
    }
    const next = this.#spare ?? this.#newBatch();
    this.#spare = null;
    this.#filling = next;
    this.#inFlight = b;
    const buffer = b.buffer!;
    b.buffer = null;
    void this.#o.run(buffer, kept).then((out) => this.#finish(b, out, now, waitMax, waitSum / kept));
    // Room appeared in the (new) filling buffer.
    this.#settleRoom();
  }

  #finish(b: Batch, out: RunOutcome, startedMs: number, waitMax: number, waitMean: number): void {
    const scoredMs = this.#o.now();
    const buffer = out.buffer ?? new ArrayBuffer(this.#max * this.#len * 4);
    b.buffer = buffer;
    b.input = new Float32Array(buffer);
    const n = b.count;
    const perm = b.perm;
    for (let i = 0; i < n; i++) perm[i] = i;
    if (b.reordered) {
      const slots = b.slots;
      perm.subarray(0, n).sort((x, y) => slots[x]!.order - slots[y]!.order);
    }
    if (out.ok) {
      const info = this.#info;
      info.size = n;
      info.inferenceMs = out.inferenceMs;
      info.queueWaitMs = waitMax;
      info.meanQueueWaitMs = waitMean;
      info.startedMs = startedMs;
      info.scoredMs = scoredMs;
      info.modelVersion = out.modelVersion;
      this.#o.onBatch(info);
      for (let i = 0; i < n; i++) {
        const s = b.slots[perm[i]!]!;
        s.owner.queued--;
        this.#o.onScored(s, out.scores[perm[i]!]!, info);
      }
    } else {
      this.#o.onBatchError(out.error, n);
      for (let i = 0; i < n; i++) {
        const s = b.slots[perm[i]!]!;
        s.owner.queued--;
        this.#o.onShed(s, 'inference_error', scoredMs - s.enqueuedMs);
      }
    }
    for (let i = 0; i < n; i++) {
      const s = b.slots[i]!;
      s.stream = NO_STREAM;
      s.owner = NO_OWNER;
    }
    b.count = 0;
    b.reordered = false;
    this.#inFlight = null;
    this.#spare = b;

    const f = this.#filling;
    if (f.count > 0) {
      const waited = this.#o.now() - f.firstEnqueuedMs;
      if (f.count >= this.#max || this.#flushing || this.#closed || waited >= this.#o.maxBatchWaitMs) this.#launch();
      else this.#arm(this.#o.maxBatchWaitMs - waited);
    } else {
      this.#settleWaiters();
    }
  }

  #settleRoom(): void {
    if (this.#filling.count >= this.#max || this.#roomWaiters.length === 0) return;
    const w = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const r of w) r();
  }

  #settleWaiters(): void {
    this.#settleRoom();
    if (this.#inFlight || this.#filling.count > 0) return;
    this.#flushing = false;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const r of w) r();
  }

  /** Resolves when the filling batch has room (offline feeders use it instead of being shed). */
  whenRoom(): Promise<void> {
    if (this.#filling.count < this.#max) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Runs what is queued now, without waiting for maxBatchWaitMs; resolves when nothing is queued or in flight. */
  flush(): Promise<void> {
    if (!this.#inFlight && this.#filling.count === 0) return Promise.resolve();
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
