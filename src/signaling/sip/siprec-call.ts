/**
 * One recording dialog (SIPREC or a plain forked INVITE): its streams, their media
 * sessions and the answer it last gave. Setup and every re-offer are all-or-nothing:
 * new media sessions are allocated first, and only when all of them exist is the old
 * state replaced; on any failure what was just allocated is released and the call keeps
 * its previous streams (RFC 3261 14.2). end() releases every session and is idempotent.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { StreamCapacityError, type PayloadFormat, type StreamDescriptor, type StreamEndReason } from '../../media/types.js';
import { sameAudio, sameFormats } from './codec-choice.js';
import { CapacityError, NoCommonCodecError, SipError, TooManyStreamsError } from './errors.js';
import { planStreams } from './recording-offer.js';
import { buildAnswer } from './sdp-answer.js';
import type { AllocatedMedia, MediaAllocator, RecordingOffer, SipCounters, SipRequestView, StreamPlan } from './types.js';

export interface SiprecCallOptions {
  callId: string;
  media: MediaAllocator;
  /** c= address of the answer. */
  address: string;
  maxStreamsPerCall: number;
  retryAfterSec: number;
  passThroughHeaders: readonly string[];
  counters: SipCounters;
  /** The call's logger: binds callId (CallRegistry makes it a child with the call id). */
  log: Logger;
}

export type CallState = 'setup' | 'active' | 'ended';

/** A stream the call records right now. */
export interface CallStream {
  readonly key: string;
  readonly leg: string;
  readonly session: AllocatedMedia;
  readonly audio: PayloadFormat;
  /** Every accepted payload format (audio, then telephone-event / CN). */
  readonly formats: readonly PayloadFormat[];
  /**
   * The sender's offered c=/m= address and port (a re-offer that changes them moves the media);
   * a c=0.0.0.0 hold keeps the address from before it, so a resume is compared with that.
   */
  readonly offeredRemote: string;
  readonly identity: Readonly<Record<string, string>>;
}

function offeredRemote(p: StreamPlan): string {
  return `${p.offered.address}:${p.offered.port}`;
}

function streamKey(p: StreamPlan): string {
  return p.offered.label !== undefined ? `label:${p.offered.label}` : `index:${p.offered.index}`;
}

export class SiprecCall {
  readonly callId: string;
  readonly #opts: SiprecCallOptions;
  readonly #log: Logger;
  #state: CallState = 'setup';
  #cancelled = false;
  #busy = false;
  #streams = new Map<string, CallStream>();
  #offer: RecordingOffer | undefined;
  #localSdp = '';
  readonly #sdpSessionId = String(Date.now());
  #sdpVersion = 0;
  readonly createdMs = Date.now();

  constructor(opts: SiprecCallOptions) {
    this.callId = opts.callId;
    this.#opts = opts;
    this.#log = opts.log;
  }

