/**
 * Operator accounts: scrypt password hashes (node:crypto) in config, checked in constant time.
 * A hash reads `scrypt$N$r$p$<salt base64>$<key base64>`; `devox console-hash` writes one.
 * An unknown name costs the same scrypt as a known one, so timing does not tell names apart.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { ConsoleConfig, OperatorRole } from './config-schema.js';

const KEY_LEN = 32;
const DEFAULT_PARAMS = { N: 16384, r: 8, p: 1 };

export interface Operator {
  readonly name: string;
  readonly role: OperatorRole;
}

function scryptAsync(password: string, salt: Buffer, len: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, len, { ...opts, maxmem: 256 * opts.N! * opts.r! }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A new hash of `password` with a random salt. */
export async function hashPassword(password: string, params = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LEN, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(h: string): ParsedHash {
  const [, n, r, p, salt, key] = h.split('$');
  return { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt!, 'base64'), key: Buffer.from(key!, 'base64') };
}

/** True when `password` matches `hash`. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  const got = await scryptAsync(password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p });
  return got.length === h.key.length && timingSafeEqual(got, h.key);
}

export class Accounts {
  readonly #byName: Map<string, { op: Operator; hash: ParsedHash; raw: string }>;
  /** Checked against for unknown names (same cost as a real check). */
  readonly #decoy: string;

  constructor(operators: ConsoleConfig['operators']) {
    this.#byName = new Map(operators.map((o) => [o.name, { op: Object.freeze({ name: o.name, role: o.role }), hash: parseHash(o.passwordHash), raw: o.passwordHash }]));
    this.#decoy = operators[0]?.passwordHash ?? `scrypt$${DEFAULT_PARAMS.N}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;
  }

  get size(): number {
    return this.#byName.size;
  }

  /** The operator when name and password match, else undefined. */
  async authenticate(name: string, password: string): Promise<Operator | undefined> {
    const entry = this.#byName.get(name);
    const ok = await verifyPassword(password, entry?.raw ?? this.#decoy);
    return entry && ok ? entry.op : undefined;
  }
}
