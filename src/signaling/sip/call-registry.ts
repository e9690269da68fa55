/**
 * Every recording dialog of the process, keyed by SIP Call-ID, and the one place that
 * turns a request into a SIP response plan: capacity (max concurrent calls, counted from
 * the first byte of setup so a flood cannot overshoot), Require / session-timer checks,
 * offer reading, media allocation through the call, counters and one log line per
 * rejection. SIP-transport free: sip-app.ts feeds it drachtio requests.
 */
import type { Logger } from 'pino';
import { safeEmit } from '../../safe-emit.js';
import type { StreamEndReason } from '../../media/types.js';
import { CapacityError, SipError } from './errors.js';
import { hasSdpBody, readOffer } from './recording-offer.js';
import { expiryDelayMs, negotiateSessionTimer, type SessionTimer } from './session-timer.js';
import { SiprecCall } from './siprec-call.js';
import { newSipCounters, type MediaAllocator, type SipCounters, type SipRequestView, type SipResponsePlan } from './types.js';

export interface SipCallPolicy {
  maxConcurrentCalls: number;
  maxStreamsPerCall: number;
  maxBodyBytes: number;
  maxMetadataBytes: number;
  /** Retry-After (seconds) on 503. */
  retryAfterSec: number;
  passThroughHeaders: readonly string[];
  sessionExpiresSec: number;
  minSessionExpiresSec: number;
}

export interface CallRegistryOptions {
  media: MediaAllocator;
  policy: SipCallPolicy;
  /** Address announced in answers (media.announceAddress, else media.bindAddress). */
  address: string;
  log: Logger;
  /** A session timer ran out (the call is already ended): the transport sends BYE. */
  onSessionExpired?: (call: SiprecCall) => void;
  /**
   * The SIP stack itself refreshes sessions where we are the refresher (refresher=uas) and
   * ends the dialog when a refresh fails, as drachtio-server does from the Session-Expires of
   * our 2xx. Those refreshes are not seen here, so no expiry is armed for such calls (it would
   * end a healthy call); calls the UAC refreshes are still timed here.
   */
  stackRefreshes?: boolean;
}

/** Option tags we implement; a Require with anything else gets 420 (RFC 3261 8.2.2.3). */
const SUPPORTED_OPTIONS = new Set(['siprec', 'timer']);

export interface InviteOutcome extends SipResponsePlan {
  call?: SiprecCall;
  /** Session timer to run once the dialog is confirmed (refresher 'uas' means we refresh). */
  timer?: SessionTimer;
}

export class CallRegistry {
  readonly #opts: CallRegistryOptions;
  readonly #calls = new Map<string, SiprecCall>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #counters: SipCounters = newSipCounters();
  #closed = false;

  constructor(opts: CallRegistryOptions) {
    this.#opts = opts;
  }

  /** Calls in setup or active. */
  get size(): number {
    return this.#calls.size;
  }
  get counters(): Readonly<SipCounters> {
    return this.#counters;
  }
  get(callId: string): SiprecCall | undefined {
    return this.#calls.get(callId);
  }
  calls(): IterableIterator<SiprecCall> {
    return this.#calls.values();
  }

  /** Counts a request refused before the registry saw it (403 source network, 401 digest). */
  refused(counter: 'rejected_forbidden' | 'rejected_unauthorized', callId: string, why: string): void {
    this.#counters.invites++;
    this.#counters[counter]++;
    this.#opts.log.info({ event: 'sip_rejected', during: 'invite', callId, counter, problem: why }, 'SIP request rejected');
  }