  get state(): CallState {
    return this.#state;
  }
  get mode(): 'siprec' | 'plain' | undefined {
    return this.#offer?.mode;
  }
  /** The last answer sent (what a body-less re-INVITE gets as our offer). */
  get localSdp(): string {
    return this.#localSdp;
  }
  /** A re-offer is being processed (a second one gets 500 + Retry-After, RFC 3261 14.2). */
  get busy(): boolean {
    return this.#busy;
  }
  streams(): CallStream[] {
    return [...this.#streams.values()];
  }

  /** First offer. Throws SipError (nothing stays allocated) or returns the answer SDP. */
  async setup(req: SipRequestView, offer: RecordingOffer): Promise<string> {
    if (this.#state !== 'setup') throw new Error('SiprecCall.setup called twice');
    const plans = this.#plan(req, offer, true);
    const allocated = await this.#allocateAll(plans.filter((p) => p.chosen !== null));
    if (this.#cancelled) { // CANCEL or end() arrived while ports were being allocated
      this.#releaseAll(allocated.values(), 'released');
      throw new SipError(487, 'Request Terminated', 'cancelled', 'INVITE cancelled during setup');
    }
    this.#streams = allocated;
    this.#state = 'active';
    return this.#answer(offer, plans);
  }

  /** A re-INVITE or UPDATE with an offer. Throws SipError leaving the call as it was. */
  async modify(req: SipRequestView, offer: RecordingOffer): Promise<string> {
    if (this.#state !== 'active') throw new SipError(481, 'Call/Transaction Does Not Exist', 'reinvites_rejected', 'call is not active');
    if (this.#busy) {
      throw new SipError(500, 'Server Internal Error', 'reinvites_rejected', 'a re-offer is already in progress', {
        headers: { 'Retry-After': String(1 + Math.floor(Math.random() * 10)) },
      });
    }
    this.#busy = true;
    try {
      const prev = this.#offer!;
      if (offer.originSessionId === prev.originSessionId && offer.originVersion === prev.originVersion) {
        // Unchanged SDP (a session refresh, or new metadata only): same answer, same o= version (RFC 3264 8).
        this.#offer = { ...prev, ...(offer.metadata ? { metadata: offer.metadata } : {}) };
        return this.#localSdp;
      }
      const plans = this.#plan(req, offer, false);
      const keep = new Map<string, CallStream>();
      const toAllocate: StreamPlan[] = [];
      for (const p of plans) {
        if (p.chosen === null) continue;
        const old = this.#streams.get(streamKey(p));
        // Kept when the codec is unchanged and media has not timed the session out (a long hold
        // sends no RTP); otherwise a new session: a decoder is fixed at allocation.
        if (old !== undefined && old.session.ended !== true && sameAudio(old.audio, p.chosen.audio)) keep.set(old.key, old);
        else toAllocate.push(p);
      }
      const fresh = await this.#allocateAll(toAllocate);
      if (this.#state !== 'active') {
        this.#releaseAll(fresh.values(), 'released');
        throw new SipError(481, 'Call/Transaction Does Not Exist', 'reinvites_rejected', 'call ended during the re-offer');
      }
      const next = new Map<string, CallStream>();
      for (const p of plans) {
        const k = streamKey(p);
        const kept = keep.get(k);
        const s = kept !== undefined ? this.#carryOver(kept, p) : fresh.get(k);
        if (s !== undefined) next.set(k, s);
      }
      const dropped = [...this.#streams.values()].filter((s) => next.get(s.key)?.session !== s.session);
      this.#releaseAll(dropped, 'released');
      this.#streams = next;
      if (dropped.length > 0 || fresh.size > 0) {
        this.#log.info({ event: 'sip_streams_changed', added: fresh.size, removed: dropped.length,
          streams: next.size }, 'recording streams changed by re-offer');
      }
      return this.#answer(offer, plans);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * A kept stream after a committed re-offer: a moved sender (c=/m= address or port changed)
   * is learned again from its next RTP packet, renumbered telephone-event / CN payload types
   * replace the old ones; the session, its port and its decoder stay.
   */
  #carryOver(kept: CallStream, p: StreamPlan): CallStream {
    const chosen = p.chosen!;
    // c=0.0.0.0 is RFC 2543 hold: nothing to learn, and the resume is compared with the address
    // before the hold (a resume to it is no move; one to another address is).
    const remote = p.offered.address === '0.0.0.0' ? kept.offeredRemote : offeredRemote(p);
    const formatsChanged = !sameFormats(kept.formats, chosen.formats);
    if (remote === kept.offeredRemote && !formatsChanged) return kept;
    if (formatsChanged) kept.session.updateSignalFormats(chosen.formats);
    if (remote !== kept.offeredRemote) {
      kept.session.relearnRemote();
      this.#log.info({ event: 'sip_stream_remote_moved', leg: kept.leg },
        're-offer moved the sender: RTP remote is learned again');
    }
    return { ...kept, formats: chosen.formats, offeredRemote: remote };
  }

  /** CANCEL before the final response: setup() releases what it allocated and answers 487. */
  cancel(): boolean {
    if (this.#state !== 'setup') return false;
    this.#cancelled = true;
    return true;
  }

  /** Ends the call and releases every media session. Idempotent. */
  end(reason: StreamEndReason): void {
    if (this.#state === 'ended') return;
    const wasSetup = this.#state === 'setup';
    this.#state = 'ended';
    if (wasSetup) this.#cancelled = true; // setup() sees it once its allocations settle
    this.#releaseAll(this.#streams.values(), reason);
    this.#streams = new Map();
  }

  #plan(req: SipRequestView, offer: RecordingOffer, initial: boolean): StreamPlan[] {
    const { plans, unmatchedLabels } = planStreams(
      { sipCallId: this.callId, req, passThroughHeaders: this.#opts.passThroughHeaders },
      offer,
    );
    const chosen = plans.filter((p) => p.chosen !== null);
    const wanted = plans.filter((p) => p.offered.mediaType === 'audio' && p.offered.port !== 0);
    if (chosen.length === 0 && (initial || wanted.length > 0)) {
      const why = plans.map((p) => p.declined).filter((d) => d !== undefined);
      throw new NoCommonCodecError(why[0] ?? 'no audio stream in the offer');
    }
    if (chosen.length > this.#opts.maxStreamsPerCall) {
      throw new TooManyStreamsError(`offer has ${chosen.length} audio streams (limit ${this.#opts.maxStreamsPerCall})`);
    }
    // Counted and logged once per offer; the call still records (participants 'unknown').
    const c = this.#opts.counters;
    if (offer.metadataStatus === 'missing') c.metadata_missing++;
    else if (offer.metadataStatus === 'broken') c.metadata_broken++;
    else if (offer.metadataStatus === 'hostile') c.metadata_hostile++;
    else if (offer.metadataStatus === 'too_large') c.metadata_too_large++;
    if (offer.metadataStatus !== 'ok' && offer.metadataStatus !== 'none') {
      this.#log.warn({ event: 'sip_metadata_unusable', status: offer.metadataStatus,
        problem: offer.metadataProblem }, 'recording metadata unusable: participants recorded as unknown');
    }
    if (unmatchedLabels.length > 0) {
      c.metadata_unmatched++;
      this.#log.warn({ event: 'sip_metadata_unmatched', labels: unmatchedLabels },
        'SDP labels without a participant in the metadata: recorded as unknown');
    }
    return plans;
  }

  /** Allocates one media session per plan; all or nothing. */
  async #allocateAll(plans: StreamPlan[]): Promise<Map<string, CallStream>> {
    const settled = await Promise.allSettled(
      plans.map(async (p): Promise<CallStream> => {
        const descriptor: StreamDescriptor = {
          streamId: randomUUID(),
          callId: this.callId,
          leg: p.leg,
          transport: 'rtp',
          identity: Object.freeze({ ...p.identity }),
        };
        const session = await this.#opts.media.allocate({ descriptor, formats: p.chosen!.formats, onSilence: 'report' });
        this.#opts.counters.streams_allocated++;
        return { key: streamKey(p), leg: p.leg, session, audio: p.chosen!.audio, formats: p.chosen!.formats,
          offeredRemote: offeredRemote(p), identity: descriptor.identity! };
      }),
    );
    const ok = new Map<string, CallStream>();
    let failure: unknown;
    for (const r of settled) {
      if (r.status === 'fulfilled') ok.set(r.value.key, r.value);
      else failure ??= r.reason;
    }
    if (failure !== undefined) {
      this.#releaseAll(ok.values(), 'released');
      if (failure instanceof StreamCapacityError) {
        throw new CapacityError('rejected_over_capacity', this.#opts.retryAfterSec, failure.message, { cause: failure });
      }
      throw new CapacityError('rejected_media_unavailable', this.#opts.retryAfterSec,
        'no RTP port available for every stream', { cause: failure });
    }
    return ok;
  }

  #releaseAll(streams: Iterable<CallStream>, reason: StreamEndReason): void {
    for (const s of streams) {
      this.#opts.media.release(s.session.descriptor.streamId, reason);
      this.#opts.counters.streams_released++;
    }
  }

  #answer(offer: RecordingOffer, plans: StreamPlan[]): string {
    this.#offer = offer;
    this.#sdpVersion++;
    const address = this.#streams.values().next().value?.session.address ?? this.#opts.address;
    this.#localSdp = buildAnswer({
      address: this.#opts.address || address,
      sessionId: this.#sdpSessionId,
      version: this.#sdpVersion,
      streams: plans.map((p) => {
        const s = this.#streams.get(streamKey(p));
        return { offered: p.offered, accepted: s && p.chosen ? { port: s.session.port, chosen: p.chosen } : null };
      }),
    });
    return this.#localSdp;
  }
}
