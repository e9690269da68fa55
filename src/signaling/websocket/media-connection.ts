/**
 * One accepted media WebSocket: timers (start, idle), counters, the close handshake, and the
 * legs it opened. The protocol itself lives in a ProtocolHandler (Twilio/Telnyx or PCM fork);
 * anything a handler throws closes this connection only — a StreamPolicyError with its close
 * code, anything else with 1011 — and never reaches the event loop.
 */
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import {
  PacingError,
  StreamCapacityError,
  type AudioDecoder,
  type FrameStream,
  type MediaIngress,
  type PayloadFormat,
  type StreamEndReason,
} from '../../media/types.js';
import { safeEmit } from '../../safe-emit.js';
import { StreamPolicyError } from './errors.js';
import { CLOSE_CODE_OF, type WsCloseReason, type WsMediaCounters, type WsProtocol } from './types.js';

/** What a protocol handler may use of its connection. */
export interface ConnectionContext {
  readonly connId: string;
  readonly protocol: WsProtocol;
  readonly log: Logger;
  readonly counters: WsMediaCounters;
  readonly maxFrameMs: number;
  /** Opens one leg (a framed media stream) of this connection's call; it is ended when the connection ends. */
  openLeg(leg: string, callId: string, inputRate: number, identity: Readonly<Record<string, string>>, codec: string): FrameStream;
  /** A decoder for the call's encoded payloads. @throws UnsupportedCodecError */
  createDecoder(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>): AudioDecoder;
}

export interface ProtocolHandler {
  /** True once the start / metadata message has been accepted. */
  readonly started: boolean;
  /** @returns 'stop' when the client ended the stream in-band. Throws StreamPolicyError on bad input. */
  onText(text: string, arrivalMs: number): 'continue' | 'stop';
  onBinary(data: Buffer, arrivalMs: number): void;
  /** Releases decoders; called once when the connection ends, after its legs. */
  close(): void;
}

export interface MediaConnectionOptions {
  connId: string;
  /** Who authenticated the connection (Principal.id): its legs share the detector fairly with others'. */
  principal: string;
  protocol: WsProtocol;
  websocket: Config['websocket'];
  /** Each leg opens a framed stream there (StreamCapacityError closes the connection with over_capacity). */
  ingress: MediaIngress;
  log: Logger;
  counters: WsMediaCounters;
  createHandler(ctx: ConnectionContext): ProtocolHandler;
  /** Called once when the connection has ended (after its legs). */
  onEnded(): void;
}

const END_REASON: Readonly<Record<WsCloseReason, StreamEndReason>> = {
  stop: 'bye',
  client_closed: 'transport_closed',
  idle_timeout: 'timeout',
  start_timeout: 'timeout',
  server_shutdown: 'shutdown',
  not_json: 'error',
  schema: 'error',
  bad_base64: 'error',
  partial_sample: 'error',
  undecodable_audio: 'error',
  unexpected_binary: 'error',
  unsupported_format: 'error',
  frame_too_large: 'error',
  message_too_large: 'error',
  faster_than_realtime: 'error',
  too_many_streams: 'error',
  over_capacity: 'released',
  protocol_error: 'error',
  internal_error: 'error',
};

/** A client that does not answer our close frame within this long is cut off. */
const CLOSE_HANDSHAKE_MS = 2000;

/** Close reasons are limited to 123 bytes by RFC 6455. */
function closeReasonText(s: string): string {
  return Buffer.byteLength(s) <= 123 ? s : Buffer.from(s).subarray(0, 120).toString('utf8');
}

export class MediaConnection implements ConnectionContext {
  readonly connId: string;
  readonly protocol: WsProtocol;
  readonly log: Logger;
  readonly counters: WsMediaCounters;
  readonly maxFrameMs: number;
  readonly #ws: WebSocket;
  readonly #opts: MediaConnectionOptions;
  readonly #handler: ProtocolHandler;
  readonly #legs: FrameStream[] = [];
  readonly #idleTimer: NodeJS.Timeout;
  #startTimer: NodeJS.Timeout | undefined;
  /** Cuts off a client that does not answer our close frame. */
  #terminateTimer: NodeJS.Timeout | undefined;
  /** When the connection was accepted (wall clock, ms). */
  readonly #acceptedMs: number;
  #ended = false;
  #closeReason: WsCloseReason | undefined;

