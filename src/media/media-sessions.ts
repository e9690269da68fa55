/**
 * MediaSessions: what signaling calls. allocate() binds an RTP/RTCP port pair from
 * media.rtpPortMin..rtpPortMax for one stream and its negotiated payload formats;
 * release() ends it; one timer watches for streams without RTP for media.streamTimeoutMs and
 * releases reordered packets that waited too long. A stream allocated with onSilence 'end'
 * (POST /streams) is then ended (reason 'timeout', logged); one allocated with 'report' (a
 * SIP leg, which lives as long as its dialog) stays open: its silence is logged and told to
 * onSilence, and so is the RTP that resumes it. With a
 * StreamCapacity (media.maxStreams), allocate() first takes one of its slots
 * (StreamCapacityError when none is left) and the stream's end gives it back.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { nowMs } from './clock.js';
import { safeEmit } from '../safe-emit.js';
import { checkAudioFormat, MAX_DECODED_SAMPLES } from './codecs.js';
import { PortAllocationError, SessionStateError, UnsupportedCodecError } from './errors.js';
import { RtpSessionImpl, type RtpSession } from './rtp-session.js';
import { reorderMaxWaitMs, rtpInputRate } from './rtp-stream.js';
import type { ReleaseSlot, StreamCapacity } from './stream-capacity.js';
import type { AudioTaps } from './audio-tap.js';
import type { PayloadFormat, StreamCounters, StreamDescriptor, StreamEndReason, WindowSink } from './types.js';

export type { RtpSession } from './rtp-session.js';

export interface MediaSessionsOptions {
  media: Config['media'];
  window: Config['window'];
  /** The detector's sample rate (the model card's input.sampleRate). */
  outputRate: number;
  sink: WindowSink;
  log: Logger;
  /** The cap on live streams shared with the other ingresses; none: only the port range limits. */
  capacity?: StreamCapacity;
  /** Where every stream's audio can be tapped while it lives (the console's listen-in). */
  taps?: AudioTaps;
  /**
   * A session was opened: its counters, for whoever exports them (the server's metrics). Told
   * at once, so a stream that ends before anything else reports it still has its datagrams counted.
   */
  onSessionOpened?(descriptor: StreamDescriptor, counters: StreamCounters, format: PayloadFormat): void;
  /**
   * A stream allocated with onSilence 'report' went silent (no RTP for media.streamTimeoutMs:
   * silent true) or RTP came back (silent false), e.g. for the server's metrics.
   */
  onSilence?(descriptor: StreamDescriptor, silent: boolean, silentMs: number): void;
}

/**
 * What a stream without RTP for media.streamTimeoutMs does: 'end' (reason 'timeout': a stream
 * nothing else ends, POST /streams) or 'report' (a SIP leg: its dialog ends it, silence is reported).
 */
export type SilencePolicy = 'end' | 'report';

export interface AllocateRequest {
  descriptor: StreamDescriptor;
  formats: PayloadFormat[];
  /** Default 'end'. */
  onSilence?: SilencePolicy;
}

const AUDIO_ENCODINGS = new Set(['PCMU', 'PCMA', 'L16', 'opus']);

export class MediaSessions {
  readonly #opts: MediaSessionsOptions;
  readonly #sessions = new Map<string, RtpSessionImpl>();
  readonly #portsInUse = new Set<number>();
  readonly #slots = new Map<string, ReleaseSlot>();
  /** Streams that report silence instead of ending: whether each is silent now. */
  readonly #reportSilence = new Map<string, boolean>();
  readonly #timer: NodeJS.Timeout;
  readonly #reorderMaxWaitMs: number;
  /** One decode buffer for all streams (decoding and windowing are synchronous per packet). */
  readonly #scratch = new Int16Array(MAX_DECODED_SAMPLES);
  #nextPort: number;
  #closed = false;

