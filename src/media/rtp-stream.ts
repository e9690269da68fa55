/**
 * The receive half every RTP stream shares, whatever carries its packets (UDP sockets in
 * rtp-session.ts, a mediasoup DirectTransport consumer in packet-leg.ts): the AudioStream at the
 * detector's rate, the RtpReceiver in front of it (unwrap, reorder, decode), the guarded flush of
 * packets held too long, and the end that flushes what is held before the sink hears
 * onStreamEnd. A throw on the flush or close path is logged once and stays here.
 */
import type { Logger } from '../logger.js';
import { AudioStream, windowOptions } from './audio-stream.js';
import { opusDecodeRate } from './codecs.js';
import { RtpReceiver } from './rtp-receiver.js';
import type { AudioTaps } from './audio-tap.js';
import type { PayloadFormat, RtpExtraCounters, StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from './types.js';

/** Packet duration assumed when bounding how long a reordered packet may wait. */
export const PACKET_MS = 20;

/** How long a packet may wait in the reorder buffer for the gap before it (ms). */
export function reorderMaxWaitMs(reorderDepthPackets: number): number {
  return (reorderDepthPackets + 2) * PACKET_MS;
}

/** The rate an RTP stream's audio is decoded at: Opus straight at the detector's rate (libopus band-limits), others at their clock. */
export function rtpInputRate(audio: PayloadFormat, outputRate: number): number {
  return audio.encoding === 'opus' ? opusDecodeRate(outputRate) : audio.clockRate;
}

export interface RtpStreamOptions {
  descriptor: StreamDescriptor;
  formats: readonly PayloadFormat[];
  inputRate: number;
  outputRate: number;
  window: { lengthSec: number; hopMs: number; speechThresholdDbfs: number };
  reorderDepthPackets: number;
  maxSequenceJump: number;
  sink: WindowSink;
  log?: Logger;
  /** Decode scratch shared by several streams (see RtpReceiverOptions.scratch). */
  scratch?: Int16Array;
  /** Where the stream's audio can be tapped (listen-in). */
  taps?: AudioTaps;
}

export class RtpStream {
  readonly descriptor: StreamDescriptor;
  readonly #audio: AudioStream;
  readonly #receiver: RtpReceiver;
  readonly #log: Logger | undefined;
  readonly #logged = new Set<string>();
  #ended = false;

  constructor(opts: RtpStreamOptions) {
    this.descriptor = opts.descriptor;
    this.#log = opts.log;
    this.#audio = new AudioStream({
      descriptor: opts.descriptor,
      inputRate: opts.inputRate,
      outputRate: opts.outputRate,
      ...windowOptions(opts.window),
      sink: opts.sink,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.taps ? { taps: opts.taps } : {}),
    });
    try {
      this.#receiver = new RtpReceiver({
        audio: this.#audio,
        formats: opts.formats,
        reorderDepthPackets: opts.reorderDepthPackets,
        maxSequenceJump: opts.maxSequenceJump,
        ...(opts.scratch ? { scratch: opts.scratch } : {}),
        ...(opts.log ? { log: opts.log } : {}),
      });
    } catch (err) {
      this.#audio.end('error'); // the sink saw onStreamStart: it gets its onStreamEnd
      throw err;
    }
  }

  get counters(): StreamCounters {
    return this.#audio.counters;
  }
  get extra(): RtpExtraCounters {
    return this.#receiver.extra;
  }
  /** The rate the payload is decoded at (Opus: opusDecodeRate(outputRate), not its 48 kHz clock). */
  get inputRate(): number {
    return this.#audio.inputRate;
  }
  get ended(): boolean {
    return this.#ended;
  }

  /** One RTP packet (never throws for bad input: the receiver counts it). */
  onPacket(buf: Uint8Array, length: number, arrivalMs: number): void {
    if (this.#ended) return;
    this.#receiver.onPacket(buf, length, arrivalMs);
  }

  /** A re-offer that keeps the audio codec changed only telephone-event / CN payload types. */
  updateSignalFormats(formats: readonly PayloadFormat[]): void {
    if (this.#ended) return;
    this.#receiver.updateSignalFormats(formats);
  }

  /** Timer hook: release reordered packets that waited longer than maxWaitMs. */
  flushStale(now: number, maxWaitMs: number): void {
    if (this.#ended) return;
    try {
      this.#receiver.flushStale(now, maxWaitMs);
    } catch (err) {
      this.logOnce('internal_error', { err }, 'error while flushing the reorder buffer');
    }
  }

  /** Idempotent: releases held packets, then ends the AudioStream (sink.onStreamEnd). */
  end(reason: StreamEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#receiver.close();
    } catch (err) {
      this.logOnce('internal_error', { err }, 'error while closing the receiver');
    }
    this.#audio.end(reason);
  }

  /** One warning per kind per stream; a failing logger does not escape. */
  logOnce(kind: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    try {
      this.#log?.warn({ streamId: this.descriptor.streamId, callId: this.descriptor.callId, kind, ...fields }, msg);
    } catch {
      // a failing log destination must not escape into the media loop
    }
  }
}
