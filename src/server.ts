/**
 * The DevoX server, wired in data order:
 *
 *   config → logger → metrics → event publisher (NATS JetStream or stdout)
 *          → verdict pipeline (Detector + verdict policy) → media sessions (RTP)
 *          → HTTP (/metrics /healthz /readyz, POST/GET/DELETE /streams, WebSocket upgrades)
 *
 * Without SIP signaling, RTP streams are opened over HTTP (the "stream control" API):
 *
 *   POST   /streams {"callId"?, "leg"?, "codec"?: "PCMU"|"PCMA"|"L16"|"opus", "payloadType"?, "clockRate"?, "identity"?}
 *          → 201 {"streamId", "callId", "leg", "address", "port", "payloadType", "codec", "clockRate"}
 *   GET    /streams                      → live streams with their labels and RTP counters
 *   DELETE /streams?streamId=<id>        → ends the stream now (its call.ended follows)
 *
 * close() is the graceful shutdown: stop taking streams, end every stream (their final
 * windows are scored and call.ended published), flush the publisher, close HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Config } from './config.js';
import { checkAudioFormat, defaultPayloadFormat } from './media/codecs.js';
import { UnsupportedCodecError } from './media/errors.js';
import { MediaIngress } from './media/ingress.js';
import type { MediaSessions, RtpSession } from './media/media-sessions.js';
import { StreamCapacity, StreamCapacityError } from './media/stream-capacity.js';
import type { CodecName, StreamDescriptor } from './media/types.js';
import { HttpServer, readJsonBody, sendJson, HttpServerError } from './observability/http-server.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { VerdictPipeline, type VerdictListener } from './verdicts/pipeline.js';
import { createPublisher, type EventPublisher } from './verdicts/publisher.js';
import { MediaStreamServer } from './signaling/websocket/media-stream-server.js';
import { WebRtcIngest } from './signaling/webrtc/webrtc-ingest.js';
import { WebRtcUnavailableError } from './signaling/webrtc/types.js';
import { startSip, type SipApp } from './signaling/sip-app.js';

export interface ServerOptions {
  config: Readonly<Config>;
  log?: Logger;
  /** Where stdout events go when NATS is not configured (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** In-process verdict listener (demo, tests). */
  listener?: VerdictListener;
}

const OpenStreamRequest = z
  .object({
    callId: z
      .string()
      .min(1)
      .max(256)
      // CR/LF and other control characters are never part of a real call id (and break headers and logs).
      .regex(/^\P{Cc}*$/u, 'must not contain control characters (CR, LF, tab, NUL...)')
      .optional(),
    leg: z.string().min(1).max(64).optional(),
    codec: z.enum(['PCMU', 'PCMA', 'L16', 'opus', 'pcmu', 'pcma', 'l16']).optional(),
    payloadType: z.number().int().min(0).max(127).optional(),
    clockRate: z.number().int().min(8000).max(48000).optional(),
    identity: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export type OpenStreamRequest = z.infer<typeof OpenStreamRequest>;

export interface OpenedStream {
  streamId: string;
  callId: string;
  leg: string;
  address: string;
  port: number;
  payloadType: number;
  codec: CodecName;
  clockRate: number;
}

export class StreamRequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamRequestError';
  }
}

