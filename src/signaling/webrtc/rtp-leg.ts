/**
 * One browser microphone as a DevoX stream: RTP packets handed over by a mediasoup
 * DirectTransport consumer (`consumer.on('rtp', packet)`, no extra UDP hop) go through the same
 * receive path as RTP from a SIP trunk — media/rtp-receiver.ts: sequence/timestamp unwrapping,
 * reorder buffer, Opus decoded straight at the detector's rate (opusDecodeRate, like
 * media-sessions.ts) — into an AudioStream at the packet's media position.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { AudioStream, windowOptions } from '../../media/audio-stream.js';
import { nowMs } from '../../media/clock.js';
import { opusDecodeRate } from '../../media/codecs.js';
import { RtpReceiver } from '../../media/rtp-receiver.js';
import type { PayloadFormat, StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from '../../media/types.js';

export interface RtpLegOptions {
  descriptor: StreamDescriptor;
  /** The consumer's codec (Opus, payload type chosen by the router). */
  format: PayloadFormat;
  media: Config['media'];
  window: Config['window'];
  outputRate: number;
  sink: WindowSink;
  log?: Logger;
}

/** Packets held for reordering are released after this many ms even if the gap stays open. */
const PACKET_MS = 20;

export class RtpLeg {
  readonly descriptor: StreamDescriptor;
  readonly #audio: AudioStream;
  readonly #receiver: RtpReceiver;
  readonly #timer: NodeJS.Timeout;
  readonly #maxWaitMs: number;
  readonly #log: Logger | undefined;
  #flushFailed = false;
  #ended = false;

  constructor(opts: RtpLegOptions) {
    this.descriptor = opts.descriptor;
    this.#log = opts.log;
    this.#audio = new AudioStream({
      descriptor: opts.descriptor,
      // Opus decodes straight to the detector's rate (libopus band-limits), as media-sessions does for SIP.
      inputRate: opts.format.encoding === 'opus' ? opusDecodeRate(opts.outputRate) : opts.format.clockRate,
      outputRate: opts.outputRate,
      ...windowOptions(opts.window),
      sink: opts.sink,
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.#receiver = new RtpReceiver({
      audio: this.#audio,
      formats: [opts.format],
      reorderDepthPackets: opts.media.reorderDepthPackets,
      maxSequenceJump: opts.media.maxSequenceJump,
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.#maxWaitMs = (opts.media.reorderDepthPackets + 2) * PACKET_MS;
    this.#timer = setInterval(() => this.#tick(), 2 * PACKET_MS);
    this.#timer.unref();
  }

  /** The rate the payload is decoded at (Opus: opusDecodeRate(outputRate), not its 48 kHz clock). */
  get inputRate(): number {
    return this.#audio.inputRate;
  }

  get counters(): Readonly<StreamCounters> {
    return this.#receiver.counters;
  }

  /** One RTP packet (the consumer's 'rtp' event). */
  onRtp(packet: Uint8Array): void {
    if (this.#ended) return;
    this.#receiver.onPacket(packet, packet.length, nowMs());
  }

  /** Timer hook, guarded like RtpSessionImpl.tick: a throw here must not escape into the event loop. */
  #tick(): void {
    if (this.#ended) return;
    try {
      this.#receiver.flushStale(nowMs(), this.#maxWaitMs);
    } catch (err) {
      if (this.#flushFailed) return;
      this.#flushFailed = true;
      try {
        this.#log?.warn({ streamId: this.descriptor.streamId, kind: 'internal_error', err }, 'error while flushing the reorder buffer');
      } catch {
        // a failing logger must not escape either
      }
    }
  }

  /** Idempotent: releases held packets, then ends the AudioStream (sink.onStreamEnd). */
  end(reason: StreamEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#timer);
    this.#receiver.close();
    this.#audio.end(reason);
  }
}
