/**
 * What every `devox serve` watching the registry runs for shadow and canary: follows the
 * `shadow.<channel>` / `canary.<channel>` keys (candidates.ts) and starts, changes or stops the
 * node's shadow scorer and canary routing live, without a restart.
 *
 * For each (kind, channel): the key's entry, or, while the key was never written, the config's
 * start-up default (registry.shadow / registry.canary, for the band of its card). A new entry:
 *   off                  → stop (a canary's streams finish with it)
 *   same version         → only the share changes
 *   another version      → pull into the cache (object digests checked), check the stored card
 *                          is the entry's name, version, sha256 and band, then start it
 *                          (LiveCandidates: the runtime's own validation); it replaces the one
 *                          before only once it has loaded.
 * A corrupt, mismatched or invalid candidate is refused: logged with the reason, counted, the
 * revision not retried, and whatever ran before keeps running. A NATS error is retried at the
 * next poll. Noticed at once through a core subscription on the keys' subjects; the poll
 * (registry.pollSec) is the backstop.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { cardBand } from '../detect/band.js';
import { ModelLoadError } from '../detect/errors.js';
import type { ModelCard } from '../detect/types.js';
import type { Logger } from '../logger.js';
import { CANDIDATE_KINDS, candidateKey, readCandidate, refString, type CandidateKind, type CandidateRef } from './candidates.js';
import { ObjectStoreError } from './jetstream-store.js';
import { CoalescedPass } from './coalesced-pass.js';
import { readPulledCard } from './pulled-card.js';
import { CHANNELS, parseRef, RegistryError, type Channel, type ModelRegistry } from './registry.js';

export type CandidateRefusal = 'corrupt' | 'mismatch' | 'invalid_model';

/** What observability records (observability/registry-metrics.ts). All methods optional. */
export interface CandidateWatcherObserver {
  /** Now running (version and share), or stopped (version null). */
  applied?(kind: CandidateKind, channel: Channel, version: string | null, share: number): void;
  refused?(kind: CandidateKind, channel: Channel, version: string, reason: CandidateRefusal): void;
  unreachable?(): void;
}

/** The node side the watcher drives (LiveCandidates). */
export interface CandidateSlots {
  current(kind: CandidateKind, channel: Channel): { name: string; version: string; sha256: string; share: number } | undefined;
  start(kind: CandidateKind, channel: Channel, dir: string, share: number): Promise<unknown>;
  setShare(kind: CandidateKind, channel: Channel, share: number): void;
  stop(kind: CandidateKind, channel: Channel): Promise<void>;
  inUse(version: string): boolean;
}

export interface CandidateWatcherOptions {
  registry: ModelRegistry;
  nc: NatsConnection;
  slots: CandidateSlots;
  cacheDir: string;
  pollMs: number;
  /** Follow the shadow / canary keys (registry.watch); false: the config defaults only. */
  followKeys: boolean;
  /** Config start-up defaults: NAME@VERSION and share (version '' or share 0: none). */
  defaults: Array<{ kind: CandidateKind; version: string; share: number }>;
  log: Logger;
  observer?: CandidateWatcherObserver;
}

interface Desired {
  candidate: CandidateRef | null;
  share: number;
  /** What was acted on: `r<revision>` for a key, `default` for the config. */
  mark: string;
}

export class CandidateWatcher {
  readonly #o: CandidateWatcherOptions;
  /** Per `<kind>.<channel>`: the mark last acted on (applied, or refused for good). */
  readonly #done = new Map<string, string>();
  /** Config defaults resolved to their band (the card's), per `<kind>.<channel>`. */
  #defaults: Map<string, CandidateRef & { share: number }> | null = null;
  #subs: Subscription[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #checks = new CoalescedPass(() => this.#pass(), () => this.#closed);
  #closed = false;

  constructor(o: CandidateWatcherOptions) {
    this.#o = o;
  }

