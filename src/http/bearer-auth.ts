/**
 * Bearer tokens of the HTTP API (RFC 6750): each route has an access level, and a request reaches
 * it only with `Authorization: Bearer <token>` for that level, unless the level has no token.
 *
 *   control  POST/GET/DELETE /streams (and routes added without an access level)
 *   metrics  GET /metrics (the control token is accepted too)
 *   health   GET /healthz, /readyz: open unless http.protectHealth (then the metrics or control token)
 *   public   pages that carry their own authentication (the WebRTC page: its signaling socket is checked)
 *
 * Comparisons are constant-time: SHA-256 digests of the offered and expected tokens through
 * timingSafeEqual, every configured token compared so the time does not tell which one matched.
 * A refusal is 401 with `WWW-Authenticate: Bearer realm="devox"` (plus error="invalid_token" for
 * a wrong token) and a JSON body saying why; the token is never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type RouteAccess = 'control' | 'metrics' | 'health' | 'public';

export interface HttpAuthConfig {
  /** Empty: control routes are open (config allows it on loopback only). */
  controlToken: string;
  /** Empty: /metrics is open. */
  metricsToken: string;
  /** /healthz and /readyz need the metrics or control token. */
  protectHealth: boolean;
}

/** Why a request was refused (the JSON body's `reason`). */
export type AuthRefusal = 'missing_token' | 'malformed_authorization' | 'invalid_token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class BearerAuth {
  readonly #control: Buffer | undefined;
  readonly #metrics: Buffer | undefined;
  readonly #protectHealth: boolean;

  constructor(cfg: HttpAuthConfig) {
    this.#control = cfg.controlToken ? digest(cfg.controlToken) : undefined;
    this.#metrics = cfg.metricsToken ? digest(cfg.metricsToken) : undefined;
    this.#protectHealth = cfg.protectHealth;
  }

  /** False when the control routes are open (no control token). */
  get controlProtected(): boolean {
    return this.#control !== undefined;
  }

  /** The tokens that open `access`; empty: open to anyone. */
  #accepted(access: RouteAccess): Buffer[] {
    const both = [this.#metrics, this.#control].filter((d): d is Buffer => d !== undefined);
    switch (access) {
      case 'public':
        return [];
      case 'control':
        return this.#control ? [this.#control] : [];
      case 'metrics':
        return this.#metrics ? both : [];
      case 'health':
        return this.#protectHealth ? both : [];
    }
  }

  /** undefined when `req` may reach a route of level `access`, else why not. */
  check(access: RouteAccess, req: IncomingMessage): AuthRefusal | undefined {
    const accepted = this.#accepted(access);
    if (accepted.length === 0) return undefined;
    const header = req.headers.authorization;
    if (header === undefined || header === '') return 'missing_token';
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
    if (!m) return 'malformed_authorization';
    const offered = digest(m[1]!);
    let ok = false;
    for (const d of accepted) ok = timingSafeEqual(offered, d) || ok;
    return ok ? undefined : 'invalid_token';
  }
}

const MESSAGES: Record<AuthRefusal, string> = {
  missing_token: 'this endpoint requires "Authorization: Bearer <token>"',
  malformed_authorization: 'the Authorization header is not "Bearer <token>"',
  invalid_token: 'bearer token not accepted',
};

/** Answers 401 for `reason` (RFC 6750 section 3). */
export function sendUnauthorized(res: ServerResponse, reason: AuthRefusal): void {
  const challenge =
    reason === 'missing_token' ? 'Bearer realm="devox"' : `Bearer realm="devox", error="${reason === 'invalid_token' ? 'invalid_token' : 'invalid_request'}"`;
  const body = JSON.stringify({ error: 'unauthorized', reason, message: MESSAGES[reason] }) + '\n';
  res.writeHead(401, {
    'www-authenticate': challenge,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
