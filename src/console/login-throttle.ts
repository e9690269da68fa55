/**
 * Slows password guessing: after MAX_FAILURES refused sign-ins from one address within
 * WINDOW_MS, that address is refused (HTTP 429) for LOCK_MS, whatever it sends. Held in
 * memory, bounded (the oldest entries go first).
 */
const MAX_FAILURES = 5;
const WINDOW_MS = 5 * 60_000;
const LOCK_MS = 60_000;
const MAX_ADDRESSES = 10_000;

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class LoginThrottle {
  readonly #byAddress = new Map<string, Entry>();

  /** Seconds the address must still wait, or 0 when it may try. */
  retryAfterSec(address: string, nowMs = Date.now()): number {
    const e = this.#byAddress.get(address);
    return e && e.lockedUntil > nowMs ? Math.ceil((e.lockedUntil - nowMs) / 1000) : 0;
  }

  failed(address: string, nowMs = Date.now()): void {
    let e = this.#byAddress.get(address);
    if (!e) {
      if (this.#byAddress.size >= MAX_ADDRESSES) this.#byAddress.delete(this.#byAddress.keys().next().value!);
      e = { failures: [], lockedUntil: 0 };
      this.#byAddress.set(address, e);
    }
    e.failures = e.failures.filter((t) => nowMs - t < WINDOW_MS);
    e.failures.push(nowMs);
    if (e.failures.length >= MAX_FAILURES) {
      e.lockedUntil = nowMs + LOCK_MS;
      e.failures = [];
    }
  }

  succeeded(address: string): void {
    this.#byAddress.delete(address);
  }
}
