/**
 * Named errors of the SIP side. Each carries the SIP response it maps to and the counter
 * it increments, so the one place that answers a request never guesses.
 */
import type { SipCounterName } from './types.js';

export interface SipErrorOptions {
  cause?: unknown;
  headers?: Record<string, string>;
}

/** An error that ends a request with a SIP final response. */
export class SipError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly counter: SipCounterName;
  /** Extra response headers (Retry-After, Warning, Unsupported, Min-SE...). */
  readonly headers: Record<string, string>;
  constructor(status: number, reason: string, counter: SipCounterName, message: string, options: SipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipError';
    this.status = status;
    this.reason = reason;
    this.counter = counter;
    // Warning (RFC 3261 20.43) tells the SBC operator why, in their own logs.
    this.headers = { Warning: `399 devox "${message.replace(/["\\\r\n]/g, ' ').slice(0, 200)}"`, ...options.headers };
  }
}

/** The body is not a usable multipart/mixed (wrong boundary, missing part). */
export class MultipartError extends SipError {
  constructor(message: string, options: SipErrorOptions = {}) {
    super(400, 'Bad Request', 'rejected_bad_request', message, options);
    this.name = 'MultipartError';
  }
}

/**
 * An SDP offer DevoX cannot answer: unparseable or structurally wrong (SIP: 400), or a browser
 * offer without audio, Opus or a DTLS fingerprint (WebRTC: close 1007). The one class of that
 * name for every signaling path.
 */
export class SdpOfferError extends SipError {
  constructor(message: string, options: SipErrorOptions = {}) {
    super(400, 'Bad Request', 'rejected_bad_request', message, options);
    this.name = 'SdpOfferError';
  }
}

/** No stream of the offer has an audio codec DevoX decodes. */
export class NoCommonCodecError extends SipError {
  constructor(message: string, options: SipErrorOptions = {}) {
    super(488, 'Not Acceptable Here', 'rejected_no_common_codec', message, options);
    this.name = 'NoCommonCodecError';
  }
}

/**
 * More streams than sip.maxStreamsPerCall. 488, not 503: the limit is a property of the
 * offer, not of our momentary load, so a retry of the same offer (which 503 invites)
 * would fail again; 488 tells the SRC to change the offer (RFC 3261 21.4.26).
 */
export class TooManyStreamsError extends SipError {
  constructor(message: string, options: SipErrorOptions = {}) {
    super(488, 'Not Acceptable Here', 'rejected_too_many_streams', message, options);
    this.name = 'TooManyStreamsError';
  }
}

/** Over sip.maxConcurrentCalls, or RTP ports could not be allocated: try again later. */
export class CapacityError extends SipError {
  constructor(counter: 'rejected_over_capacity' | 'rejected_media_unavailable', retryAfterSec: number, message: string,
    options: SipErrorOptions = {}) {
    super(503, 'Service Unavailable', counter, message, {
      ...options,
      headers: { 'Retry-After': String(retryAfterSec), ...options.headers },
    });
    this.name = 'CapacityError';
  }
}

/** The metadata part was refused or unreadable. Never rejects a call: the streams record as "unknown". */
export class MetadataError extends Error {
  readonly kind: 'broken' | 'hostile' | 'too_large';
  constructor(kind: 'broken' | 'hostile' | 'too_large', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MetadataError';
    this.kind = kind;
  }
}

/** A sip.allowedNetworks entry that is neither a CIDR nor an address. */
export class NetworkAclError extends Error {
  readonly entry: string;
  constructor(entry: string, message: string) {
    super(message);
    this.name = 'NetworkAclError';
    this.entry = entry;
  }
}
