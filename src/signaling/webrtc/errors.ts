/**
 * Named errors of the WebRTC ingest. A browser offer DevoX cannot answer is the signaling-wide
 * SdpOfferError (sip/errors.ts): WebRTC closes the signaling socket with 1007 on it.
 */
import type { WebRtcUnavailableReason } from './types.js';

/** mediasoup or its worker is missing or does not start; DevoX runs without WebRTC and logs this. */
export class WebRtcUnavailableError extends Error {
  readonly reason: WebRtcUnavailableReason;
  constructor(reason: WebRtcUnavailableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebRtcUnavailableError';
    this.reason = reason;
  }
}