  constructor(ws: WebSocket, opts: MediaConnectionOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.connId = opts.connId;
    this.protocol = opts.protocol;
    this.log = opts.log;
    this.counters = opts.counters;
    this.maxFrameMs = opts.websocket.maxFrameMs;
    this.#acceptedMs = opts.ingress.nowMs();
    this.#handler = opts.createHandler(this);
    this.counters.activeConnections++;
    this.#idleTimer = setTimeout(() => this.close('idle_timeout', `nothing received for ${opts.websocket.idleTimeoutMs} ms`), opts.websocket.idleTimeoutMs);
    this.#startTimer = setTimeout(
      () => this.close('start_timeout', `no start/metadata within ${opts.websocket.startTimeoutMs} ms`),
      opts.websocket.startTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      const reason: WsCloseReason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'message_too_large' : 'protocol_error';
      this.log.warn({ err, reason }, 'media websocket error');
      // ws has already sent the matching close frame (1009 / 1002 / 1007); end our side.
      this.#finish(reason);
    });
    ws.on('close', (code: number) => {
      if (!this.#ended) this.log.info({ code }, 'media websocket closed by client');
      this.#finish('client_closed');
      clearTimeout(this.#terminateTimer);
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Why the connection ended, once it has. */
  get closeReason(): WsCloseReason | undefined {
    return this.#closeReason;
  }

  openLeg(leg: string, callId: string, inputRate: number, identity: Readonly<Record<string, string>>, codec: string): FrameStream {
    let m: FrameStream;
    try {
      m = this.#opts.ingress.openFrameStream({
        descriptor: {
          streamId: `${this.connId}:${leg}`,
          callId,
          leg,
          transport: 'websocket',
          identity: { protocol: this.protocol, ...identity },
          principal: this.#opts.principal,
        },
        inputRate,
        codec,
        realtimeSlackMs: this.#opts.websocket.realtimeSlackMs,
        wallAnchorMs: this.#acceptedMs,
        reorderFrames: this.protocol === 'twilio' || this.protocol === 'telnyx' ? this.#opts.websocket.reorderFrames : 0,
        maxFrameSamples: Math.ceil((this.maxFrameMs * inputRate) / 1000) + 2,
        log: this.log.child({ leg, callId }),
      });
    } catch (err) {
      if (!(err instanceof StreamCapacityError)) throw err;
      throw new StreamPolicyError('over_capacity', `DevoX is at its limit of ${err.limit} live streams; retry later`);
    }
    this.#legs.push(m);
    this.counters.activeLegs++;
    return m;
  }

  createDecoder(format: Pick<PayloadFormat, 'encoding' | 'clockRate' | 'channels'>): AudioDecoder {
    return this.#opts.ingress.createDecoder(format);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#ended) return;
    const arrivalMs = this.#opts.ingress.nowMs();
    this.#idleTimer.refresh();
    this.counters.messages++;
    this.counters.bytes += data.length;
    try {
      if (isBinary) {
        this.#handler.onBinary(data, arrivalMs);
      } else if (this.#handler.onText(data.toString('utf8'), arrivalMs) === 'stop') {
        this.close('stop', 'stop received');
        return;
      }
      if (this.#startTimer !== undefined && this.#handler.started) {
        clearTimeout(this.#startTimer);
        this.#startTimer = undefined;
      }
    } catch (caught) {
      // Pacing is policed by media; this transport answers it with its own close code.
      const err = caught instanceof PacingError ? new StreamPolicyError('faster_than_realtime', caught.message, { cause: caught }) : caught;
      if (err instanceof StreamPolicyError) {
        this.log.warn({ reason: err.reason, closeCode: err.closeCode, detail: err.message }, 'closing media stream on bad input');
        this.close(err.reason, err.message);
      } else {
        this.log.error({ err }, 'media stream handler failed');
        this.close('internal_error', 'internal error');
      }
    }
  }

  /** Ends the legs and starts the close handshake with the reason's close code. Idempotent. */
  close(reason: WsCloseReason, message: string): void {
    if (this.#ended) return;
    this.#finish(reason);
    const ws = this.#ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(CLOSE_CODE_OF[reason], closeReasonText(message));
      this.#terminateTimer = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_MS);
      this.#terminateTimer.unref();
    }
  }

  #finish(reason: WsCloseReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closeReason = reason;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#startTimer);
    this.counters.closed[reason]++;
    this.counters.activeConnections--;
    for (const leg of this.#legs) {
      try {
        leg.end(END_REASON[reason]);
      } catch (err) {
        this.log.error({ err, leg: leg.descriptor.leg }, 'ending leg failed');
      }
      this.counters.activeLegs--;
    }
    try {
      this.#handler.close();
    } catch (err) {
      this.log.error({ err }, 'closing protocol handler failed');
    }
    this.log.info({ reason, legs: this.#legs.length }, 'media stream ended');
    safeEmit((err) => this.log.error({ err }, 'onEnded listener failed'), this.#opts, this.#opts.onEnded);
  }
}
