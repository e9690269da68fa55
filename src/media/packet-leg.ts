/**
 * An RTP stream whose packets are handed over in process instead of arriving on a socket: a
 * browser microphone from a mediasoup DirectTransport consumer (`consumer.on('rtp', packet)`, no
 * extra UDP hop). The receive half is the one RTP over UDP uses (rtp-stream.ts); this adds only
 * the timer that releases packets held too long for reordering.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { nowMs } from './clock.js';
import { PACKET_MS, reorderMaxWaitMs, rtpInputRate, RtpStream } from './rtp-stream.js';
import type { AudioTaps } from './audio-tap.js';
import type { PacketStream, PayloadFormat, StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from './types.js';

export interface PacketLegOptions {
  descriptor: StreamDescriptor;
  /** The consumer's codec (Opus, payload type chosen by the router). */
  format: PayloadFormat;
  media: Config['media'];
  window: Config['window'];
  outputRate: number;
  sink: WindowSink;
  log?: Logger;
  /** Called once when the leg ends (e.g. gives its capacity slot back). */
  onEnd?: () => void;
  /** Where the leg's audio can be tapped (listen-in). */
  taps?: AudioTaps;
}

export class PacketLeg implements PacketStream {
  readonly descriptor: StreamDescriptor;
  readonly #stream: RtpStream;
  readonly #timer: NodeJS.Timeout;
  readonly #maxWaitMs: number;
  readonly #onEnd: (() => void) | undefined;

  constructor(opts: PacketLegOptions) {
    this.descriptor = opts.descriptor;
    this.#onEnd = opts.onEnd;
    this.#stream = new RtpStream({
      descriptor: opts.descriptor,
      formats: [opts.format],
      inputRate: rtpInputRate(opts.format, opts.outputRate),
      outputRate: opts.outputRate,
      window: opts.window,
      reorderDepthPackets: opts.media.reorderDepthPackets,
      maxSequenceJump: opts.media.maxSequenceJump,
      sink: opts.sink,
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.taps ? { taps: opts.taps } : {}),
    });
    this.#maxWaitMs = reorderMaxWaitMs(opts.media.reorderDepthPackets);
    this.#timer = setInterval(() => this.#stream.flushStale(nowMs(), this.#maxWaitMs), 2 * PACKET_MS);
    this.#timer.unref();
  }

  /** The rate the payload is decoded at (Opus: opusDecodeRate(outputRate), not its 48 kHz clock). */
  get inputRate(): number {
    return this.#stream.inputRate;
  }

  get counters(): Readonly<StreamCounters> {
    return this.#stream.counters;
  }

  /** One RTP packet (the consumer's 'rtp' event). */
  onRtp(packet: Uint8Array): void {
    this.#stream.onPacket(packet, packet.length, nowMs());
  }

  /** Idempotent: releases held packets, then ends the AudioStream (sink.onStreamEnd). */
  end(reason: StreamEndReason): void {
    if (this.#stream.ended) return;
    clearInterval(this.#timer);
    try {
      this.#stream.end(reason);
    } finally {
      this.#onEnd?.();
    }
  }
}
