/**
 * Errors shared by every signaling transport (WebSocket media streams, WebRTC signaling).
 * Transport-specific ones live in their folder's errors.ts.
 */

/** An upgrade request that carries no valid credentials (answered with HTTP 401). */
export class AuthError extends Error {
  /** Machine-readable cause: missing, bad_token, bad_signature, expired, expiry_too_far, malformed. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}
