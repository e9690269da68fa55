/**
 * The two JetStream storage shapes the model registry needs, on the plain JetStream API
 * (@nats-io/kv and @nats-io/obj are not dependencies of DevoX): both use the stream layouts of
 * the NATS Key-Value and Object Store conventions (ADR-8, ADR-20), so `nats kv` / `nats obj`
 * should read them (not verified: no nats CLI where this was written).
 *
 * - KvBucket: stream `KV_<bucket>` over `$KV.<bucket>.>`, one subject per key, the last
 *   `history` values of each key kept (the registry's audit trail and rollback stack).
 * - ObjectBucket: stream `OBJ_<bucket>`; an object's bytes in 128 KiB chunks on
 *   `$O.<bucket>.C.<nuid>`, its description (size, chunks, SHA-256 digest) on
 *   `$O.<bucket>.M.<base64url(name)>` (rolled up: the last one wins).
 *
 * Reads are direct message gets (no consumer state), so a reconnect after an outage needs
 * nothing rebuilt.
 */
import { createHash } from 'node:crypto';
import { headers, nanos, nuid, type NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
} from '@nats-io/jetstream';

const CHUNK_BYTES = 128 * 1024;
const API_TIMEOUT_MS = 5000;

async function ensureStream(jsm: JetStreamManager, name: string, subjects: string[], extra: Record<string, unknown>): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({ name, subjects, storage: StorageType.File, ...extra });
  }
}

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Stream sequence: increases with every put to the bucket. */
  revision: number;
  created: Date;
}

function toEntry(key: string, m: StoredMsg): KvEntry {
  return { key, value: m.data, revision: m.seq, created: m.time };
}

/** A Key-Value bucket on its JetStream stream; keys are NATS subject tokens (dots allowed). */
export class KvBucket {
  readonly name: string;
  readonly #stream: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(name: string, js: JetStreamClient, jsm: JetStreamManager) {
    this.name = name;
    this.#stream = `KV_${name}`;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Opens the bucket, creating it (with `history` values per key) when missing. */
  static async open(nc: NatsConnection, name: string, history = 64): Promise<KvBucket> {
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    await ensureStream(jsm, `KV_${name}`, [`$KV.${name}.>`], {
      max_msgs_per_subject: history,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
      discard: DiscardPolicy.New,
      duplicate_window: nanos(120_000),
    });
    return new KvBucket(name, jetstream(nc, { timeout: API_TIMEOUT_MS }), jsm);
  }

  subject(key: string): string {
    return `$KV.${this.name}.${key}`;
  }

  /** Stores a value; with `expectRevision` the put fails unless the key's last revision is that (0: the key is new). */
  async put(key: string, value: Uint8Array | string, expectRevision?: number): Promise<number> {
    const opts = expectRevision === undefined ? {} : { expect: { lastSubjectSequence: expectRevision } };
    const ack = await this.#js.publish(this.subject(key), value, opts);
    return ack.seq;
  }

  async get(key: string): Promise<KvEntry | null> {
    const m = await this.#jsm.direct.getMessage(this.#stream, { last_by_subj: this.subject(key) });
    return m ? toEntry(key, m) : null;
  }

  /** The key's kept values, oldest first. */
  async history(key: string): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    const subject = this.subject(key);
    let seq = 1;
    for (;;) {
      const m = await this.#jsm.direct.getMessage(this.#stream, { seq, next_by_subj: subject });
      if (!m) return out;
      out.push(toEntry(key, m));
      seq = m.seq + 1;
    }
  }
}

/** What an object's meta message says (the Object Store convention's ObjectInfo, the fields used here). */
export interface ObjectInfo {
  name: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  /** "SHA-256=<base64url>" */
  digest: string;
  mtime: string;
  deleted?: boolean;
  headers?: Record<string, string[]>;
  options?: { max_chunk_size: number };
}

export class ObjectStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ObjectStoreError';
  }
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** An Object Store bucket on its JetStream stream. */
export class ObjectBucket {
  readonly name: string;
  readonly #stream: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(name: string, js: JetStreamClient, jsm: JetStreamManager) {
    this.name = name;
    this.#stream = `OBJ_${name}`;
    this.#js = js;
    this.#jsm = jsm;
  }

  static async open(nc: NatsConnection, name: string): Promise<ObjectBucket> {
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    await ensureStream(jsm, `OBJ_${name}`, [`$O.${name}.C.>`, `$O.${name}.M.>`], {
      allow_rollup_hdrs: true,
      allow_direct: true,
      discard: DiscardPolicy.New,
    });
    return new ObjectBucket(name, jetstream(nc, { timeout: API_TIMEOUT_MS }), jsm);
  }

  #metaSubject(name: string): string {
    return `$O.${this.name}.M.${b64url(Buffer.from(name, 'utf8'))}`;
  }

  /** Chunks first, then the meta message: a reader never sees an object whose bytes are not all stored. */
  async put(name: string, bytes: Uint8Array): Promise<ObjectInfo> {
    const id = nuid.next();
    const chunkSubject = `$O.${this.name}.C.${id}`;
    let chunks = 0;
    for (let off = 0; off < bytes.length; off += CHUNK_BYTES) {
      await this.#js.publish(chunkSubject, bytes.subarray(off, Math.min(bytes.length, off + CHUNK_BYTES)));
      chunks++;
    }
    const info: ObjectInfo = {
      name,
      bucket: this.name,
      nuid: id,
      size: bytes.length,
      chunks,
      digest: `SHA-256=${b64url(createHash('sha256').update(bytes).digest())}`,
      mtime: new Date().toISOString(),
      options: { max_chunk_size: CHUNK_BYTES },
    };
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    await this.#js.publish(this.#metaSubject(name), JSON.stringify(info), { headers: h });
    return info;
  }

  async info(name: string): Promise<ObjectInfo | null> {
    const m = await this.#jsm.direct.getMessage(this.#stream, { last_by_subj: this.#metaSubject(name) });
    if (!m) return null;
    const info = m.json<ObjectInfo>();
    return info.deleted ? null : info;
  }

  /** The object's bytes, checked against its size and digest (ObjectStoreError otherwise); null when absent. */
  async get(name: string): Promise<Uint8Array | null> {
    const info = await this.info(name);
    if (!info) return null;
    const parts: Uint8Array[] = [];
    const subject = `$O.${this.name}.C.${info.nuid}`;
    let seq = 1;
    for (let i = 0; i < info.chunks; i++) {
      const m = await this.#jsm.direct.getMessage(this.#stream, { seq, next_by_subj: subject });
      if (!m) throw new ObjectStoreError(`object ${name}: chunk ${i + 1} of ${info.chunks} missing`);
      parts.push(m.data);
      seq = m.seq + 1;
    }
    const bytes = Buffer.concat(parts);
    const digest = `SHA-256=${b64url(createHash('sha256').update(bytes).digest())}`;
    if (bytes.length !== info.size || digest !== info.digest) {
      throw new ObjectStoreError(`object ${name}: ${bytes.length} bytes with ${digest}, its meta says ${info.size} bytes with ${info.digest}`);
    }
    return bytes;
  }

  /** Every live object's info (one meta message per name). */
  async list(): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let seq = 1;
    const subject = `$O.${this.name}.M.>`;
    for (;;) {
      const m = await this.#jsm.direct.getMessage(this.#stream, { seq, next_by_subj: subject });
      if (!m) break;
      const info = m.json<ObjectInfo>();
      if (!info.deleted) out.push(info);
      seq = m.seq + 1;
    }
    return out;
  }
}
