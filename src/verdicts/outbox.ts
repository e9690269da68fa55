/**
 * The ordered, bounded outbox of the NATS publisher: events waiting to be sent, sent and
 * waiting for their ack, and the order they go out in. Pure bookkeeping (no NATS, no timers),
 * so its rules are testable on their own:
 *
 * - Entries go out in the order they were added; an entry that fails after sending goes back
 *   to its place and is sent again before anything after it.
 * - At most `maxQueued` entries wait unsent: trim() drops the oldest queued window.scored entry
 *   first (verdicts and call lifecycle are what integrators act on), then the oldest queued
 *   entry of any type. Entries in flight are never dropped.
 * - A dropped or delivered entry's memory is released: done entries are compacted out once
 *   they are at least half the array, so it holds at most about twice the pending entries.
 */
import type { EventType } from './types.js';

export type OutboxEntryState = 'queued' | 'inflight' | 'done';

export interface OutboxEntry {
  /** Absolute position in the outbox (monotonic: the send order). */
  readonly pos: number;
  readonly subject: string;
  readonly data: string;
  readonly msgId: string;
  readonly type: EventType;
  state: OutboxEntryState;
  /** When it was last sent (for the ack timeout sweep). */
  sentMs: number;
}

export interface OutboxOptions {
  /** Entries allowed to wait unsent (nats.maxBufferedEvents). */
  maxQueued: number;
  /** An entry dropped by trim() to stay within maxQueued. */
  onEvict(entry: Readonly<OutboxEntry>): void;
  /** Nothing is pending any more (every entry delivered or dropped). */
  onIdle(): void;
}

/** Done entries compacted out only when at least this many (and half the array). */
const COMPACT_MIN = 1024;

export class Outbox {
  readonly #opts: OutboxOptions;
  /**
   * Entries in position order (positions are increasing, not contiguous once done entries are
   * compacted out). Looked up by position with a binary search.
   */
  #queue: OutboxEntry[] = [];
  /** Sent entries waiting for their ack, by position. */
  readonly #awaiting = new Map<number, OutboxEntry>();
  /** Done entries still in #queue (released by #settle). */
  #garbage = 0;
  #nextPos = 0;
  /** Next position to send (entries before it are inflight or done, except requeued ones which lower it). */
  #sendPos = 0;
  /**
   * Every queued entry has pos >= #sendPos, and none below this one either (it follows the
   * evictions of lifecycle/verdict entries, so their scan does not restart from the evicted
   * ones each time; reset to 0 whenever #sendPos is lowered).
   */
  #evictFallbackPos = 0;
  /** Eviction scan start for queued window.scored entries. */
  #evictPos = 0;
  #queued = 0;
  #inflight = 0;

  constructor(opts: OutboxOptions) {
    this.#opts = opts;
  }

  /** Entries waiting to be sent. */
  get queued(): number {
    return this.#queued;
  }

  /** Entries sent and not yet acknowledged. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Entries accepted and not yet delivered or dropped. */
  get pending(): number {
    return this.#queued + this.#inflight;
  }

  /** Entries held in memory, pending or awaiting compaction (bounded by ~2 × pending). */
  get retained(): number {
    return this.#queue.length;
  }

  /** Appends an entry at the end of the send order (call trim() to enforce the bound). */
  add(subject: string, data: string, msgId: string, type: EventType): void {
    this.#queue.push({ pos: this.#nextPos++, subject, data, msgId, type, state: 'queued', sentMs: 0 });
    this.#queued++;
  }

