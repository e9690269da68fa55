/**
 * The model registry on NATS JetStream: versioned model folders in an Object Store bucket,
 * which version serves which channel (narrowband / wideband) in a Key-Value bucket.
 *
 *   objects  <name>/<version>/<file>      model.onnx (card.file), card.json, head.json, README.md, recipe.json
 *   kv       serving.<channel>            the serving entry; the key's history is the audit trail and the rollback stack
 *            shadow.<channel>, canary.<channel>   the candidates serving nodes run beside it (candidates.ts)
 *   events   <prefix>.model.audit         one event per publish / promote / rollback / shadow / canary (the events stream keeps them)
 *
 * Versions are immutable: publish refuses a name@version that exists. card.json is uploaded last,
 * so a version without its card is an interrupted publish and invisible to list/pull/promote.
 * Validation before upload is the runtime's own (model-registry.ts loadModel: card, sha256, ONNX
 * input/output shapes, thresholds, head.json), plus the fleet's window length.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { cardBand, type Band } from '../detect/band.js';
import { loadModel, readModelCard } from '../detect/model-registry.js';
import type { ModelCard } from '../detect/types.js';
import type { Logger } from '../logger.js';
import { KvBucket, ObjectBucket } from './jetstream-store.js';

export type Channel = Band;
export const CHANNELS: readonly Channel[] = ['narrowband', 'wideband'];

/** Files a model folder may carry into the registry besides card.file (others stay local). */
const OPTIONAL_FILES = ['head.json', 'replay.json', 'README.md', 'recipe.json'] as const;

export class RegistryError extends Error {
  readonly code: 'exists' | 'not_found' | 'invalid' | 'conflict' | 'nothing_to_roll_back';
  constructor(code: RegistryError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryError';
    this.code = code;
  }
}

/** The value of `serving.<channel>`: one promotion or rollback. */
export interface ServingEntry {
  action: 'promote' | 'rollback';
  name: string;
  version: string;
  channel: Channel;
  /** model.onnx's sha256 (card.sha256): a pulled copy must hash to it. */
  sha256: string;
  /** The version serving the channel before this entry (null: none). */
  from: string | null;
  by: string;
  at: string;
}

export interface ModelVersionInfo {
  name: string;
  version: string;
  band: Band;
  sha256: string;
  files: string[];
  bytes: number;
  publishedAt: string;
  /** Whether a head.json re-heads the backbone (devox learn). */
  learned: boolean;
  card: ModelCard;
}

export interface RegistryOptions {
  objectBucket: string;
  kvBucket: string;
  /** nats.subjectPrefix: audit events go to `<prefix>.model.audit`. */
  subjectPrefix: string;
  log: Logger;
}

export function servingKey(channel: Channel): string {
  return `serving.${channel}`;
}

export function parseRef(ref: string): { name: string; version: string } {
  const at = ref.lastIndexOf('@');
  if (at <= 0 || at === ref.length - 1) throw new RegistryError('invalid', `expected NAME@VERSION, got ${JSON.stringify(ref)}`);
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

/** Object names are NATS-safe path segments. */
function checkSegment(what: string, s: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/.test(s)) {
    throw new RegistryError('invalid', `${what} ${JSON.stringify(s)} must be 1-128 characters of A-Z a-z 0-9 . _ + - (no slashes)`);
  }
}

export class ModelRegistry {
  readonly objects: ObjectBucket;
  readonly kv: KvBucket;
  readonly #nc: NatsConnection;
  readonly #opts: RegistryOptions;

  private constructor(nc: NatsConnection, objects: ObjectBucket, kv: KvBucket, opts: RegistryOptions) {
    this.#nc = nc;
    this.objects = objects;
    this.kv = kv;
    this.#opts = opts;
  }

  /** Opens (creating when missing) the two buckets. */
  static async open(nc: NatsConnection, opts: RegistryOptions): Promise<ModelRegistry> {
    const [objects, kv] = await Promise.all([ObjectBucket.open(nc, opts.objectBucket), KvBucket.open(nc, opts.kvBucket)]);
    return new ModelRegistry(nc, objects, kv, opts);
  }

