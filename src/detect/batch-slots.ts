/**
 * The preallocated batches the micro-batcher fills: one input buffer of maxBatchSize rows of
 * windowLength samples and one reused metadata slot per row. Allocated once per batch and reused
 * batch after batch; nothing here allocates per window.
 */
import type { StreamDescriptor, WindowView } from '../media/types.js';
import type { QueuedWindow, StreamQueue } from './micro-batcher.js';

export interface Batch {
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
const NO_OWNER: StreamQueue = { queued: 0, principal: { queued: 0 } };

export function newSlot(): QueuedWindow {
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

export function newBatch(rows: number, windowLength: number): Batch {
  const buffer = new ArrayBuffer(rows * windowLength * 4);
  return {
    buffer,
    input: new Float32Array(buffer),
    slots: Array.from({ length: rows }, newSlot),
    count: 0,
    reordered: false,
    perm: new Int32Array(rows),
    firstEnqueuedMs: 0,
  };
}

/** Copies a window's metadata into slot `s` (the view is not kept). */
export function fillSlot(s: QueuedWindow, w: WindowView, owner: StreamQueue, now: number, order: number): QueuedWindow {
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
  s.order = order;
  return s;
}

/** Fills b.perm[0, count) with the rows in push order (identity unless an eviction reordered them). */
export function pushOrder(b: Batch): Int32Array {
  const n = b.count;
  const perm = b.perm;
  for (let i = 0; i < n; i++) perm[i] = i;
  if (b.reordered) {
    const slots = b.slots;
    perm.subarray(0, n).sort((x, y) => slots[x]!.order - slots[y]!.order);
  }
  return perm;
}

/** Empties a finished batch for reuse: its slots drop their stream references. */
export function resetBatch(b: Batch): void {
  for (let i = 0; i < b.count; i++) {
    const s = b.slots[i]!;
    s.stream = NO_STREAM;
    s.owner = NO_OWNER;
  }
  b.count = 0;
  b.reordered = false;
}
