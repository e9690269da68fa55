/**
 * The one head every transport's audio enters media/ through (the MediaIngress of types.ts):
 * it takes the stream's slot of the shared cap (media.maxStreams), builds the stream — RTP over
 * UDP in MediaSessions, in-process RTP packets in a PacketLeg, decoded frames in a FrameLeg, all
 * on one AudioStream with its counters — and gives the slot back when the stream ends.
 * server.ts makes one and hands it to every signaling path.
 */
import type { Logger } from '../logger.js';
import { safeEmit } from '../safe-emit.js';
import { nowMs } from './clock.js';
import { codecLabel, createDecoder } from './codecs.js';
import { FrameLeg } from './frame-leg.js';
import { MediaSessions, type MediaSessionsOptions } from './media-sessions.js';
import { PacketLeg } from './packet-leg.js';
import type {
  AudioDecoder,
  FrameStream,
  FrameStreamRequest,
  MediaIngress as MediaIngressApi,
  PacketStream,
  PayloadFormat,
  ReleaseSlot,
  StreamCounters,
  StreamDescriptor,
  TransportKind,
} from './types.js';

/** MediaSessions' options (RTP over UDP), whose cap on live streams (`capacity`) every transport shares. */
export interface MediaIngressOptions extends Omit<MediaSessionsOptions, 'onSessionOpened' | 'onSilence'> {
  /** An RTP session was opened (MediaSessionsOptions.onSessionOpened). */
  onRtpSessionOpened?(descriptor: StreamDescriptor, counters: StreamCounters): void;
  /** A SIP leg's RTP went silent or resumed (MediaSessionsOptions.onSilence). */
  onRtpSilence?(descriptor: StreamDescriptor, silent: boolean, silentMs: number): void;
  /** Any stream opened (RTP, WebRTC packets, WebSocket frames), with the codec it arrives in, e.g. "PCMU/8000". */
  onStreamOpened?(descriptor: StreamDescriptor, codec: string): void;
}


const NO_SLOT: ReleaseSlot = () => {};

export class MediaIngress implements MediaIngressApi {
  /** RTP over UDP (SIP, POST /streams): port pairs, remote learning, stream timeouts. */
  readonly rtp: MediaSessions;
  readonly #o: MediaIngressOptions;

  constructor(o: MediaIngressOptions) {
    this.#o = o;
    this.rtp = new MediaSessions({
      media: o.media,
      window: o.window,
      outputRate: o.outputRate,
      sink: o.sink,
      log: o.log,
      ...(o.capacity ? { capacity: o.capacity } : {}),
      ...(o.taps ? { taps: o.taps } : {}),
      onSessionOpened: (descriptor, counters, format) => {
        o.onRtpSessionOpened?.(descriptor, counters);
        this.#opened(descriptor, codecLabel(format));
      },
      ...(o.onRtpSilence ? { onSilence: o.onRtpSilence } : {}),
    });
  }

  reserve(transport: TransportKind): ReleaseSlot {
    return this.#o.capacity?.take(transport) ?? NO_SLOT;
  }

  openPacketStream(req: { descriptor: StreamDescriptor; format: PayloadFormat; log?: Logger }): PacketStream {
    const o = this.#o;
    const leg = new PacketLeg({
      descriptor: req.descriptor,
      format: req.format,
      media: o.media,
      window: o.window,
      outputRate: o.outputRate,
      sink: o.sink,
      log: req.log ?? o.log.child({ streamId: req.descriptor.streamId, callId: req.descriptor.callId }),
      ...(o.taps ? { taps: o.taps } : {}),
    });
    this.#opened(req.descriptor, codecLabel(req.format));
    return leg;
  }

  openFrameStream(req: FrameStreamRequest): FrameStream {
    const o = this.#o;
    const slot = this.reserve(req.descriptor.transport);
    try {
      const leg = new FrameLeg({
        ...req,
        outputRate: o.outputRate,
        window: o.window,
        sink: o.sink,
        log: req.log ?? o.log.child({ streamId: req.descriptor.streamId, callId: req.descriptor.callId }),
        onEnd: slot,
        ...(o.taps ? { taps: o.taps } : {}),
      });
      this.#opened(req.descriptor, req.codec);
      return leg;
    } catch (err) {
      slot();
      throw err;
    }
  }

  #opened(descriptor: StreamDescriptor, codec: string): void {
    safeEmit((err) => this.#o.log.error({ err, callback: 'onStreamOpened' }, 'media callback threw; continuing'),
      this.#o, this.#o.onStreamOpened, descriptor, codec);
  }

  createDecoder(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>): AudioDecoder {
    return createDecoder(format);
  }

  nowMs(): number {
    return nowMs();
  }
}