  /**
   * Validates a model folder the way a serving node will (loadModel), checks the window length,
   * refuses an existing version, then uploads its files, card.json last.
   */
  async publish(dir: string, opts: { windowSec: number; by: string }): Promise<ModelVersionInfo> {
    const abs = resolve(dir);
    const card = await readModelCard(abs);
    checkSegment('card.name', card.name);
    checkSegment('card.version', card.version);
    if (Math.abs(card.input.windowSec - opts.windowSec) > 1e-9) {
      throw new RegistryError('invalid', `${card.name}@${card.version}: card input.windowSec ${card.input.windowSec} differs from the fleet's window.lengthSec ${opts.windowSec}`);
    }
    const loaded = await loadModel(abs, {}); // card, sha256, ONNX contract, head.json: throws ModelLoadError
    await loaded.release();
    if (await this.objects.info(`${card.name}/${card.version}/card.json`)) {
      throw new RegistryError('exists', `${card.name}@${card.version} is already published: versions are immutable, give it a new version`);
    }
    const files = [card.file, ...OPTIONAL_FILES.filter((f) => f !== card.file && existsSync(join(abs, f)))];
    let bytes = 0;
    for (const f of files) {
      const data = await readFile(join(abs, f));
      bytes += data.length;
      await this.objects.put(`${card.name}/${card.version}/${f}`, data);
    }
    const cardBytes = await readFile(join(abs, 'card.json'));
    await this.objects.put(`${card.name}/${card.version}/card.json`, cardBytes);
    bytes += cardBytes.length;
    await this.audit({ action: 'publish', name: card.name, version: card.version, by: opts.by, sha256: card.sha256 });
    return {
      name: card.name,
      version: card.version,
      band: cardBand(card),
      sha256: card.sha256,
      files: [...files, 'card.json'],
      bytes,
      publishedAt: new Date().toISOString(),
      learned: files.includes('head.json'),
      card,
    };
  }

  /** Every published version (those whose card.json is stored), oldest first. */
  async list(): Promise<ModelVersionInfo[]> {
    const infos = await this.objects.list();
    const byVersion = new Map<string, { files: string[]; bytes: number; mtime: string }>();
    for (const i of infos) {
      const parts = i.name.split('/');
      if (parts.length !== 3) continue;
      const key = `${parts[0]}/${parts[1]}`;
      const v = byVersion.get(key) ?? { files: [], bytes: 0, mtime: i.mtime };
      v.files.push(parts[2]!);
      v.bytes += i.size;
      if (parts[2] === 'card.json') v.mtime = i.mtime;
      byVersion.set(key, v);
    }
    const out: ModelVersionInfo[] = [];
    for (const [key, v] of byVersion) {
      if (!v.files.includes('card.json')) continue;
      const [name, version] = key.split('/') as [string, string];
      const card = await this.card(name, version);
      out.push({ name, version, band: cardBand(card), sha256: card.sha256, files: v.files, bytes: v.bytes, publishedAt: v.mtime, learned: v.files.includes('head.json'), card });
    }
    return out.sort((a, b) => a.publishedAt.localeCompare(b.publishedAt));
  }

  async card(name: string, version: string): Promise<ModelCard> {
    const bytes = await this.objects.get(`${name}/${version}/card.json`);
    if (!bytes) throw new RegistryError('not_found', `${name}@${version} is not published`);
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as ModelCard;
  }

