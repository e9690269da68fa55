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
