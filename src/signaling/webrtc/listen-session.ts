/**
 * One listen-in: a live leg's audio, from its media tap (media/audio-tap.ts), encoded to Opus
 * RTP (media/live-opus-packetizer.ts) and handed to a mediasoup DirectTransport producer; a
 * WebRtcTransport consumer of that producer sends it to the supervisor's browser (DTLS-SRTP).
 * Nothing is written anywhere: the audio lives in the encoder's 20 ms frame and in flight.
 *
 *   open():   direct transport → producer → WebRTC transport → consumer → the SDP offer
 *   answer(): the browser's answer → transport.connect (DTLS); audio flows once DTLS is up
 *
 * The session ends (onClosed, once, with why) when the leg ends (`leg_ended`), ICE/DTLS do not
 * connect within webrtc.connectTimeoutMs (`connect_timeout`), DTLS fails or the browser closes
 * it (`dtls_failed`, `dtls_closed`), ICE stays disconnected past webrtc.iceDisconnectedGraceMs
 * (`ice_disconnected`), the router's worker dies (`worker_died`), or its owner closes it (the
 * console: stopped, max duration, signed out...). close() is idempotent and releases the tap
 * first, then consumer → WebRTC transport → producer → direct transport.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { AudioTap, AudioTapListener, StreamEndReason } from '../../media/types.js';
import { LiveOpusPacketizer } from '../../media/live-opus-packetizer.js';
import { SdpOfferError } from '../sip/errors.js';
import { buildListenOffer, parseListenAnswer } from './listen-sdp.js';
import type { MsConsumer, MsDirectProducer, MsDirectTransport, MsDtlsState, MsIceState, MsRouter, MsWebRtcTransport } from './types.js';

/** Why a listen-in ended; the first five are the owner's, the others the session's own. */
export type ListenEndReason =
  | 'stopped'
  | 'max_duration'
  | 'signed_out'
  | 'left'
  | 'shutdown'
  | 'leg_ended'
  | 'connect_timeout'
  | 'dtls_failed'
  | 'dtls_closed'
  | 'ice_disconnected'
  | 'worker_died'
  | 'error';

/** Where the session's audio comes from (media's AudioTaps). */
export type TapLeg = (listener: AudioTapListener) => AudioTap | undefined;

export interface ListenSessionOptions {
  router: MsRouter;
  webrtc: Config['webrtc'];
  log: Logger;
  /** Called once, when the session ends for whatever reason. */
  onClosed(reason: ListenEndReason): void;
}

/** The payload type DevoX's producer uses; the router maps it to its own for the browser. */
const PRODUCER_PT = 111;

export class ListenSession implements AudioTapListener {
  readonly id = randomUUID();
  readonly #o: ListenSessionOptions;
  readonly #log: Logger;
  #tap: AudioTap | undefined;
  #packetizer: LiveOpusPacketizer | undefined;
  #direct: MsDirectTransport | undefined;
  #producer: MsDirectProducer | undefined;
  #transport: MsWebRtcTransport | undefined;
  #consumer: MsConsumer | undefined;
  #connected = false;
  #answered = false;
  #closed = false;
  #connectTimer: NodeJS.Timeout | undefined;
  #iceGraceTimer: NodeJS.Timeout | undefined;
  readonly #onSendError = (err: unknown): void => this.#fail(err);

