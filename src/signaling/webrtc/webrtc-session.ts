/**
 * One browser on the signaling WebSocket: offer → mediasoup WebRtcTransport (connect, produce)
 * → DirectTransport consumer → the media ingress's packet stream → answer; then a status message every
 * 500 ms (label, windows, media seconds) until either side closes. close() is idempotent and
 * cascades: leg → consumer → direct transport → producer → WebRTC transport. Setup checks for a
 * close after every await and releases what it created, so a page that leaves mid-setup leaks
 * nothing in the router.
 *
 * Liveness (a browser that never connects or vanishes without a TCP FIN must not hold a stream
 * slot): the session ends when no offer comes within webrtc.offerTimeoutMs, ICE + DTLS do not
 * connect within webrtc.connectTimeoutMs of the answer, no RTP arrives for media.streamTimeoutMs
 * once connected, DTLS fails or closes, ICE closes or stays disconnected past
 * webrtc.iceDisconnectedGraceMs, or the signaling socket misses a pong (webrtc.pingIntervalMs).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { MediaIngress, PacketStream, StreamEndReason } from '../../media/types.js';
import { safeEmit } from '../../safe-emit.js';
import { buildAnswer, parseBrowserOffer } from './sdp-bridge.js';
import {
  type MsConsumer,
  type MsDirectTransport,
  type MsDtlsState,
  type MsIceState,
  type MsProducer,
  type MsRouter,
  type MsWebRtcTransport,
} from './types.js';
import { SdpOfferError } from '../sip/errors.js';

const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), sdp: z.string().min(10).max(20000), metadata: z.record(z.string(), z.string().max(256)).optional() }),
]);

export type ClientMessage = z.infer<typeof ClientMessage>;

/** One text message from the page, checked: SdpOfferError (close 1007) when it is not JSON or not an offer. */
export function parseClientMessage(text: string): ClientMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SdpOfferError('signaling message is not JSON', { cause: err });
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) throw new SdpOfferError(`signaling message: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** Why a session ended on its own (logged as `cause`). */
export type SessionEndCause =
  | 'offer_timeout'
  | 'connect_timeout'
  | 'media_timeout'
  | 'dtls_failed'
  | 'dtls_closed'
  | 'ice_disconnected'
  | 'ice_closed'
  | 'signaling_dead';

/** A close frame the peer never answers (a dead socket) is followed by terminate() after this. */
const CLOSE_HANDSHAKE_MS = 2000;

export interface StreamStatus {
  label: string | undefined;
}

export interface WebRtcSessionOptions {
  ws: WebSocket;
  router: MsRouter;
  webrtc: Config['webrtc'];
  media: Config['media'];
  window: Config['window'];
  /** Where the browser's audio enters media (server.ts's MediaIngress). */
  ingress: MediaIngress;
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
  #leg: PacketStream | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #windows = 0;
  /** Latest window score (probability of synthetic speech), from the detector. */
  #score: number | undefined;
  /** Set when the first offer is taken (before any await), so a second one is refused. */
  #offered = false;
  #closed = false;
  #cause: SessionEndCause | undefined;
  #offerTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #iceGraceTimer: NodeJS.Timeout | undefined;
  #mediaTimer: NodeJS.Timeout | undefined;
  readonly #pingTimer: NodeJS.Timeout;
  /** A ping is out and its pong has not come back. */
  #pongPending = false;
  /** DTLS connected: from then on RTP must keep arriving. */
  #connected = false;
  #lastRtpMs = 0;

  constructor(opts: WebRtcSessionOptions) {
    this.#o = opts;
    this.#log = opts.log.child({ sessionId: this.id });
    const { ws, webrtc } = opts;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.close('error', 1003, 'binary frames are not part of the signaling protocol');
      this.#onMessage((data as Buffer).toString('utf8')).catch((err: unknown) => {
        if (this.#closed) {
          // The page left while setup awaited mediasoup: nothing to tell it, but release what was made.
          this.#log.debug({ err }, 'WebRTC setup abandoned: session already closed');
        } else {
          const bad = err instanceof SdpOfferError;
          this.#log.warn({ err }, bad ? 'offer refused' : 'WebRTC session setup failed');
          this.#send({ type: 'error', message: bad ? (err as Error).message : 'WebRTC setup failed' });
          this.close('error', bad ? 1007 : 1011, bad ? 'bad offer' : 'setup failed');
        }
        this.#releaseMediasoup();
      });
    });
    ws.on('close', () => this.close('transport_closed'));
    ws.on('error', (err) => this.#log.warn({ err }, 'signaling socket error'));
    ws.on('pong', () => {
      this.#pongPending = false;
    });
    this.#offerTimer = setTimeout(
      () => this.#expire('offer_timeout', 'timeout', 1008, `no offer within ${webrtc.offerTimeoutMs} ms`),
      webrtc.offerTimeoutMs,
    );
    this.#offerTimer.unref();
    this.#pingTimer = setInterval(() => this.#ping(), webrtc.pingIntervalMs);
    this.#pingTimer.unref();
  }

  /** A socket that did not answer the last ping within a whole interval is gone (no FIN seen). */
  #ping(): void {
    const ws = this.#o.ws;
    if (this.#pongPending) {
      this.#expire('signaling_dead', 'transport_closed', 1001, `signaling socket missed a pong for ${this.#o.webrtc.pingIntervalMs} ms`);
      ws.terminate();
      return;
    }
    if (ws.readyState !== ws.OPEN) return;
    this.#pongPending = true;
    ws.ping();
  }

  /** Ends the session for a liveness reason: `cause` is logged with the close. */
  #expire(cause: SessionEndCause, reason: StreamEndReason, code: number, message: string): void {
    if (this.#closed) return;
    this.#cause = cause;
    this.close(reason, code, message);
  }

  /** True (and everything created so far released) when the session closed during an await. */
  #abandoned(): boolean {
    if (!this.#closed) return false;
    this.#releaseMediasoup();
    return true;
  }

  #watch(transport: MsWebRtcTransport): void {
    transport.on('icestatechange', (state: MsIceState) => this.#onIceState(state));
    transport.on('dtlsstatechange', (state: MsDtlsState) => this.#onDtlsState(state));
  }

  #onIceState(state: MsIceState): void {
    this.#log.debug({ iceState: state }, 'ICE state');
    if (state === 'closed') return this.#expire('ice_closed', 'transport_closed', 1001, 'ICE closed');
    if (state === 'disconnected') {
      const grace = this.#o.webrtc.iceDisconnectedGraceMs;
      this.#iceGraceTimer ??= setTimeout(() => this.#expire('ice_disconnected', 'timeout', 1001, `ICE disconnected for ${grace} ms`), grace);
      this.#iceGraceTimer.unref();
      return;
    }
    clearTimeout(this.#iceGraceTimer);
    this.#iceGraceTimer = undefined;
  }

  #onDtlsState(state: MsDtlsState): void {
    this.#log.debug({ dtlsState: state }, 'DTLS state');
    if (state === 'failed') return this.#expire('dtls_failed', 'error', 1011, 'DTLS failed');
    if (state === 'closed') return this.#expire('dtls_closed', 'transport_closed', 1001, 'DTLS closed by the browser');
    if (state === 'connected' && !this.#connected && !this.#closed) {
      this.#connected = true;
      clearTimeout(this.#connectTimer);
      this.#connectTimer = undefined;
      // From now on RTP must keep coming (a vanished browser, a track that stopped sending).
      const timeout = this.#o.media.streamTimeoutMs;
      this.#lastRtpMs = this.#o.ingress.nowMs();
      this.#mediaTimer = setInterval(() => {
        if (this.#o.ingress.nowMs() - this.#lastRtpMs > timeout) this.#expire('media_timeout', 'timeout', 1008, `no audio for ${timeout} ms`);
      }, Math.max(20, Math.min(1000, Math.floor(timeout / 4))));
      this.#mediaTimer.unref();
    }
  }

  async #onMessage(text: string): Promise<void> {
    const message = parseClientMessage(text);
    if (this.#offered) throw new SdpOfferError('one offer per session');
    this.#offered = true;
    clearTimeout(this.#offerTimer);
    this.#offerTimer = undefined;
    const offer = parseBrowserOffer(message.sdp);
    const { router, webrtc } = this.#o;
    const transport = await router.createWebRtcTransport({
      listenInfos: [
        { protocol: 'udp', ip: webrtc.listenIp, ...(webrtc.announcedAddress ? { announcedAddress: webrtc.announcedAddress } : {}) },
      ],
      enableUdp: true,
      enableTcp: false,
    });
    this.#transport = transport;
    if (this.#abandoned()) return;
    this.#watch(transport);
    await transport.connect({ dtlsParameters: offer.dtlsParameters });
    if (this.#abandoned()) return;
    const producer = await transport.produce({ kind: 'audio', rtpParameters: offer.rtpParameters });
    this.#producer = producer;
    if (this.#abandoned()) return;
    const direct = await router.createDirectTransport();
    this.#direct = direct;
    if (this.#abandoned()) return;
    const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    this.#consumer = consumer;
    if (this.#abandoned()) return;
    const codec = consumer.rtpParameters.codecs[0]!;
    const callId = randomUUID();
    const leg = this.#o.ingress.openPacketStream({
      descriptor: {
        streamId: `${this.id}:microphone`,
        callId,
        leg: 'microphone',
        transport: 'webrtc',
        identity: { protocol: 'webrtc', ...(message.metadata ?? {}) },
      },
      format: { payloadType: codec.payloadType, encoding: 'opus', clockRate: codec.clockRate, channels: codec.channels ?? 2 },
      log: this.#log,
    });
    this.#leg = leg;
    this.#o.onStream(leg.descriptor.streamId);
    const rtpFailed = (err: unknown): void => this.#log.error({ err }, 'RTP handling failed');
    consumer.on('rtp', (packet: Buffer) => {
      this.#lastRtpMs = this.#o.ingress.nowMs();
      safeEmit(rtpFailed, leg, leg.onRtp, packet);
    });
    if (!this.#connected) {
      const connectMs = this.#o.webrtc.connectTimeoutMs;
      this.#connectTimer = setTimeout(
        () => this.#expire('connect_timeout', 'timeout', 1008, `ICE/DTLS not connected within ${connectMs} ms`),
        connectMs,
      );
      this.#connectTimer.unref();
    }
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
    clearTimeout(this.#offerTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#iceGraceTimer);
    clearInterval(this.#mediaTimer);
    clearInterval(this.#pingTimer);
    // A liveness end (cause set) is a warning: a browser that could not connect or went away unseen.
    this.#log[this.#cause ? 'warn' : 'info']({ reason, cause: this.#cause, closeCode: code, detail: message || undefined, streamId: this.streamId }, 'WebRTC session closed');
    this.#leg?.end(reason);
    this.#releaseMediasoup();
    const ws = this.#o.ws;
    if (ws.readyState === ws.OPEN) {
      ws.close(code, message);
      setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_MS).unref();
    }
    this.#o.onClosed();
  }
}
