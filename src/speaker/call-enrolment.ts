/**
 * Enrolment from a live call's leg, whoever asks (HTTP, NATS; `devox enroll --from-call` is a
 * client of either): finds the leg among the speaker scorer's live streams, attaches a LegCapture
 * to it from its next window, waits until enough speech was embedded (or the leg ends, or the
 * time runs out, or the requester goes away), then builds and stores the enrolment exactly as
 * file enrolment does (EnrolService.enrolEmbeddings: same quality check, embeddings and model
 * version only).
 *
 * Only what the leg says from the request on counts: the identity pipeline keeps a leg's running
 * mean, not its windows, and the consistency check needs the windows' embeddings.
 *
 * Refusals are EnrolmentErrors: unknown_call / unknown_leg / ambiguous_leg before anything starts,
 * capture_in_progress when the leg is already being captured, then leg_ended / capture_timeout /
 * capture_cancelled naming the speech obtained against the speech needed, or the quality check's own.
 */
import type { Logger } from 'pino';
import type { StreamDescriptor } from '../media/types.js';
import { EnrolmentError, checkAccount } from './enrolment.js';
import type { EnrolService } from './enrol-service.js';
import { LegCapture, type CaptureProgress } from './leg-capture.js';
import type { SpeakerScorer } from './speaker-scorer.js';
import type { EnrolmentRecord } from './types.js';

export interface FromCallRequest {
  account: string;
  callId: string;
  /** The leg's name (caller, callee, a SIPREC label...) or its stream id; absent: the call's only live leg. */
  leg?: string;
  /** At most speaker.enrol.maxCaptureSec (the default). */
  timeoutSec?: number;
}

/** The leg a capture runs on. */
export interface CaptureTarget {
  callId: string;
  leg: string;
  streamId: string;
  timeoutSec: number;
}

/** A progress report: the leg and how far the capture has got. */
export type CaptureReport = CaptureTarget & CaptureProgress;

export interface CaptureHandle {
  readonly target: CaptureTarget;
  /** The stored enrolment, or an EnrolmentError. */
  readonly result: Promise<EnrolmentRecord>;
  /** The requester went away: stop, store nothing. */
  cancel(): void;
}

export interface CallEnrolmentsOptions {
  scorer: Pick<SpeakerScorer, 'legsOf' | 'attach' | 'detach'>;
  enrol: Pick<EnrolService, 'enrolEmbeddings' | 'policy' | 'card'>;
  /** media's window hop, seconds (window.hopMs / 1000). */
  windowHopSec: number;
  /** speaker.enrol.maxCaptureSec: the longest a capture waits, and the default. */
  maxCaptureSec: number;
  log: Logger;
}

export class CallEnrolments {
  readonly #o: CallEnrolmentsOptions;
  readonly #running = new Set<LegCapture>();
  #closed = false;

  constructor(opts: CallEnrolmentsOptions) {
    this.#o = opts;
  }

  /** Captures running now. */
  get size(): number {
    return this.#running.size;
  }

  /** Starts a capture; throws EnrolmentError when the account, call or leg is wrong or the leg is already captured. */
  start(req: FromCallRequest, onProgress?: (p: CaptureReport) => void): CaptureHandle {
    checkAccount(req.account);
    if (this.#closed) throw new EnrolmentError('capture_cancelled', 'the server is shutting down');
    const stream = this.#find(req.callId, req.leg);
    const timeoutSec = Math.min(req.timeoutSec ?? this.#o.maxCaptureSec, this.#o.maxCaptureSec);
    const target: CaptureTarget = { callId: stream.callId, leg: stream.leg, streamId: stream.streamId, timeoutSec };
    const policy = this.#o.enrol.policy;
    const capture = new LegCapture({
      dim: this.#o.enrol.card.output.dim,
      policy,
      // The captured windows as far apart as enrolment cuts a file's (speaker.enrol.hopSec).
      everyNth: Math.round(policy.hopSec / this.#o.windowHopSec),
      windowHopSec: this.#o.windowHopSec,
      name: `call ${req.callId} leg ${stream.leg}`,
      ...(onProgress ? { onProgress: (p: CaptureProgress) => onProgress({ ...target, ...p }) } : {}),
    });
    const refused = this.#o.scorer.attach(stream.streamId, capture);
    if (refused === 'busy') throw new EnrolmentError('capture_in_progress', `leg ${stream.leg} of call ${req.callId} is already being captured for an enrolment: wait for it to finish`, { leg: stream.leg });
    if (refused) throw new EnrolmentError('unknown_leg', `leg ${stream.leg} of call ${req.callId} has ended`, { leg: stream.leg });
    this.#running.add(capture);
    const log = this.#o.log.child({ streamId: stream.streamId, leg: stream.leg });
    log.info({ timeoutSec }, 'enrolment capture started');
    const timer = setTimeout(() => capture.stop('capture_timeout', `the capture timed out (${timeoutSec} s)`), timeoutSec * 1000);
    timer.unref();
    const result = capture.result
      .finally(() => {
        clearTimeout(timer);
        this.#o.scorer.detach(stream.streamId, capture);
        this.#running.delete(capture);
      })
      .then((c) => this.#o.enrol.enrolEmbeddings(req.account, c.layout, c.embeddings))
      .then(
        (r) => {
          log.info({ speechSec: r.speechSec, segments: r.segments }, 'enrolment capture stored');
          return r;
        },
        (err: unknown) => {
          log.info({ code: err instanceof EnrolmentError ? err.code : 'error' }, 'enrolment capture refused');
          throw err;
        },
      );
    onProgress?.({ ...target, ...capture.progress });
    return { target, result, cancel: () => capture.stop('capture_cancelled', 'the request was cancelled') };
  }

  /** Cancels every running capture (shutdown). */
  close(): void {
    this.#closed = true;
    for (const c of this.#running) c.stop('capture_cancelled', 'the server is shutting down');
  }

  #find(callId: string, leg: string | undefined): StreamDescriptor {
    const legs = this.#o.scorer.legsOf(callId);
    if (legs.length === 0) throw new EnrolmentError('unknown_call', `no live call ${callId} on this node`, { callId });
    const names = legs.map((l) => l.leg);
    if (leg === undefined) {
      if (legs.length === 1) return legs[0]!;
      throw new EnrolmentError('ambiguous_leg', `call ${callId} has ${legs.length} live legs (${names.join(', ')}): name one`, { legs: names });
    }
    const byId = legs.find((l) => l.streamId === leg);
    if (byId) return byId;
    const byName = legs.filter((l) => l.leg === leg);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) {
      throw new EnrolmentError('ambiguous_leg', `call ${callId} has ${byName.length} live legs named ${leg}: name one by its stream id`, { streams: byName.map((l) => l.streamId) });
    }
    throw new EnrolmentError('unknown_leg', `call ${callId} has no live leg ${leg} (live: ${names.join(', ')})`, { legs: names });
  }
}
