import { CLOSE_CODE_OF, type WsCloseReason } from './types.js';

/**
 * A client broke the media protocol or a limit; the connection closes with `closeCode`
 * and `message` as the close reason. Thrown by protocol handlers, caught by the connection.
 */
export class StreamPolicyError extends Error {
  readonly reason: WsCloseReason;
  readonly closeCode: number;
  constructor(reason: WsCloseReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamPolicyError';
    this.reason = reason;
    this.closeCode = CLOSE_CODE_OF[reason];
  }
}

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
