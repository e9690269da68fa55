/**
 * Optional SIP digest authentication of INVITEs (RFC 3261 22, RFC 2617 MD5 with qop=auth),
 * UAS side. Hand-written because drachtio-srf only ships the client (UAC) half and the
 * server half is ~60 lines. Nonces are stateless: "<issued ms>.<HMAC(secret, issued ms)>",
 * valid for nonceTtlMs, so nothing is stored per challenge.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface DigestCredentials {
  realm: string;
  username: string;
  password: string;
}

export type DigestResult = { ok: true } | { ok: false; challenge: string; why: string };

function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

/** Parses `Digest a="b", c=d` into lower-case keys. */
export function parseDigestParams(header: string): Record<string, string> | undefined {
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  for (const p of m[1]!.matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    out[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return out;
}

export class DigestAuthenticator {
  readonly #creds: DigestCredentials;
  readonly #secret = randomBytes(32);
  readonly #nonceTtlMs: number;

  constructor(creds: DigestCredentials, nonceTtlMs = 5 * 60_000) {
    this.#creds = creds;
    this.#nonceTtlMs = nonceTtlMs;
  }

  #nonce(issued: number): string {
    return `${issued}.${createHmac('sha256', this.#secret).update(String(issued)).digest('hex').slice(0, 32)}`;
  }

  challenge(stale = false): string {
    return `Digest realm="${this.#creds.realm}", nonce="${this.#nonce(Date.now())}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /** Checks the Authorization header of a request (method as on the request line). */
  verify(method: string, authorization: string | undefined, nowMs = Date.now()): DigestResult {
    if (authorization === undefined) return { ok: false, challenge: this.challenge(), why: 'no credentials' };
    const p = parseDigestParams(authorization);
    if (!p || !p.username || !p.nonce || !p.uri || !p.response) {
      return { ok: false, challenge: this.challenge(), why: 'malformed Authorization' };
    }
    if ((p.algorithm ?? 'MD5').toUpperCase() !== 'MD5') return { ok: false, challenge: this.challenge(), why: 'unsupported algorithm' };
    const issued = Number(p.nonce.split('.')[0]);
    const expected = Number.isFinite(issued) ? this.#nonce(issued) : '';
    if (expected.length === 0 || !safeEqual(expected, p.nonce)) return { ok: false, challenge: this.challenge(), why: 'unknown nonce' };
    if (nowMs - issued > this.#nonceTtlMs || issued - nowMs > 60_000) {
      return { ok: false, challenge: this.challenge(true), why: 'stale nonce' };
    }
    if (p.username !== this.#creds.username || (p.realm ?? '') !== this.#creds.realm) {
      return { ok: false, challenge: this.challenge(), why: 'unknown user or realm' };
    }
    const ha1 = md5(`${this.#creds.username}:${this.#creds.realm}:${this.#creds.password}`);
    const ha2 = md5(`${method}:${p.uri}`);
    const want = p.qop === 'auth' ? md5(`${ha1}:${p.nonce}:${p.nc ?? ''}:${p.cnonce ?? ''}:auth:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    if (!safeEqual(want, p.response.toLowerCase())) return { ok: false, challenge: this.challenge(), why: 'wrong response' };
    return { ok: true };
  }
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
