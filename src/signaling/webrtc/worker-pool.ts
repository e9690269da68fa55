/**
 * The WebRTC ingest's mediasoup workers, supervised (mediasoup's own advice: a worker death is
 * an event to act on). One worker and one audio router per slot, each slot with its own slice
 * of the RTC port range. A worker that dies (crash, OOM kill, SIGKILL) takes its router and its
 * sessions with it: the pool reports it (onDied, so the ingest ends those sessions), and starts a
 * new worker on the same slot after a backoff — respawnDelayMs doubled for each consecutive
 * failure (a worker that dies within respawnMaxDelayMs of its start, or one that does not start),
 * capped at respawnMaxDelayMs, so a crash loop costs one spawn per respawnMaxDelayMs, not a spin.
 * A worker that lived respawnMaxDelayMs or longer resets the backoff.
 *
 * Sessions go to the live routers round-robin; with none alive, pick() returns undefined and
 * the ingest answers 503 until a respawn succeeds.
 */
import type { Logger } from 'pino';
import { WebRtcUnavailableError } from './errors.js';
import type { MediasoupModule, MsRouter, MsWorker } from './types.js';

/** What the pool tells observability/ (which implements it; this folder never imports prom-client). */
export interface WorkerPoolObserver {
  /** Live workers (each with its router) out of the configured ones; after the start and every change. */
  workers(live: number, configured: number): void;
  /** A worker died; its sessions end. */
  died(): void;
  /** A respawn attempt ended: `ok`, or `failed` (the next one is scheduled with a longer delay). */
  respawn(result: 'ok' | 'failed'): void;
}

/** A live worker and its router. */
export interface WorkerSlot {
  readonly index: number;
  readonly worker: MsWorker;
  readonly router: MsRouter;
}

export interface WorkerPoolOptions {
  mediasoup: MediasoupModule;
  /** The binary mediasoup spawns (for messages). */
  workerBin: string;
  workers: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  respawnDelayMs: number;
  respawnMaxDelayMs: number;
  log: Logger;
  observer?: WorkerPoolObserver | undefined;
  /** A worker died: its router is gone, end the sessions on it. */
  onDied(slot: WorkerSlot): void;
}

interface SlotState {
  readonly index: number;
  readonly minPort: number;
  readonly maxPort: number;
  live: WorkerSlot | undefined;
  startedMs: number;
  /** Consecutive short-lived workers or failed spawns: the exponent of the backoff. */
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** When the scheduled respawn runs (Date.now() ms). */
  dueMs: number | undefined;
}

