/**
 * One browser on the signaling WebSocket: offer → mediasoup WebRtcTransport (connect, produce)
 * → DirectTransport consumer → RtpLeg (AudioStream) → answer; then a status message every
 * 500 ms (label, windows, media seconds) until either side closes. close() is idempotent and
 * cascades: leg → consumer → direct transport → producer → WebRTC transport.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { StreamEndReason, WindowSink } from '../../media/types.js';
import { RtpLeg } from './rtp-leg.js';
import { buildAnswer, parseBrowserOffer } from './sdp-bridge.js';
import { SdpOfferError, type MsConsumer, type MsDirectTransport, type MsProducer, type MsRouter, type MsWebRtcTransport } from './types.js';

const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), sdp: z.string().min(10).max(20000), metadata: z.record(z.string(), z.string().max(256)).optional() }),
]);

export interface StreamStatus {
  label: string | undefined;
}

export interface WebRtcSessionOptions {
  ws: WebSocket;
  router: MsRouter;
  webrtc: Config['webrtc'];
  media: Config['media'];
  window: Config['window'];
  outputRate: number;
  sink: WindowSink;
  log: Logger;
  /** Live label of a stream (from the verdict pipeline), pushed to the page. */
  status(streamId: string): StreamStatus;
  /** The session's stream exists (its window scores can now be routed to it). */
  onStream(streamId: string): void;
  onClosed(): void;
}

export class WebRtcSession {
  readonly id = randomUUID();
  readonly #o: WebRtcSessionOptions;
  readonly #log: Logger;
  #transport: MsWebRtcTransport | undefined;
  #producer: MsProducer | undefined;
  #direct: MsDirectTransport | undefined;
  #consumer: MsConsumer | undefined;
  #leg: RtpLeg | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #windows = 0;
  /** Latest window score (probability of synthetic speech), from the detector. */
  #score: number | undefined;
  /** Set when the first offer is taken (before any await), so a second one is refused. */
  #offered = false;
  #closed = false;

  constructor(opts: WebRtcSessionOptions) {
    this.#o = opts;
    this.#log = opts.log.child({ sessionId: this.id });
    opts.ws.on('message', (data, isBinary) => {
      if (isBinary) return this.close('error', 1003, 'binary frames are not part of the signaling protocol');
      this.#onMessage((data as Buffer).toString('utf8')).catch((err: unknown) => {
        const bad = err instanceof SdpOfferError;
        this.#log.warn({ err }, bad ? 'offer refused' : 'WebRTC session setup failed');
        this.#send({ type: 'error', message: bad ? (err as Error).message : 'WebRTC setup failed' });
        this.close('error', bad ? 1007 : 1011, bad ? 'bad offer' : 'setup failed');
      });
    });
    opts.ws.on('close', () => this.close('transport_closed'));
    opts.ws.on('error', (err) => this.#log.warn({ err }, 'signaling socket error'));
  }

  async #onMessage(text: string): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new SdpOfferError('signaling message is not JSON', { cause: err });
    }
    const parsed = ClientMessage.safeParse(raw);
    if (!parsed.success) throw new SdpOfferError(`signaling message: ${parsed.error.issues[0]!.message}`);
    if (this.#offered) throw new SdpOfferError('one offer per session');
    this.#offered = true;
    const offer = parseBrowserOffer(parsed.data.sdp);
    const { router, webrtc } = this.#o;
    const transport = await router.createWebRtcTransport({
      listenInfos: [
        { protocol: 'udp', ip: webrtc.listenIp, ...(webrtc.announcedAddress ? { announcedAddress: webrtc.announcedAddress } : {}) },
      ],
      enableUdp: true,
      enableTcp: false,
    });
    this.#transport = transport;
    if (this.#closed) return this.#releaseMediasoup();
    await transport.connect({ dtlsParameters: offer.dtlsParameters });
    const producer = await transport.produce({ kind: 'audio', rtpParameters: offer.rtpParameters });
    this.#producer = producer;
    const direct = await router.createDirectTransport();
    this.#direct = direct;
    const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    this.#consumer = consumer;
    if (this.#closed) return this.#releaseMediasoup();
    const codec = consumer.rtpParameters.codecs[0]!;
    const callId = randomUUID();
    const leg = new RtpLeg({
      descriptor: {
        streamId: `${this.id}:microphone`,
        callId,
        leg: 'microphone',
        transport: 'webrtc',
        identity: { protocol: 'webrtc', ...(parsed.data.metadata ?? {}) },
      },
      format: { payloadType: codec.payloadType, encoding: 'opus', clockRate: codec.clockRate, channels: codec.channels ?? 2 },
      media: this.#o.media,
      window: this.#o.window,
      outputRate: this.#o.outputRate,
      sink: this.#o.sink,
      log: this.#log,
    });
    this.#leg = leg;
    this.#o.onStream(leg.descriptor.streamId);
    consumer.on('rtp', (packet: Buffer) => {
      try {
        leg.onRtp(packet);
      } catch (err) {
        this.#log.error({ err }, 'RTP handling failed');
      }
    });
    this.#send({ type: 'answer', sdp: buildAnswer(offer, transport), streamId: leg.descriptor.streamId, callId });
    this.#log.info({ streamId: leg.descriptor.streamId, callId }, 'browser stream started');
    this.#statusTimer = setInterval(() => this.#pushStatus(), 500);
    this.#statusTimer.unref();
  }

  #pushStatus(): void {
    const leg = this.#leg;
    if (!leg) return;
    this.#windows = leg.counters.windowsEmitted;
    const st = this.#o.status(leg.descriptor.streamId);
    this.#send({
      type: 'status',
      label: st.label ?? 'listening',
      score: this.#score ?? null,
      windows: this.#windows,
      mediaSec: this.#windows > 0 ? this.#o.window.lengthSec + (this.#windows - 1) * (this.#o.window.hopMs / 1000) : 0,
    });
  }

  /** The detector scored one of this session's windows. */
  noteScore(score: number): void {
    this.#score = score;
  }

  /** The browser stream's id, once the offer has been answered. */
  get streamId(): string | undefined {
    return this.#leg?.descriptor.streamId;
  }

  #send(msg: Record<string, unknown>): void {
    const ws = this.#o.ws;
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }

  #releaseMediasoup(): void {
    for (const c of [this.#consumer, this.#direct, this.#producer, this.#transport]) {
      try {
        if (c && !c.closed) c.close();
      } catch (err) {
        this.#log.warn({ err }, 'closing a mediasoup object failed');
      }
    }
  }

  /** Idempotent. */
  close(reason: StreamEndReason, code = 1000, message = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#statusTimer);
    this.#leg?.end(reason);
    this.#releaseMediasoup();
    const ws = this.#o.ws;
    if (ws.readyState === ws.OPEN) ws.close(code, message);
    this.#o.onClosed();
  }
}