  constructor(o: ListenSessionOptions) {
    this.#o = o;
    this.#log = o.log.child({ listenId: this.id });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Packets sent to the producer so far (audio flows once DTLS is connected). */
  get packets(): number {
    return this.#packetizer?.packets ?? 0;
  }

  /**
   * Taps the leg and builds the mediasoup path; returns the SDP offer for the browser, or
   * undefined when the leg is gone (the session is then closed with `leg_ended`).
   */
  async open(tapLeg: TapLeg): Promise<string | undefined> {
    const { router, webrtc } = this.#o;
    const tap = tapLeg(this);
    if (!tap) {
      this.close('leg_ended');
      return undefined;
    }
    this.#tap = tap;
    const ssrc = randomBytes(4).readUInt32BE(0) || 1;
    const direct = await router.createDirectTransport();
    this.#direct = direct;
    if (this.#abandoned()) return undefined;
    const producer = await direct.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: PRODUCER_PT, clockRate: 48000, channels: 2, parameters: { 'sprop-stereo': 0 } }],
        encodings: [{ ssrc }],
        rtcp: { cname: `devox-${this.id.slice(0, 8)}`, reducedSize: true },
      },
    });
    this.#producer = producer;
    if (this.#abandoned()) return undefined;
    const transport = await router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: webrtc.listenIp, ...(webrtc.announcedAddress ? { announcedAddress: webrtc.announcedAddress } : {}) }],
      enableUdp: true,
      enableTcp: false,
    });
    this.#transport = transport;
    if (this.#abandoned()) return undefined;
    transport.on('icestatechange', (s: MsIceState) => this.#onIceState(s));
    transport.on('dtlsstatechange', (s: MsDtlsState) => this.#onDtlsState(s));
    transport.on('routerclose', () => this.close('worker_died'));
    // The router's own capabilities: every WebRTC browser receives Opus (RFC 7874).
    const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    this.#consumer = consumer;
    if (this.#abandoned()) return undefined;
    this.#packetizer = new LiveOpusPacketizer({
      sampleRate: tap.sampleRate,
      payloadType: PRODUCER_PT,
      ssrc,
      onPacket: (packet) => this.#sendPacket(packet),
    });
    const connectMs = webrtc.connectTimeoutMs;
    this.#connectTimer = setTimeout(() => this.close('connect_timeout'), connectMs);
    this.#connectTimer.unref();
    const d = tap.descriptor;
    this.#log.info({ streamId: d.streamId, callId: d.callId, leg: d.leg, transport: d.transport, sampleRate: tap.sampleRate }, 'listen-in offered');
    return buildListenOffer(transport, consumer.rtpParameters, { streamId: `devox-listen-${this.id.slice(0, 8)}`, trackId: `leg-${this.id.slice(9, 13)}` });
  }

  /**
   * The browser's SDP answer: DTLS connects with its fingerprint.
   * @throws SdpOfferError on an answer that is not one (the session stays open until its connect timeout).
   */
  async answer(sdp: string): Promise<void> {
    if (this.#closed || !this.#transport) return;
    if (this.#answered) throw new SdpOfferError('this listen-in was already answered');
    const { dtlsParameters } = parseListenAnswer(sdp);
    this.#answered = true;
    await this.#transport.connect({ dtlsParameters });
  }

  /** AudioTapListener: a block of the leg's audio (media's loop; encodes only once DTLS is up). */
  onAudio(samples: Float32Array, offset: number, count: number): void {
    if (this.#connected) this.#packetizer?.write(samples, offset, count);
  }

  /** AudioTapListener: the leg ended. */
  onEnd(_reason: StreamEndReason): void {
    this.#tap = undefined;
    this.close('leg_ended');
  }

  #sendPacket(packet: Buffer): void {
    try {
      this.#producer?.send(packet);
    } catch (err) {
      this.#onSendError(err);
    }
  }

  #fail(err: unknown): void {
    this.#log.warn({ err }, 'listen-in failed');
    this.close('error');
  }

  #onIceState(state: MsIceState): void {
    if (state === 'closed') return this.close('ice_disconnected');
    if (state === 'disconnected') {
      const grace = this.#o.webrtc.iceDisconnectedGraceMs;
      this.#iceGraceTimer ??= setTimeout(() => this.close('ice_disconnected'), grace);
      this.#iceGraceTimer.unref();
      return;
    }
    clearTimeout(this.#iceGraceTimer);
    this.#iceGraceTimer = undefined;
  }

  #onDtlsState(state: MsDtlsState): void {
    if (state === 'failed') return this.close('dtls_failed');
    if (state === 'closed') return this.close('dtls_closed');
    if (state === 'connected' && !this.#connected) {
      this.#connected = true;
      clearTimeout(this.#connectTimer);
      this.#connectTimer = undefined;
      this.#log.info('listen-in connected: audio flowing');
    }
  }

  /** True (and everything made so far released) when the session closed during an await. */
  #abandoned(): boolean {
    if (!this.#closed) return false;
    this.#release();
    return true;
  }

  #release(): void {
    for (const c of [this.#consumer, this.#transport, this.#producer, this.#direct]) {
      try {
        if (c && !c.closed) c.close();
      } catch (err) {
        this.#log.warn({ err }, 'closing a mediasoup object failed');
      }
    }
  }

  /** Idempotent: the tap first (no more audio), then mediasoup; onClosed once. */
  close(reason: ListenEndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tap?.close();
    this.#tap = undefined;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#iceGraceTimer);
    this.#packetizer?.close();
    this.#release();
    this.#log.info({ reason, packets: this.packets }, 'listen-in ended');
    this.#o.onClosed(reason);
  }
}
