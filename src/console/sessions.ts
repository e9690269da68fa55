/**
 * Signed-in operators: a random session id in an HttpOnly, SameSite=Strict cookie, looked up
 * here; sessions end at their expiry or on sign-out. Held in memory: a restart signs everyone out.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Operator } from './accounts.js';

export const SESSION_COOKIE = 'devox_console';

export interface Session {
  readonly id: string;
  readonly operator: Operator;
  readonly createdMs: number;
  readonly expiresMs: number;
}

export class Sessions {
  readonly #ttlMs: number;
  readonly #secure: boolean;
  readonly #path: string;
  readonly #byId = new Map<string, Session>();

  constructor(opts: { ttlSec: number; secureCookie: boolean; path: string }) {
    this.#ttlMs = opts.ttlSec * 1000;
    this.#secure = opts.secureCookie;
    this.#path = opts.path;
  }

  create(operator: Operator, nowMs = Date.now()): Session {
    this.#sweep(nowMs);
    const s: Session = { id: randomBytes(32).toString('base64url'), operator, createdMs: nowMs, expiresMs: nowMs + this.#ttlMs };
    this.#byId.set(s.id, s);
    return s;
  }

  /** The live session of a request's cookie, if any. */
  fromRequest(req: IncomingMessage, nowMs = Date.now()): Session | undefined {
    const id = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (!id) return undefined;
    const s = this.#byId.get(id);
    if (!s) return undefined;
    if (s.expiresMs <= nowMs) {
      this.#byId.delete(id);
      return undefined;
    }
    return s;
  }

  /** The session exists and has not expired. */
  isLive(id: string, nowMs = Date.now()): boolean {
    const s = this.#byId.get(id);
    return s !== undefined && s.expiresMs > nowMs;
  }

  end(id: string): void {
    this.#byId.delete(id);
  }

  /** Set-Cookie for a new session. */
  cookie(s: Session): string {
    return `${SESSION_COOKIE}=${s.id}; Path=${this.#path}; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.#ttlMs / 1000)}${this.#secure ? '; Secure' : ''}`;
  }

  /** Set-Cookie that clears the session cookie. */
  clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=${this.#path}; HttpOnly; SameSite=Strict; Max-Age=0${this.#secure ? '; Secure' : ''}`;
  }

  get size(): number {
    return this.#byId.size;
  }

  #sweep(nowMs: number): void {
    for (const [id, s] of this.#byId) if (s.expiresMs <= nowMs) this.#byId.delete(id);
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
