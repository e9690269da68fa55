/**
 * Shedding is an overload signal an operator must see in the logs, not only in
 * devox_windows_shed_total: the first shed window is logged at warn at once, then at most one
 * warn line per interval with the windows shed per reason since the last line and the stream
 * that lost the latest one. Windows shed because the detector is closing (`closed`) are expected
 * at shutdown and not logged. Per window: two counter updates and one clock read, no allocation.
 */
import type { Logger } from 'pino';
import type { StreamDescriptor } from '../media/types.js';
import { SHED_REASONS, type ShedReason } from './micro-batcher.js';

export const SHED_LOG_INTERVAL_MS = 10_000;

export class ShedLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #counts: Record<ShedReason, number>;
  #total = 0;
  #lastLogMs = -Infinity;

  constructor(log: Logger, intervalMs: number = SHED_LOG_INTERVAL_MS, now: () => number = () => performance.now()) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
    this.#counts = Object.fromEntries(SHED_REASONS.map((r) => [r, 0])) as Record<ShedReason, number>;
  }

  shed(stream: StreamDescriptor, reason: ShedReason, waitMs: number): void {
    if (reason === 'closed') return;
    this.#counts[reason]++;
    this.#total++;
    const now = this.#now();
    if (now - this.#lastLogMs < this.#intervalMs) return;
    const shed: Partial<Record<ShedReason, number>> = {};
    for (const r of SHED_REASONS) {
      if (this.#counts[r] > 0) shed[r] = this.#counts[r];
      this.#counts[r] = 0;
    }
    const sinceSec = Number.isFinite(this.#lastLogMs) ? Math.round(now - this.#lastLogMs) / 1000 : 0;
    this.#log.warn(
      { shed, windows: this.#total, sinceSec, lastStreamId: stream.streamId, lastCallId: stream.callId, lastWaitMs: Math.round(waitMs) },
      'detector overloaded: windows shed unscored (devox_windows_shed_total); next report in at most ' + this.#intervalMs / 1000 + ' s',
    );
    this.#total = 0;
    this.#lastLogMs = now;
  }
}