const OPUS = { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2 };

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  readonly #slots: SlotState[];
  #next = 0;
  #closed = false;

  private constructor(o: WorkerPoolOptions, slots: SlotState[]) {
    this.#o = o;
    this.#slots = slots;
  }

  /**
   * Starts every worker; all must start (a binary that cannot run is a set-up error, not a crash to retry).
   * @throws WebRtcUnavailableError (worker_failed)
   */
  static async start(o: WorkerPoolOptions): Promise<WorkerPool> {
    const span = o.rtcMaxPort - o.rtcMinPort + 1;
    const per = Math.floor(span / o.workers);
    if (per < 2) throw new WebRtcUnavailableError('worker_failed', `webrtc port range ${span} is too small for ${o.workers} workers`);
    const states: SlotState[] = [];
    for (let i = 0; i < o.workers; i++) {
      const minPort = o.rtcMinPort + i * per;
      states.push({ index: i, minPort, maxPort: minPort + per - 1, live: undefined, startedMs: 0, failures: 0, timer: undefined, dueMs: undefined });
    }
    const pool = new WorkerPool(o, states);
    try {
      for (const s of states) await pool.#spawn(s);
    } catch (err) {
      pool.close();
      throw new WebRtcUnavailableError('worker_failed', `mediasoup worker ${o.workerBin} did not start: ${(err as Error).message}`, { cause: err });
    }
    o.observer?.workers(pool.live, pool.configured);
    return pool;
  }

  /** Workers configured (webrtc.workers, or one per core). */
  get configured(): number {
    return this.#slots.length;
  }

  /** Workers alive now, each with its router. */
  get live(): number {
    let n = 0;
    for (const s of this.#slots) if (s.live) n++;
    return n;
  }

  /** Milliseconds until the next scheduled respawn; undefined when none is scheduled. */
  nextRespawnInMs(now = Date.now()): number | undefined {
    let due: number | undefined;
    for (const s of this.#slots) if (s.dueMs !== undefined && (due === undefined || s.dueMs < due)) due = s.dueMs;
    return due === undefined ? undefined : Math.max(0, due - now);
  }

  /** The next live worker, round-robin; undefined while none lives. */
  pick(): WorkerSlot | undefined {
    const n = this.#slots.length;
    for (let k = 0; k < n; k++) {
      const live = this.#slots[this.#next++ % n]!.live;
      if (live) return live;
    }
    return undefined;
  }

  /** Starts a worker and its router on `s`; throws when either fails (the half-started worker is closed). */
  async #spawn(s: SlotState): Promise<void> {
    const worker = await this.#o.mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: s.minPort, rtcMaxPort: s.maxPort });
    // Listen at once: a worker may die while its router is being created.
    worker.on('died', (err: unknown) => this.#onDied(s, worker, err));
    let router: MsRouter;
    try {
      router = await worker.createRouter({ mediaCodecs: [OPUS] });
    } catch (err) {
      if (!worker.closed) worker.close();
      throw err;
    }
    if (this.#closed || worker.closed) {
      if (!worker.closed) worker.close();
      if (this.#closed) return;
      throw new Error('the worker closed while its router was being created');
    }
    s.live = { index: s.index, worker, router };
    s.startedMs = Date.now();
  }

  #onDied(s: SlotState, worker: MsWorker, err: unknown): void {
    if (this.#closed) return;
    const slot = s.live;
    const wasLive = slot?.worker === worker;
    const uptimeMs = Date.now() - s.startedMs;
    this.#o.log.error({ err, pid: worker.pid, slot: s.index, uptimeMs: wasLive ? uptimeMs : undefined }, 'mediasoup worker died; its sessions end');
    this.#o.observer?.died();
    // A worker that died before its router was up is a failed spawn: #respawn handles it.
    if (!wasLive) return;
    s.live = undefined;
    this.#o.observer?.workers(this.live, this.configured);
    this.#o.onDied(slot);
    if (uptimeMs >= this.#o.respawnMaxDelayMs) s.failures = 0;
    this.#schedule(s);
  }

  /** Next attempt after respawnDelayMs × 2^failures, at most respawnMaxDelayMs. */
  #schedule(s: SlotState): void {
    if (this.#closed || s.timer) return;
    const delay = Math.min(this.#o.respawnMaxDelayMs, this.#o.respawnDelayMs * 2 ** Math.min(s.failures, 30));
    s.failures++;
    s.dueMs = Date.now() + delay;
    this.#o.log.warn({ slot: s.index, delayMs: delay, attempt: s.failures }, 'mediasoup worker respawn scheduled');
    s.timer = setTimeout(() => void this.#respawn(s), delay);
    s.timer.unref();
  }

  async #respawn(s: SlotState): Promise<void> {
    s.timer = undefined;
    s.dueMs = undefined;
    if (this.#closed) return;
    try {
      await this.#spawn(s);
    } catch (err) {
      if (this.#closed) return;
      this.#o.log.error({ err, slot: s.index, attempt: s.failures }, 'mediasoup worker respawn failed');
      this.#o.observer?.respawn('failed');
      this.#schedule(s);
      return;
    }
    if (this.#closed) return;
    this.#o.log.info({ slot: s.index, pid: s.live?.worker.pid, attempt: s.failures }, 'mediasoup worker respawned');
    this.#o.observer?.respawn('ok');
    this.#o.observer?.workers(this.live, this.configured);
  }

  /** Stops respawning and closes every worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#slots) {
      clearTimeout(s.timer);
      s.timer = undefined;
      s.dueMs = undefined;
      const w = s.live?.worker;
      s.live = undefined;
      if (w && !w.closed) w.close();
    }
  }
}
