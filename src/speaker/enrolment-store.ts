/**
 * Where enrolments live: a NATS JetStream key-value bucket when NATS is configured (the
 * production store: replicated by JetStream, readable with `nats kv get <bucket> <account>`),
 * otherwise one JSON file per account in speaker.storeDir, otherwise memory (tests, demos).
 * The value is an EnrolmentRecord (embedding + model version + created time), never audio.
 *
 * The bucket is a plain JetStream stream in the KV layout (`KV_<bucket>` over `$KV.<bucket>.>`,
 * one message per key), so the nats CLI and the nats.js KV client read it; it is managed here
 * through @nats-io/jetstream to avoid another dependency. Erasing an account purges every
 * message of its key from the stream: nothing of it remains on the server.
 */
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { checkAccount } from './enrolment.js';
import type { EnrolmentRecord } from './types.js';

export interface EnrolmentStore {
  readonly kind: 'nats-kv' | 'file' | 'memory';
  get(account: string): Promise<EnrolmentRecord | null>;
  put(record: EnrolmentRecord): Promise<void>;
  /** Erases the account; true when it existed. */
  delete(account: string): Promise<boolean>;
  close(): Promise<void>;
}

export class MemoryEnrolmentStore implements EnrolmentStore {
  readonly kind = 'memory';
  readonly #m = new Map<string, EnrolmentRecord>();
  async get(account: string): Promise<EnrolmentRecord | null> {
    return this.#m.get(checkAccount(account)) ?? null;
  }
  async put(r: EnrolmentRecord): Promise<void> {
    this.#m.set(checkAccount(r.account), r);
  }
  async delete(account: string): Promise<boolean> {
    return this.#m.delete(checkAccount(account));
  }
  async close(): Promise<void> {}
}

/** One `<account>.json` per account (mode 0600) in a directory. */
export class FileEnrolmentStore implements EnrolmentStore {
  readonly kind = 'file';
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
  }
  #path(account: string): string {
    return join(this.#dir, `${checkAccount(account)}.json`);
  }
  async get(account: string): Promise<EnrolmentRecord | null> {
    try {
      return JSON.parse(await readFile(this.#path(account), 'utf8')) as EnrolmentRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }
  async put(r: EnrolmentRecord): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#path(r.account);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(r), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }
  async delete(account: string): Promise<boolean> {
    try {
      await unlink(this.#path(account));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
  async close(): Promise<void> {}
}

export class NatsKvEnrolmentStore implements EnrolmentStore {
  readonly kind = 'nats-kv';
  readonly bucket: string;
  readonly #nc: NatsConnection;
  readonly #owned: boolean;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(nc: NatsConnection, owned: boolean, bucket: string, jsm: JetStreamManager) {
    this.#nc = nc;
    this.#owned = owned;
    this.bucket = bucket;
    this.#jsm = jsm;
    this.#js = jetstream(nc, { timeout: 5000 });
  }

  /** Opens (creating when missing) the bucket on `nc`; `owned`: close() closes the connection. */
  static async open(nc: NatsConnection, bucket: string, owned: boolean): Promise<NatsKvEnrolmentStore> {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const stream = `KV_${bucket}`;
    try {
      await jsm.streams.info(stream);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await jsm.streams.add({
        name: stream,
        subjects: [`$KV.${bucket}.>`],
        storage: StorageType.File,
        max_msgs_per_subject: 1,
        discard: DiscardPolicy.New,
        allow_rollup_hdrs: true,
        deny_delete: true,
        allow_direct: true,
      });
    }
    return new NatsKvEnrolmentStore(nc, owned, bucket, jsm);
  }

  #subject(account: string): string {
    return `$KV.${this.bucket}.${checkAccount(account)}`;
  }

  async get(account: string): Promise<EnrolmentRecord | null> {
    const m = await this.#jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: this.#subject(account) });
    if (!m || m.data.length === 0) return null;
    const op = m.header?.get('KV-Operation');
    if (op === 'DEL' || op === 'PURGE') return null;
    return m.json<EnrolmentRecord>();
  }

  async put(r: EnrolmentRecord): Promise<void> {
    await this.#js.publish(this.#subject(r.account), JSON.stringify(r));
  }

  async delete(account: string): Promise<boolean> {
    const existed = (await this.get(account)) !== null;
    await this.#jsm.streams.purge(`KV_${this.bucket}`, { filter: this.#subject(account) });
    return existed;
  }

  async close(): Promise<void> {
    if (this.#owned && !this.#nc.isClosed()) await this.#nc.drain().catch(() => this.#nc.close());
  }
}

/** The store the config names: NATS KV when nats.servers is set, else files in storeDir, else memory. */
export async function openEnrolmentStore(opts: {
  nats: NatsConnection | null;
  ownsConnection: boolean;
  bucket: string;
  storeDir: string;
}): Promise<EnrolmentStore> {
  if (opts.nats) return NatsKvEnrolmentStore.open(opts.nats, opts.bucket, opts.ownsConnection);
  if (opts.storeDir) return new FileEnrolmentStore(opts.storeDir);
  return new MemoryEnrolmentStore();
}
