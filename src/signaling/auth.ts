/**
 * Authentication of every signaling upgrade — the WebSocket media stream paths and the WebRTC
 * signaling socket alike — decided from the HTTP request alone (before any audio is read):
 *  - `Authorization: Bearer <token>` with a token from websocket.tokens, or
 *  - a signed URL (checked whenever the header is absent or is not an accepted bearer token,
 *    e.g. jambonz's Basic wsAuth or Telnyx's own stream_auth_token): `<exp>.<sig>` where exp is a Unix time (s) and
 *    sig = base64url(HMAC-SHA256(websocket.signingSecret, `${path}\n${exp}`)), carried either as
 *    the query parameter `auth=` or as a path suffix `/auth/<exp>.<sig>` (Twilio's <Stream url>
 *    does not allow query strings). `path` is the route path, e.g. /media/twilio.
 * Comparisons are constant-time (node:crypto timingSafeEqual over fixed-length digests).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AuthError } from './errors.js';

export interface AuthConfig {
  tokens: readonly string[];
  signingSecret: string;
  maxSignedUrlTtlSec: number;
}

/** Who is streaming: the key that websocket.maxStreamsPerToken counts against. */
export interface Principal {
  /** `bearer:<n>` (n = index of the token in config) or `signed:<sig>`. */
  readonly id: string;
  readonly method: 'bearer' | 'signed';
}

/** The signature part of a signed media URL for `path`, valid until `expSec` (Unix seconds). */
export function signMediaPath(path: string, secret: string, expSec: number): string {
  if (secret.length === 0) throw new AuthError('malformed', 'websocket.signingSecret is empty: signed URLs are disabled');
  if (!Number.isInteger(expSec) || expSec <= 0) throw new AuthError('malformed', 'expiry must be a positive integer (Unix seconds)');
  const sig = createHmac('sha256', secret).update(`${path}\n${expSec}`).digest('base64url');
  return `${expSec}.${sig}`;
}

const SIGNED_TOKEN = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class Authenticator {
  readonly #tokenDigests: Buffer[];
  readonly #secret: string;
  readonly #maxTtlSec: number;

  constructor(cfg: AuthConfig) {
    this.#tokenDigests = cfg.tokens.map(digest);
    this.#secret = cfg.signingSecret;
    this.#maxTtlSec = cfg.maxSignedUrlTtlSec;
  }

  /** False when neither tokens nor a signing secret are configured: every upgrade is refused. */
  get enabled(): boolean {
    return this.#tokenDigests.length > 0 || this.#secret.length > 0;
  }

  /**
   * @param path route path the client asked for (no query, no /auth suffix)
   * @param authorization the Authorization header, if any
   * @param signed the `<exp>.<sig>` token from the query or path suffix, if any
   * @throws AuthError when the request carries no valid credentials
   */
  authenticate(path: string, authorization: string | undefined, signed: string | undefined, nowSec: number): Principal {
    // A header DevoX did not ask for (jambonz wsAuth Basic, a Telnyx stream_auth_token) must not
    // sink a valid signed URL: the signed token decides whenever the header is not an accepted token.
    let headerError: AuthError | undefined;
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m) {
        headerError = new AuthError('malformed', 'Authorization header is not "Bearer <token>"');
      } else {
        const d = digest(m[1]!);
        // Compare against every token so the time taken does not reveal which one matched.
        let found = -1;
        for (let i = 0; i < this.#tokenDigests.length; i++) {
          if (timingSafeEqual(d, this.#tokenDigests[i]!) && found < 0) found = i;
        }
        if (found >= 0) return { id: `bearer:${found}`, method: 'bearer' };
        headerError = new AuthError('bad_token', 'bearer token not accepted');
      }
    }
    if (signed !== undefined) {
      if (this.#secret.length === 0) throw new AuthError('bad_signature', 'signed URLs are disabled (no websocket.signingSecret)');
      const m = SIGNED_TOKEN.exec(signed);
      if (!m) throw new AuthError('malformed', 'signed token is not "<exp>.<base64url sha256>"');
      const exp = Number(m[1]);
      const expected = signMediaPath(path, this.#secret, exp);
      const a = Buffer.from(expected.slice(expected.indexOf('.') + 1));
      const b = Buffer.from(m[2]!);
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw new AuthError('bad_signature', 'signature does not match path and expiry');
      if (exp < nowSec) throw new AuthError('expired', 'signed URL has expired');
      if (exp > nowSec + this.#maxTtlSec) throw new AuthError('expiry_too_far', 'signed URL expiry exceeds websocket.maxSignedUrlTtlSec');
      return { id: `signed:${m[2]}`, method: 'signed' };
    }
    if (headerError !== undefined) throw headerError;
    throw new AuthError('missing', 'no credentials: send "Authorization: Bearer <token>" or a signed URL');
  }

  /**
   * The credentials of an upgrade request: its Authorization header, and a signed token from the
   * `auth=` query parameter or else from a `/auth/<token>` path suffix (`pathToken`).
   * @throws AuthError as authenticate() does
   */
  authenticateRequest(path: string, req: IncomingMessage, url: URL, pathToken?: string): Principal {
    const signed = url.searchParams.get('auth') ?? pathToken;
    return this.authenticate(path, req.headers.authorization, signed ?? undefined, Math.floor(Date.now() / 1000));
  }
}
