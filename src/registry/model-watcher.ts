/**
 * What every `devox serve` with NATS runs: watches the registry's `serving.<channel>` keys, pulls
 * a newly promoted version into the local cache, checks it (the object digests, the entry's
 * sha256, then the runtime's own validation when the detector loads it) and hot-swaps it in
 * between batches (Detector.swapModel: no window dropped or scored twice, live calls keep their
 * state). A corrupt or mismatched version is refused, logged with the reason and counted, and
 * the model serving keeps serving; that revision is not retried (a new promotion is).
 *
 * A key change is noticed at once through a core subscription on the key's subject; a poll
 * every registry.pollSec is the backstop (a change made while NATS was unreachable, a missed
 * message). A NATS error while reading or pulling is retried at the next poll.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { cardBand } from '../detect/band.js';
import { ModelLoadError } from '../detect/errors.js';
import type { ModelCard } from '../detect/types.js';
import type { Logger } from '../logger.js';
import { ObjectStoreError } from './jetstream-store.js';
import { CoalescedPass } from './coalesced-pass.js';
import { readPulledCard } from './pulled-card.js';
import { RegistryError, type Channel, type ModelRegistry, type ServingEntry } from './registry.js';

export type SwapRefusal = 'pull_failed' | 'corrupt' | 'mismatch' | 'invalid_model';

/** What observability records (observability/registry-metrics.ts). All methods optional. */
export interface ModelWatcherObserver {
  swapped?(channel: Channel, version: string, seconds: number): void;
  refused?(channel: Channel, version: string, reason: SwapRefusal): void;
  /** A read of the registry failed (NATS down...): retried at the next poll. */
  unreachable?(): void;
}

export interface ModelWatcherOptions {
  registry: ModelRegistry;
  nc: NatsConnection;
  /** The channels this node serves with a model of their own. */
  channels: readonly Channel[];
  cacheDir: string;
  pollMs: number;
  /** The running model of a channel (its card), to skip an entry it already serves. */
  current(channel: Channel): Readonly<ModelCard>;
  /** Loads, verifies and swaps in the folder for the channel; ModelLoadError on refusal. */
  swap(channel: Channel, dir: string): Promise<void>;
  log: Logger;
  observer?: ModelWatcherObserver;
}

export class ModelWatcher {
  readonly #o: ModelWatcherOptions;
  /** KV revision last acted on per channel (swapped, or refused for good). */
  readonly #done = new Map<Channel, number>();
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #checks = new CoalescedPass(() => this.#pass(), () => this.#closed);
  #closed = false;

  constructor(opts: ModelWatcherOptions) {
    this.#o = opts;
  }

  start(): void {
    const subject = this.#o.registry.kv.subject('serving.*');
    this.#sub = this.#o.nc.subscribe(subject, { callback: () => void this.check() });
    this.#timer = setInterval(() => void this.check(), this.#o.pollMs);
    this.#timer.unref();
    void this.check();
  }

  /** Checks every channel now (coalesced: one pass at a time, one more if asked meanwhile). Never rejects. */
  check(): Promise<void> {
    return this.#checks.run();
  }

  async #pass(): Promise<void> {
    for (const c of this.#o.channels) await this.#checkChannel(c);
  }

  async #checkChannel(channel: Channel): Promise<void> {
    const log = this.#o.log;
    let s: { entry: ServingEntry; revision: number } | null;
    try {
      s = await this.#o.registry.serving(channel);
    } catch (err) {
      this.#o.observer?.unreachable?.();
      log.debug({ channel, err: (err as Error).message }, 'registry unreachable; retrying at the next poll');
      return;
    }
    if (!s || this.#done.get(channel) === s.revision) return;
    const e = s.entry;
    const cur = this.#o.current(channel);
    if (cur.name === e.name && cur.version === e.version && cur.sha256 === e.sha256) {
      this.#done.set(channel, s.revision);
      return;
    }
    const fields = { channel, model: e.name, modelVersion: e.version, from: cur.version, revision: s.revision, action: e.action };
    const dir = resolve(this.#o.cacheDir, e.name, e.version);
    const refuse = async (reason: SwapRefusal, detail: string, err?: unknown): Promise<void> => {
      this.#done.set(channel, s.revision);
      this.#o.observer?.refused?.(channel, e.version, reason);
      log.error({ ...fields, reason, detail, ...(err ? { err } : {}) }, 'registry model refused: the current model keeps serving');
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    };
    const t0 = performance.now();
    try {
      await this.#o.registry.pull(e.name, e.version, dir);
    } catch (err) {
      if (err instanceof ObjectStoreError || (err instanceof RegistryError && err.code !== 'conflict')) {
        return refuse('corrupt', (err as Error).message);
      }
      this.#o.observer?.unreachable?.();
      log.warn({ ...fields, err: (err as Error).message }, 'pulling the promoted model failed; retrying at the next poll');
      return;
    }
    const card = await readPulledCard(dir);
    if (!card || card.sha256 !== e.sha256 || card.version !== e.version || card.name !== e.name || cardBand(card) !== channel) {
      return refuse('mismatch', `the stored card (${card ? `${card.name}@${card.version} sha256 ${card.sha256}` : 'unreadable'}) is not the promoted ${e.name}@${e.version} sha256 ${e.sha256}`);
    }
    try {
      await this.#o.swap(channel, dir);
    } catch (err) {
      if (err instanceof ModelLoadError) return refuse('invalid_model', err.message);
      return refuse('invalid_model', (err as Error).message, err);
    }
    const seconds = (performance.now() - t0) / 1000;
    this.#done.set(channel, s.revision);
    this.#o.observer?.swapped?.(channel, e.version, seconds);
    log.info({ ...fields, seconds: Number(seconds.toFixed(3)), modelDir: dir }, 'registry model now serving');
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#sub?.unsubscribe();
    await this.#checks.idle();
  }
}