  constructor(opts: MediaSessionsOptions) {
    this.#opts = opts;
    const { rtpPortMin, streamTimeoutMs, reorderDepthPackets } = opts.media;
    this.#nextPort = rtpPortMin + (rtpPortMin % 2);
    this.#reorderMaxWaitMs = reorderMaxWaitMs(reorderDepthPackets);
    const tickMs = Math.max(20, Math.min(100, Math.floor(streamTimeoutMs / 4)));
    this.#timer = setInterval(() => this.#tick(), tickMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Streams kept open for their dialog that have had no RTP for media.streamTimeoutMs now. */
  get silentCount(): number {
    let n = 0;
    for (const silent of this.#reportSilence.values()) if (silent) n++;
    return n;
  }

  streams(): IterableIterator<RtpSession> {
    return this.#sessions.values();
  }

  get(streamId: string): RtpSession | undefined {
    return this.#sessions.get(streamId);
  }

  /** Binds a UDP port pair from the configured range for the stream. */
  async allocate(req: AllocateRequest): Promise<RtpSession> {
    const { descriptor, formats } = req;
    if (this.#closed) throw new SessionStateError(descriptor.streamId, 'media sessions are closed');
    if (this.#sessions.has(descriptor.streamId)) {
      throw new SessionStateError(descriptor.streamId, `stream ${descriptor.streamId} is already allocated`);
    }
    const audio = formats.find((f) => AUDIO_ENCODINGS.has(f.encoding));
    if (!audio) {
      throw new UnsupportedCodecError(formats.map((f) => f.encoding).join(',') || '(none)', 'no decodable audio payload format offered');
    }
    checkAudioFormat(audio); // before any port is bound: e.g. L16 at a non-standard rate
    const slot = this.#opts.capacity?.take('rtp');
    try {
      const session = await this.#bind(descriptor, formats, audio, slot);
      if (req.onSilence === 'report') this.#reportSilence.set(descriptor.streamId, false);
      return session;
    } catch (err) {
      slot?.();
      throw err;
    }
  }

  async #bind(descriptor: StreamDescriptor, formats: PayloadFormat[], audio: PayloadFormat,
    slot: ReleaseSlot | undefined): Promise<RtpSessionImpl> {
    const { media, window, outputRate, sink, log } = this.#opts;
    const min = media.rtpPortMin + (media.rtpPortMin % 2);
    // Even RTP ports p with p + 1 (RTCP) still inside the range.
    const pairs = media.rtpPortMax - 1 >= min ? Math.floor((media.rtpPortMax - 1 - min) / 2) + 1 : 0;
    let lastErr: unknown;
    for (let i = 0; i < pairs; i++) {
      const port = this.#nextPort;
      this.#nextPort = port + 2 > media.rtpPortMax - 1 ? min : port + 2;
      if (this.#portsInUse.has(port)) continue;
      this.#portsInUse.add(port);
      try {
        const session = await RtpSessionImpl.open(port, media.bindAddress, {
          descriptor,
          formats,
          inputRate: rtpInputRate(audio, outputRate),
          outputRate,
          window,
          reorderDepthPackets: media.reorderDepthPackets,
          maxSequenceJump: media.maxSequenceJump,
          maxPacketBytes: media.maxPacketBytes,
          relearnTimeoutMs: media.streamTimeoutMs,
          sink,
          scratch: this.#scratch,
          ...(this.#opts.taps ? { taps: this.#opts.taps } : {}),
          log: log.child({ streamId: descriptor.streamId, callId: descriptor.callId }),
        });
        if (this.#closed || this.#sessions.has(descriptor.streamId)) {
          // closeAll() or a concurrent allocate for the same id won the race.
          this.#portsInUse.delete(port);
          await session.end('released');
          throw new SessionStateError(descriptor.streamId, 'media sessions closed or stream allocated during allocation');
        }
        this.#sessions.set(descriptor.streamId, session);
        if (slot) this.#slots.set(descriptor.streamId, slot);
        safeEmit((err) => log.error({ err, callback: 'onSessionOpened' }, 'media callback threw; continuing'),
          this.#opts, this.#opts.onSessionOpened, descriptor, session.counters, audio);
        log.debug({ streamId: descriptor.streamId, port, encoding: audio.encoding }, 'RTP session allocated');
        return session;
      } catch (err) {
        this.#portsInUse.delete(port);
        if (!(err instanceof PortAllocationError)) throw err;
        lastErr = err; // taken by another process: try the next pair
      }
    }
    throw new PortAllocationError(`no free RTP port pair in ${media.rtpPortMin}-${media.rtpPortMax}`, { cause: lastErr });
  }

  /** Idempotent. */
  release(streamId: string, reason: StreamEndReason = 'released'): void {
    void this.#end(streamId, reason);
  }

  async closeAll(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#sessions.keys()].map((id) => this.#end(id, 'shutdown')));
  }

  #end(streamId: string, reason: StreamEndReason): Promise<void> {
    const s = this.#sessions.get(streamId);
    if (!s) return Promise.resolve();
    this.#sessions.delete(streamId);
    this.#slots.get(streamId)?.();
    this.#slots.delete(streamId);
    this.#reportSilence.delete(streamId);
    const done = s.end(reason);
    return done.then(() => {
      this.#portsInUse.delete(s.port);
    });
  }

  #tick(): void {
    const now = nowMs();
    const timeout = this.#opts.media.streamTimeoutMs;
    for (const s of this.#sessions.values()) {
      const id = s.descriptor.streamId;
      const silentMs = now - s.lastActivityMs;
      const silent = this.#reportSilence.get(id);
      if (silentMs > timeout && silent === undefined) {
        this.#opts.log.info({ streamId: id, callId: s.descriptor.callId, reason: 'timeout', silentMs: Math.round(silentMs) },
          'RTP stream timed out');
        void this.#end(id, 'timeout');
        continue;
      }
      if (silent !== undefined && silent !== silentMs > timeout) this.#silenceChanged(s, !silent, silentMs);
      s.tick(now, this.#reorderMaxWaitMs);
    }
  }

  #silenceChanged(s: RtpSessionImpl, silent: boolean, silentMs: number): void {
    const { descriptor } = s;
    this.#reportSilence.set(descriptor.streamId, silent);
    const log = this.#opts.log;
    if (silent) {
      log.info({ streamId: descriptor.streamId, callId: descriptor.callId, silentMs: Math.round(silentMs) },
        'RTP stream silent; kept open for its dialog');
    } else {
      log.info({ streamId: descriptor.streamId, callId: descriptor.callId }, 'RTP stream resumed after silence');
    }
    safeEmit((err) => log.error({ err, callback: 'onSilence' }, 'media callback threw; continuing'),
      this.#opts, this.#opts.onSilence, descriptor, silent, silentMs);
  }
}