export class DevoxServer {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly publisher: EventPublisher;
  readonly pipeline: VerdictPipeline;
  readonly media: MediaSessions;
  readonly http: HttpServer;
  /** WebSocket media streams (Twilio, Telnyx, audio_fork, jambonz); undefined when websocket.enabled is false. */
  readonly websocket: MediaStreamServer | undefined;
  /** SIP/SIPREC signaling through drachtio-server; undefined when sip.enabled is false. */
  readonly sip: SipApp | undefined;
  /** Browser microphones over WebRTC (mediasoup); undefined when disabled or mediasoup / its worker is missing. */
  readonly webrtc: WebRtcIngest | undefined;
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    config: Readonly<Config>;
    log: Logger;
    metrics: Metrics;
    publisher: EventPublisher;
    pipeline: VerdictPipeline;
    media: MediaSessions;
    http: HttpServer;
    websocket: MediaStreamServer | undefined;
    sip: SipApp | undefined;
    webrtc: WebRtcIngest | undefined;
  }) {
    this.config = parts.config;
    this.log = parts.log;
    this.metrics = parts.metrics;
    this.publisher = parts.publisher;
    this.pipeline = parts.pipeline;
    this.media = parts.media;
    this.http = parts.http;
    this.websocket = parts.websocket;
    this.sip = parts.sip;
    this.webrtc = parts.webrtc;
  }

  /**
   * Starts everything or fails with the first clear error (NatsPublisherError,
   * ModelLoadError, HttpServerError...), releasing what was already started.
   */
  static async start(opts: ServerOptions): Promise<DevoxServer> {
    const config = opts.config;
    const log = opts.log ?? createLogger(config.log.level);
    const metrics = new Metrics();
    const publisher = createPublisher({ nats: config.nats, metrics, log, stdout: opts.stdout });
    const cleanup: Array<() => Promise<void>> = [];
    try {
      await publisher.start();
      cleanup.push(() => publisher.close());
      if (publisher.kind === 'stdout') log.warn('nats.servers is empty: events go to stdout as JSON lines');
      // The /webrtc page shows its stream's latest window score: with WebRTC on, the pipeline's
      // listener also hands WebRTC window scores to the ingest (set once it has started).
      let webrtcScores: WebRtcIngest | undefined;
      const user = opts.listener;
      const listener: VerdictListener | undefined = config.webrtc.enabled
        ? {
            onWindow: (s, label, publishedMs) => {
              user?.onWindow?.(s, label, publishedMs);
              if (s.stream.transport === 'webrtc') webrtcScores?.noteWindowScore(s.stream.streamId, s.score);
            },
            ...(user?.onVerdict ? { onVerdict: user.onVerdict.bind(user) } : {}),
            ...(user?.onStreamEnded ? { onStreamEnded: user.onStreamEnded.bind(user) } : {}),
          }
        : user;
      const pipeline = await VerdictPipeline.create({ config, log, metrics, publisher, listener });
      cleanup.push(() => pipeline.close());
      // One cap on live streams shared by every ingress (media.maxStreams).
      const capacity = new StreamCapacity(config.media.maxStreams);
      metrics.addStreamCapacity(capacity);
      // The one head every transport's audio enters media through; RTP over UDP is its MediaSessions.
      const ingress = new MediaIngress({
        capacity,
        media: config.media,
        window: config.window,
        outputRate: pipeline.sampleRate,
        sink: pipeline,
        log: log.child({ component: 'media' }),
      });
      const media = ingress.rtp;
      cleanup.push(() => media.closeAll());
      metrics.addCounterSource(() => media.streams());
      let websocket: MediaStreamServer | undefined;
      if (config.websocket.enabled) {
        const ws = new MediaStreamServer({
          ingress,
          websocket: config.websocket,
          log: log.child({ component: 'websocket' }),
        });
        cleanup.push(() => ws.close());
        metrics.addWebSocketCounters(() => ws.counters);
        websocket = ws;
      }
      let webrtc: WebRtcIngest | undefined;
      let webrtcUnavailable = 'disabled (webrtc.enabled is false)';
      if (config.webrtc.enabled) {
        try {
          const w = await WebRtcIngest.start({
            ingress,
            webrtc: config.webrtc,
            websocket: config.websocket,
            media: config.media,
            window: config.window,
            log: log.child({ component: 'webrtc' }),
            status: (streamId) => ({ label: pipeline.label(streamId) }),
          });
          cleanup.push(() => w.close());
          webrtc = w;
          webrtcScores = w;
        } catch (err) {
          if (!(err instanceof WebRtcUnavailableError)) throw err;
          // mediasoup is optional: DevoX runs without WebRTC and says why.
          webrtcUnavailable = err.message;
          log.warn({ reason: err.reason, detail: err.message }, 'WebRTC ingest unavailable; starting without it');
        }
      }
      let sip: SipApp | undefined;
      if (config.sip.enabled) {
        // Returns at once; readiness follows the drachtio connection.
        const app = await startSip({ config, media, log: log.child({ component: 'sip' }) });
        cleanup.push(() => app.close());
        metrics.addSipCounters(() => app.counters, () => app.ready);
        sip = app;
      }
      let server: DevoxServer | undefined;
      const http = new HttpServer({
        host: config.http.host,
        port: config.http.port,
        metrics,
        log: log.child({ component: 'http' }),
        readiness: () => {
          const checks: Record<string, true | string> = {
            model: true,
            nats: publisher.kind === 'stdout' ? true : publisher.connected ? true : 'NATS not connected',
            sip: !sip || sip.ready ? true : 'not connected to drachtio-server',
            accepting: server && !server.#closing ? true : 'shutting down',
          };
          return { ready: Object.values(checks).every((c) => c === true), checks };
        },
      });
      server = new DevoxServer({ config, log, metrics, publisher, pipeline, media, http, websocket, sip, webrtc });
      if (webrtc) {
        const w = webrtc;
        http.onUpgrade(config.webrtc.path, (req, socket, head) => w.handleUpgrade(req, socket, head));
        http.route('GET', config.webrtc.path, (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          res.end(w.page());
        });
      } else {
        http.route('GET', config.webrtc.path, (_req, res) => sendJson(res, 503, { error: `WebRTC unavailable: ${webrtcUnavailable}` }));
      }
      if (websocket) {
        const ws = websocket;
        http.onUpgrade(config.websocket.pathPrefix, (req, socket, head) => ws.handleUpgrade(req, socket, head));
      }
      server.#routes();
      await http.listen();
      log.info(
        { http: http.url, model: pipeline.card.name, modelVersion: pipeline.card.version, executionProvider: pipeline.detector.executionProvider, events: publisher.kind },
        'devox server ready',
      );
      return server;
    } catch (err) {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      throw err;
    }
  }

  /** Opens an RTP stream without SIP: allocates a media session and returns where to send. */
  async openStream(req: OpenStreamRequest = {}): Promise<OpenedStream> {
    if (this.#closing) throw new StreamRequestError('server is shutting down');
    const parsed = OpenStreamRequest.safeParse(req);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new StreamRequestError(`${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const r = parsed.data;
    const codec = (r.codec ? (r.codec.toLowerCase() === 'opus' ? 'opus' : r.codec.toUpperCase()) : 'PCMU') as CodecName;
    const format = defaultPayloadFormat(codec, { payloadType: r.payloadType, sampleRate: r.clockRate });
    try {
      checkAudioFormat(format);
    } catch (err) {
      if (err instanceof UnsupportedCodecError) throw new StreamRequestError(err.message); // e.g. L16 at 47999 Hz: 400
      throw err;
    }
    const descriptor: StreamDescriptor = {
      streamId: randomUUID(),
      callId: r.callId ?? randomUUID(),
      leg: r.leg ?? 'caller',
      transport: 'rtp',
      ...(r.identity ? { identity: Object.freeze({ ...r.identity }) } : {}),
    };
    const session: RtpSession = await this.media.allocate({ descriptor, formats: [format] });
    return {
      streamId: descriptor.streamId,
      callId: descriptor.callId,
      leg: descriptor.leg,
      address: session.address,
      port: session.port,
      payloadType: format.payloadType,
      codec,
      clockRate: format.clockRate,
    };
  }

  /** Ends a stream now (idempotent); its final verdict and call.ended follow. */
  releaseStream(streamId: string): boolean {
    const known = [...this.media.streams()].some((s) => s.descriptor.streamId === streamId);
    this.media.release(streamId, 'released');
    return known;
  }

  #routes(): void {
    const http = this.http;
    http.route('POST', '/streams', async (req: IncomingMessage, res: ServerResponse) => {
      let body: unknown;
      try {
        body = await readJsonBody(req);
      } catch (err) {
        return sendJson(res, 400, { error: (err as Error).message });
      }
      try {
        sendJson(res, 201, await this.openStream(body as OpenStreamRequest));
      } catch (err) {
        if (err instanceof StreamRequestError) return sendJson(res, this.#closing ? 503 : 400, { error: err.message });
        if (err instanceof StreamCapacityError) {
          this.log.warn({ limit: err.limit }, 'stream refused: at media.maxStreams');
          res.setHeader('retry-after', String(this.config.sip.retryAfterSec));
        } else {
          this.log.error({ err }, 'cannot open stream');
        }
        sendJson(res, 503, { error: (err as Error).message });
      }
    });
    http.route('GET', '/streams', (_req, res) => {
      const streams = [...this.media.streams()].map((s) => ({
        ...s.descriptor,
        address: s.address,
        port: s.port,
        label: this.pipeline.label(s.descriptor.streamId) ?? 'listening',
        counters: s.counters,
      }));
      sendJson(res, 200, { streams });
    });
    http.route('DELETE', '/streams', (_req, res, url) => {
      const streamId = url.searchParams.get('streamId');
      if (!streamId) return sendJson(res, 400, { error: 'streamId query parameter is required' });
      const known = this.releaseStream(streamId);
      sendJson(res, known ? 200 : 404, known ? { released: streamId } : { error: 'no such stream' });
    });
  }

  /**
   * Graceful shutdown (idempotent): end every stream (final windows scored, call.ended
   * published), flush events to NATS, close HTTP.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const log = this.log;
      log.info({ streams: this.media.size }, 'shutting down: ending streams');
      const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          log.error({ err, step: what }, 'shutdown step failed; continuing');
        }
      };
      await step('sip', async () => this.sip?.close());
      await step('websocket', async () => this.websocket?.close());
      await step('webrtc', async () => this.webrtc?.close());
      await step('media', () => this.media.closeAll());
      await step('pipeline', () => this.pipeline.close());
      await step('publisher', () => this.publisher.close());
      await step('http', () => this.http.close());
      log.info('shutdown complete');
    })();
    return this.#closing;
  }
}

export { HttpServerError };