  /** A dialog-creating INVITE. Never throws: every failure is a response plan. */
  async invite(req: SipRequestView): Promise<InviteOutcome> {
    this.#counters.invites++;
    const { policy } = this.#opts;
    const log = this.#opts.log.child({ callId: req.callId });
    try {
      if (this.#closed) throw new CapacityError('rejected_over_capacity', policy.retryAfterSec, 'shutting down');
      if (this.#calls.has(req.callId)) {
        throw new SipError(482, 'Loop Detected', 'rejected_duplicate', 'an INVITE with this Call-ID is already in progress');
      }
      if (this.#calls.size >= policy.maxConcurrentCalls) {
        throw new CapacityError('rejected_over_capacity', policy.retryAfterSec,
          `at the limit of ${policy.maxConcurrentCalls} concurrent calls`);
      }
      this.#checkRequire(req);
      const timer = negotiateSessionTimer(req, policy);
      const offer = readOffer(req, policy);
      const call = new SiprecCall({
        callId: req.callId,
        media: this.#opts.media,
        address: this.#opts.address,
        maxStreamsPerCall: policy.maxStreamsPerCall,
        retryAfterSec: policy.retryAfterSec,
        passThroughHeaders: policy.passThroughHeaders,
        counters: this.#counters,
        log,
      });
      // Registered before the first await: concurrent INVITEs see it in the capacity count.
      this.#calls.set(req.callId, call);
      let sdp: string;
      try {
        sdp = await call.setup(req, offer);
      } catch (err) {
        if (this.#calls.get(req.callId) === call) this.#calls.delete(req.callId);
        call.end('error');
        throw err;
      }
      this.#counters.accepted++;
      log.info({ event: 'sip_call_accepted', mode: offer.mode, metadata: offer.metadataStatus,
        streams: call.streams().map((s) => ({ leg: s.leg, streamId: s.session.descriptor.streamId, port: s.session.port,
          codec: s.audio.encoding })), pii: { participants: offer.metadata?.participants } }, 'recording call accepted');
      if (timer.timer) this.#armTimer(call, timer.timer);
      return {
        status: 200, reason: 'OK', headers: { ...timer.headers }, sdp, call,
        ...(timer.timer ? { timer: timer.timer } : {}),
      };
    } catch (err) {
      return this.#reject(err, log, 'invite');
    }
  }

  /** A re-INVITE or UPDATE inside a dialog (hold, resume, codec change, streams added/removed, new metadata). */
  async modify(req: SipRequestView): Promise<InviteOutcome> {
    this.#counters.reinvites++;
    const log = this.#opts.log.child({ callId: req.callId });
    const call = this.#calls.get(req.callId);
    try {
      if (call === undefined || call.state !== 'active') {
        throw new SipError(481, 'Call/Transaction Does Not Exist', 'reinvites_rejected', 'no active recording with this Call-ID');
      }
      this.#checkRequire(req);
      const timer = negotiateSessionTimer(req, this.#opts.policy);
      let sdp: string | undefined;
      if (hasSdpBody(req)) {
        sdp = await call.modify(req, readOffer(req, this.#opts.policy));
      } else if (req.method === 'INVITE') {
        sdp = call.localSdp; // body-less re-INVITE: our current description is the offer (RFC 3261 14.2)
      }
      if (timer.timer) this.#armTimer(call, timer.timer);
      else this.#disarmTimer(call.callId);
      return { status: 200, reason: 'OK', headers: { ...timer.headers }, ...(sdp !== undefined ? { sdp } : {}), call,
        ...(timer.timer ? { timer: timer.timer } : {}) };
    } catch (err) {
      const out = this.#reject(err, log, 'modify');
      if (out.status !== 481) this.#counters.reinvites_rejected++;
      return out;
    }
  }

  /** BYE (or the dialog was destroyed): releases every port of the call. False when unknown. */
  bye(callId: string, reason: StreamEndReason = 'bye'): boolean {
    const call = this.#calls.get(callId);
    if (call === undefined) return false;
    this.#counters.byes++;
    this.#end(call, reason);
    this.#opts.log.info({ event: 'sip_call_ended', callId, reason }, 'recording call ended');
    return true;
  }

  /** CANCEL of a pending INVITE: its setup answers 487 and releases. False when nothing is pending. */
  cancel(callId: string): boolean {
    const call = this.#calls.get(callId);
    if (call === undefined || !call.cancel()) return false;
    this.#calls.delete(callId);
    return true;
  }

  /** Ends every call. Idempotent; later INVITEs get 503. */
  close(): void {
    this.#closed = true;
    for (const call of [...this.#calls.values()]) this.#end(call, 'shutdown');
  }

  #end(call: SiprecCall, reason: StreamEndReason): void {
    this.#disarmTimer(call.callId);
    if (this.#calls.get(call.callId) === call) this.#calls.delete(call.callId);
    call.end(reason);
  }

  #checkRequire(req: SipRequestView): void {
    const unsupported = (req.header('require') ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t.length > 0 && !SUPPORTED_OPTIONS.has(t));
    if (unsupported.length > 0) {
      throw new SipError(420, 'Bad Extension', 'rejected_bad_extension', `unsupported option tags: ${unsupported.join(', ')}`,
        { headers: { Unsupported: unsupported.join(', ') } });
    }
  }

  #armTimer(call: SiprecCall, timer: SessionTimer): void {
    this.#disarmTimer(call.callId);
    if (timer.refresher === 'uas' && this.#opts.stackRefreshes === true) return;
    const t = setTimeout(() => {
      this.#timers.delete(call.callId);
      if (call.state !== 'active') return;
      this.#counters.session_timer_expired++;
      this.#opts.log.warn({ event: 'sip_session_expired', callId: call.callId, intervalSec: timer.intervalSec },
        'session not refreshed in time: ending the recording');
      this.#end(call, 'timeout');
      safeEmit((err) => this.#opts.log.error({ event: 'sip_listener_error', callId: call.callId, err }, 'onSessionExpired threw'),
        this.#opts, this.#opts.onSessionExpired, call);
    }, expiryDelayMs(timer));
    t.unref();
    this.#timers.set(call.callId, t);
  }

  #disarmTimer(callId: string): void {
    const t = this.#timers.get(callId);
    if (t !== undefined) clearTimeout(t);
    this.#timers.delete(callId);
  }

  #reject(err: unknown, log: Logger, during: 'invite' | 'modify'): InviteOutcome {
    if (err instanceof SipError) {
      this.#counters[err.counter]++;
      const level = err.status >= 500 ? 'warn' : 'info';
      log[level]({ event: 'sip_rejected', during, status: err.status, counter: err.counter, problem: err.message,
        ...(err.cause !== undefined ? { err: err.cause } : {}) }, 'SIP request rejected');
      return { status: err.status, reason: err.reason, headers: { ...err.headers } };
    }
    log.error({ event: 'sip_internal_error', during, err }, 'SIP request failed');
    return { status: 500, reason: 'Server Internal Error', headers: {} };
  }
}