  /**
   * Downloads name@version into `<dir>` (written beside, then renamed into place: a reader
   * never sees half a folder). Each object is checked against its digest; the model file
   * against the card's sha256 when it is loaded. Returns the folder.
   */
  async pull(name: string, version: string, dir: string): Promise<string> {
    const target = resolve(dir);
    if (existsSync(join(target, 'card.json'))) return target;
    const card = await this.card(name, version);
    const tmp = `${target}.partial-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    try {
      const infos = (await this.objects.list()).filter((i) => i.name.startsWith(`${name}/${version}/`));
      for (const i of infos) {
        const file = i.name.slice(`${name}/${version}/`.length);
        const data = await this.objects.get(i.name);
        if (!data) throw new RegistryError('not_found', `${name}@${version}: ${file} vanished during the pull`);
        await writeFile(join(tmp, file), data);
      }
      if (!existsSync(join(tmp, card.file))) throw new RegistryError('invalid', `${name}@${version}: ${card.file} is not stored`);
      await mkdir(resolve(target, '..'), { recursive: true });
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
      return target;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The entry serving `channel` now and its KV revision; null when nothing was promoted. */
  async serving(channel: Channel): Promise<{ entry: ServingEntry; revision: number } | null> {
    const e = await this.kv.get(servingKey(channel));
    if (!e) return null;
    return { entry: JSON.parse(Buffer.from(e.value).toString('utf8')) as ServingEntry, revision: e.revision };
  }

  /** The channel's promotions and rollbacks, oldest first (bounded by the bucket's history). */
  async history(channel: Channel): Promise<Array<ServingEntry & { revision: number; stored: string }>> {
    const h = await this.kv.history(servingKey(channel));
    return h.map((e) => ({ ...(JSON.parse(Buffer.from(e.value).toString('utf8')) as ServingEntry), revision: e.revision, stored: e.created.toISOString() }));
  }

  /** Makes name@version serve `channel` (its card must serve that band). */
  async promote(name: string, version: string, channel: Channel, by: string): Promise<ServingEntry> {
    const card = await this.card(name, version);
    if (cardBand(card) !== channel) {
      throw new RegistryError('invalid', `${name}@${version} serves ${cardBand(card)} (card band), not ${channel}`);
    }
    const cur = await this.serving(channel);
    const entry: ServingEntry = {
      action: 'promote', name, version, channel, sha256: card.sha256, from: cur ? cur.entry.version : null, by, at: new Date().toISOString(),
    };
    await this.#write(channel, entry, cur?.revision ?? 0);
    return entry;
  }

  /**
   * Restores the version that served before the current one: the history replayed as a stack
   * (a promote pushes, a rollback pops), so repeated rollbacks walk back through promotions.
   */
  async rollback(channel: Channel, by: string): Promise<ServingEntry> {
    const h = await this.history(channel);
    const stack: ServingEntry[] = [];
    for (const e of h) {
      if (e.action === 'promote') stack.push(e);
      else stack.pop();
    }
    const cur = stack[stack.length - 1];
    const prev = stack[stack.length - 2];
    if (!cur || !prev) throw new RegistryError('nothing_to_roll_back', `no earlier promotion of ${channel} in the kept history to roll back to`);
    const last = h[h.length - 1]!;
    const entry: ServingEntry = {
      action: 'rollback', name: prev.name, version: prev.version, channel, sha256: prev.sha256, from: last.version, by, at: new Date().toISOString(),
    };
    await this.#write(channel, entry, last.revision);
    return entry;
  }

  async #write(channel: Channel, entry: ServingEntry, expectRevision: number): Promise<void> {
    try {
      await this.kv.put(servingKey(channel), JSON.stringify(entry), expectRevision);
    } catch (err) {
      throw new RegistryError('conflict', `${servingKey(channel)} changed while this ${entry.action} was prepared; try again (${(err as Error).message})`, { cause: err });
    }
    await this.audit({ ...entry });
  }

  /** A structured log line and an event on `<prefix>.model.audit` (stored when a stream captures it). */
  async audit(fields: Record<string, unknown>): Promise<void> {
    const event = { type: 'model.audit', ...fields, at: fields.at ?? new Date().toISOString(), host: process.env.HOSTNAME ?? '' };
    this.#opts.log.info({ audit: event }, 'model registry audit');
    const subject = `${this.#opts.subjectPrefix}.model.audit`;
    try {
      await jetstream(this.#nc).publish(subject, JSON.stringify(event), { timeout: 5000 });
    } catch (err) {
      // No stream over the subject (no devox serve created it yet): the KV history still holds promotions.
      this.#opts.log.warn({ subject, err: (err as Error).message }, 'audit event not stored in JetStream');
    }
  }
}
