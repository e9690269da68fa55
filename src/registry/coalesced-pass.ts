/**
 * One pass at a time over what a registry watcher checks: a run asked for while a pass is in
 * flight joins it and makes it go round once more (the KV change that asked may have come after
 * the pass read that key). Used by the serving model's and the candidates' watchers.
 */
export class CoalescedPass {
  readonly #pass: () => Promise<void>;
  readonly #stopped: () => boolean;
  #running: Promise<void> | null = null;
  #again = false;

  /** pass: one check of everything (must not reject); stopped: true once the owner is closed. */
  constructor(pass: () => Promise<void>, stopped: () => boolean) {
    this.#pass = pass;
    this.#stopped = stopped;
  }

  run(): Promise<void> {
    if (this.#stopped()) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && !this.#stopped());
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Resolves once the pass in flight, if any, has ended. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }
}