  /** Drops queued entries (window.scored first, oldest first) until at most maxQueued wait. */
  trim(): void {
    while (this.#queued > this.#opts.maxQueued) this.#evictOne();
  }

  /** The next queued entry in send order, or undefined; the send cursor moves past it. */
  nextToSend(): OutboxEntry | undefined {
    const q = this.#queue;
    for (let i = this.#indexOf(this.#sendPos); i < q.length; i++) {
      const e = q[i]!;
      this.#sendPos = e.pos + 1;
      if (e.state === 'queued') return e;
    }
    return undefined;
  }

  /** `e` (from nextToSend) went out: it waits for its ack. */
  markSent(e: OutboxEntry, nowMs: number): void {
    e.state = 'inflight';
    e.sentMs = nowMs;
    this.#queued--;
    this.#inflight++;
    this.#awaiting.set(e.pos, e);
  }

  /** Sending `e` (from nextToSend) failed for now: it stays queued and is the next to send. */
  rewind(e: OutboxEntry): void {
    this.#sendPos = e.pos;
    this.#evictFallbackPos = 0;
  }

  /** `e` (from nextToSend) can never be sent: done without sending. */
  discard(e: OutboxEntry): void {
    e.state = 'done';
    this.#garbage++;
    this.#queued--;
    this.#settle();
  }

  /** The sent entry at `pos`, no longer awaited; undefined when unknown (a late ack of a re-sent entry). */
  takeSent(pos: number): OutboxEntry | undefined {
    const e = this.#awaiting.get(pos);
    if (e) this.#awaiting.delete(pos);
    return e;
  }

  /** A sent entry (from takeSent) was delivered, or refused for good: done. */
  complete(e: OutboxEntry): void {
    this.#inflight--;
    e.state = 'done';
    this.#garbage++;
    this.#settle();
  }

  /** A sent entry (from takeSent) was not delivered: back in the queue at its place, sent again in order. */
  requeue(e: OutboxEntry): void {
    this.#inflight--;
    if (e.state !== 'inflight') return this.#settle();
    e.state = 'queued';
    this.#queued++;
    if (e.pos < this.#sendPos) {
      this.#sendPos = e.pos;
      this.#evictFallbackPos = 0;
    }
    if (e.pos < this.#evictPos) this.#evictPos = e.pos;
  }

  /** Requeues every sent entry whose ack is overdue (sent at or before `sentBeforeMs`); returns how many. */
  requeueOverdue(sentBeforeMs: number): number {
    if (this.#awaiting.size === 0) return 0;
    let n = 0;
    for (const [pos, e] of this.#awaiting) {
      if (e.sentMs > sentBeforeMs) continue;
      this.#awaiting.delete(pos);
      n++;
      this.requeue(e);
    }
    return n;
  }

  /** Requeues every sent entry (the connection is gone: their acks may never come). */
  requeueAllSent(): void {
    for (const e of this.#awaiting.values()) this.requeue(e);
    this.#awaiting.clear();
  }

  /** Forgets every entry (they are counted as dropped by the caller). */
  clear(): void {
    this.#queue = [];
    this.#garbage = 0;
    this.#queued = 0;
    this.#inflight = 0;
    this.#awaiting.clear();
  }

  /** Index in #queue of the first entry at or after `pos`. */
  #indexOf(pos: number): number {
    const q = this.#queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (q[mid]!.pos < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops the oldest queued window.scored entry, else the oldest queued entry. */
  #evictOne(): void {
    const q = this.#queue;
    let victim: OutboxEntry | undefined;
    for (let i = this.#indexOf(this.#evictPos); i < q.length; i++) {
      const e = q[i]!;
      if (e.state === 'queued' && e.type === 'window.scored') {
        victim = e;
        this.#evictPos = e.pos + 1;
        break;
      }
    }
    if (!victim) {
      this.#evictPos = this.#nextPos;
      for (let i = this.#indexOf(Math.max(this.#sendPos, this.#evictFallbackPos)); i < q.length; i++) {
        if (q[i]!.state === 'queued') {
          victim = q[i];
          this.#evictFallbackPos = q[i]!.pos + 1;
          break;
        }
      }
    }
    if (!victim) return;
    victim.state = 'done';
    this.#garbage++;
    this.#queued--;
    this.#opts.onEvict(victim);
    this.#settle();
  }

  /**
   * Releases done entries (delivered, discarded or evicted) once they are at least half the
   * queue — wherever they are: an evicted window behind a kept verdict is released too — and
   * reports idle when nothing is pending.
   */
  #settle(): void {
    if (this.pending === 0) {
      this.#queue.length = 0;
      this.#garbage = 0;
      this.#opts.onIdle();
    } else if (this.#garbage >= COMPACT_MIN && this.#garbage * 2 >= this.#queue.length) {
      this.#queue = this.#queue.filter((e) => e.state !== 'done');
      this.#garbage = 0;
    }
  }
}