  /** Subscribes to the keys (when following them) and starts the poll (which also retries unresolved defaults). */
  start(): void {
    if (this.#o.followKeys) this.#subs = CANDIDATE_KINDS.map((k) => this.#o.nc.subscribe(this.#o.registry.kv.subject(`${k}.*`), { callback: () => void this.check() }));
    this.#timer = setInterval(() => void this.check(), this.#o.pollMs);
    this.#timer.unref();
  }

  /** Checks every (kind, channel) now (coalesced: one pass at a time, one more if asked meanwhile). Never rejects. */
  check(): Promise<void> {
    return this.#checks.run();
  }

  async #pass(): Promise<void> {
    if (!(await this.#resolveDefaults())) return;
    for (const kind of CANDIDATE_KINDS) for (const channel of CHANNELS) await this.#checkSlot(kind, channel);
  }

  /** Reads the config defaults' cards once (their band is the channel they apply to); false: registry unreachable. */
  async #resolveDefaults(): Promise<boolean> {
    if (this.#defaults) return true;
    const out = new Map<string, CandidateRef & { share: number }>();
    for (const d of this.#o.defaults) {
      if (!d.version || !(d.share > 0)) continue;
      let card: ModelCard;
      try {
        const { name, version } = parseRef(d.version);
        card = await this.#o.registry.card(name, version);
      } catch (err) {
        if (err instanceof RegistryError) {
          this.#o.log.error({ kind: d.kind, candidate: d.version, err: err.message }, `registry.${d.kind} (config) refused: not a published version`);
          continue;
        }
        this.#o.observer?.unreachable?.();
        return false;
      }
      out.set(candidateKey(d.kind, cardBand(card)), { name: card.name, version: card.version, sha256: card.sha256, share: Math.min(1, d.share) });
    }
    this.#defaults = out;
    return true;
  }

  async #checkSlot(kind: CandidateKind, channel: Channel): Promise<void> {
    const key = candidateKey(kind, channel);
    let desired: Desired | null;
    try {
      const e = this.#o.followKeys ? await readCandidate(this.#o.registry, kind, channel) : null;
      const d = this.#defaults?.get(key);
      desired = e ? { candidate: e.entry.candidate, share: e.entry.share, mark: `r${e.revision}` } : d ? { candidate: d, share: d.share, mark: 'default' } : null;
    } catch (err) {
      this.#o.observer?.unreachable?.();
      this.#o.log.debug({ key, err: (err as Error).message }, 'registry unreachable; retrying at the next poll');
      return;
    }
    if (!desired || this.#done.get(key) === desired.mark) return;
    await this.#apply(kind, channel, desired);
  }

  async #apply(kind: CandidateKind, channel: Channel, want: Desired): Promise<void> {
    const { slots, log } = this.#o;
    const key = candidateKey(kind, channel);
    const cur = slots.current(kind, channel);
    const c = want.candidate;
    if (!c) {
      if (cur) await slots.stop(kind, channel);
      this.#done.set(key, want.mark);
      if (cur) {
        this.#o.observer?.applied?.(kind, channel, null, 0);
        log.info({ kind, channel, was: refString(cur) }, `registry ${kind} off`);
      }
      return;
    }
    if (cur && cur.name === c.name && cur.version === c.version && cur.sha256 === c.sha256) {
      if (cur.share !== want.share) {
        slots.setShare(kind, channel, want.share);
        this.#o.observer?.applied?.(kind, channel, c.version, want.share);
        log.info({ kind, channel, candidate: refString(c), share: want.share, was: cur.share }, `registry ${kind} share changed`);
      }
      this.#done.set(key, want.mark);
      return;
    }
    const fields = { kind, channel, candidate: refString(c), share: want.share, was: refString(cur) ?? null, mark: want.mark };
    const dir = resolve(this.#o.cacheDir, c.name, c.version);
    const refuse = async (reason: CandidateRefusal, detail: string): Promise<void> => {
      this.#done.set(key, want.mark);
      this.#o.observer?.refused?.(kind, channel, c.version, reason);
      log.error({ ...fields, reason, detail }, `registry ${kind} candidate refused: ${cur ? 'the one before keeps running' : 'none runs'}`);
      if (!slots.inUse(c.version)) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    };
    try {
      await this.#o.registry.pull(c.name, c.version, dir);
    } catch (err) {
      if (err instanceof ObjectStoreError || (err instanceof RegistryError && err.code !== 'conflict')) return refuse('corrupt', (err as Error).message);
      this.#o.observer?.unreachable?.();
      log.warn({ ...fields, err: (err as Error).message }, `pulling the ${kind} candidate failed; retrying at the next poll`);
      return;
    }
    const card = await readPulledCard(dir);
    if (!card || card.name !== c.name || card.version !== c.version || card.sha256 !== c.sha256 || cardBand(card) !== channel) {
      return refuse('mismatch', `the stored card (${card ? `${card.name}@${card.version} sha256 ${card.sha256} band ${cardBand(card)}` : 'unreadable'}) is not ${refString(c)} sha256 ${c.sha256} for ${channel}`);
    }
    try {
      await slots.start(kind, channel, dir, want.share);
    } catch (err) {
      return refuse('invalid_model', err instanceof ModelLoadError ? err.message : (err as Error).message);
    }
    this.#done.set(key, want.mark);
    this.#o.observer?.applied?.(kind, channel, c.version, want.share);
    log.info({ ...fields, modelDir: dir }, `registry ${kind} candidate running`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const s of this.#subs) s.unsubscribe();
    await this.#checks.idle();
  }
}
