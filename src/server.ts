/**
 * The DevoX server, wired in data order:
 *
 *   signaling (SIP, WebSocket, WebRTC) → media sessions → detector set (the WindowSink)
 *          → score sinks: verdict pipeline (→ event publisher: NATS JetStream or stdout)
 *                         and the WebRTC page's live score
 *   beside: HTTP (/metrics /healthz /readyz, POST/GET/DELETE /streams, WebSocket upgrades), metrics
 *
 * Only this file knows Metrics: detect/, verdicts/ and the publisher report through the
 * observers of observability/observers.ts.
 *
 * Without SIP signaling, RTP streams are opened over HTTP (the stream control API,
 * http/streams-api.ts: POST/GET/DELETE /streams).
 *
 * close() is the graceful shutdown: stop taking streams, end every stream (their final
 * windows are scored and call.ended published), flush the publisher, close HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from './config.js';
import { MediaIngress } from './media/ingress.js';
import { AudioTaps } from './media/audio-tap.js';
import type { MediaSessions, RtpSession } from './media/media-sessions.js';
import { StreamCapacity } from './media/stream-capacity.js';
import type { StreamDescriptor } from './media/types.js';
import { DetectorSet } from './detect/detector-set.js';
import { ScoreFanOut } from './detect/score-fan-out.js';
import type { ScoreSink } from './detect/types.js';
import { HttpServer, HttpServerError } from './http/http-server.js';
import { parseOpenStreamRequest, routeStreams, StreamRequestError, type OpenedStream, type OpenStreamRequest, type StreamControl } from './http/streams-api.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './observability/metrics.js';
import { VerdictPipeline, type VerdictListener } from './verdicts/pipeline.js';
import { createPublisher, tapPublisher, type EventPublisher } from './verdicts/publisher.js';
import { SupervisorConsole } from './console/console.js';
import { routeConsole } from './console/routes.js';
import { RecentMedia } from './console/recent-media.js';
import { metricsObservers } from './observability/observers.js';
import { MediaStreamServer } from './signaling/websocket/media-stream-server.js';
import type { WebRtcIngest } from './signaling/webrtc/webrtc-ingest.js';
import { ListenIn } from './signaling/webrtc/listen-in.js';
import { startWebRtc } from './signaling/webrtc/start-webrtc.js';
import { routeWebRtc } from './signaling/webrtc/webrtc-routes.js';
import { nodeReadiness } from './readiness.js';
import { registerWebRtcMetrics } from './observability/webrtc-metrics.js';
import { startSip, type SipApp } from './signaling/sip/sip-app.js';
import { ModelLifecycle } from './registry/model-lifecycle.js';
import { registerLifecycleMetrics } from './observability/registry-metrics.js';
import { WindowFanOut } from './media/window-fan-out.js';
import { routeEnrolmentsDisabled } from './speaker/enrol-api.js';
import { SpeakerService } from './speaker/speaker-service.js';
import type { IdentityEvent } from './verdicts/types.js';

export interface ServerOptions {
  config: Readonly<Config>;
  log?: Logger;
  /** Where stdout events go when NATS is not configured (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** In-process verdict listener (demo, tests). */
  listener?: VerdictListener;
  /** In-process listener of identity.* events (tests). */
  onIdentity?(e: IdentityEvent): void;
}

/** What start() builds and hands to the constructor: every public part of a running server. */
type ServerParts = Pick<DevoxServer, 'config' | 'log' | 'metrics' | 'publisher' | 'detector' | 'pipeline' | 'media' | 'http' | 'websocket' | 'sip' | 'webrtc' | 'console' | 'lifecycle' | 'speaker'>;

export class DevoxServer implements StreamControl {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly publisher: EventPublisher;
  /** One Detector per band: the WindowSink every ingress feeds. */
  readonly detector: DetectorSet;
  readonly pipeline: VerdictPipeline;
  readonly media: MediaSessions;
  readonly http: HttpServer;
  /** WebSocket media streams (Twilio, Telnyx, audio_fork, jambonz); undefined when websocket.enabled is false. */
  readonly websocket: MediaStreamServer | undefined;
  /** SIP/SIPREC signaling through drachtio-server; undefined when sip.enabled is false. */
  readonly sip: SipApp | undefined;
  /** Browser microphones over WebRTC (mediasoup); undefined when disabled or mediasoup / its worker is missing. */
  readonly webrtc: WebRtcIngest | undefined;
  /** The supervisor console (console.path); undefined when console.enabled is false. */
  readonly console: SupervisorConsole | undefined;
  /** Registry watch, shadow, canary and features export; undefined without NATS. */
  readonly lifecycle: ModelLifecycle | undefined;
  /** Speaker verification (docs/speaker.md); undefined when speaker.enabled is false. */
  readonly speaker: SpeakerService | undefined;
  #closing: Promise<void> | undefined;

  private constructor(parts: ServerParts) {
    this.config = parts.config;
    this.log = parts.log;
    this.metrics = parts.metrics;
    this.publisher = parts.publisher;
    this.detector = parts.detector;
    this.pipeline = parts.pipeline;
    this.media = parts.media;
    this.http = parts.http;
    this.websocket = parts.websocket;
    this.sip = parts.sip;
    this.webrtc = parts.webrtc;
    this.console = parts.console;
    this.lifecycle = parts.lifecycle;
    this.speaker = parts.speaker;
  }

  /**
   * Starts everything or fails with the first clear error (NatsPublisherError,
   * ModelLoadError, HttpServerError...), releasing what was already started.
   */
  static async start(opts: ServerOptions): Promise<DevoxServer> {
    const config = opts.config;
    const log = opts.log ?? createLogger(config.log.level);
    const metrics = new Metrics();
    const observers = metricsObservers(metrics);
    const publisher = createPublisher({ nats: config.nats, observer: observers.publisher, log, stdout: opts.stdout });
    const cleanup: Array<() => Promise<void>> = [];
    try {
      await publisher.start();
      cleanup.push(() => publisher.close());
      if (publisher.kind === 'stdout') log.warn('nats.servers is empty: events go to stdout as JSON lines');
      // media → detector → score sinks (the pipeline; the WebRTC page's live score once WebRTC is up).
      const scores = new ScoreFanOut(log.child({ component: 'detect' }));
      const detector = await DetectorSet.create({
        detect: config.detect,
        modelDir: config.detect.modelDir,
        narrowbandModelDir: config.detect.narrowbandModelDir,
        windowSec: config.window.lengthSec,
        log: log.child({ component: 'detect' }),
        sink: scores,
        observer: observers.detector,
        // Features export reads each window's embedding output.
        embeddings: publisher.kind === 'nats' && config.features.export,
      });
      cleanup.push(() => detector.close());
      metrics.watchDetectorQueue(() => {
        const s = detector.stats;
        return s.queued + s.inFlight;
      });
      // Events on stdout without their per-window lines (nats.stdoutWindowEvents false, serve --no-window-events).
      const quietWindows = publisher.kind === 'stdout' && !config.nats.stdoutWindowEvents;
      const publishWindows = config.verdict.publishWindowEvents && !quietWindows;
      // The supervisor console; in local mode it sees every event (window ones too) as it is published.
      let supervisor: SupervisorConsole | undefined;
      // Codec and RTP counters of recent streams (ended ones too) for the console's call detail.
      const legMedia = new RecentMedia(config.console.maxCalls * 2);
      // Listen-in: a supervisor hears a live leg, from media's taps through mediasoup (once WebRTC is up).
      const taps = new AudioTaps((err, streamId) => log.warn({ err, streamId }, 'audio tap listener threw; detached'));
      const listenIn = new ListenIn({ taps, webrtc: config.webrtc, log });
      if (config.console.enabled) {
        supervisor = await SupervisorConsole.start({
          config,
          log,
          thresholds: (version) => {
            const th = detector.cardOfVersion(version)?.thresholds;
            return th ? { suspicious: th.suspicious, synthetic: th.synthetic } : undefined;
          },
          media: (streamId) => legMedia.view(streamId),
          listen: listenIn,
        });
        const c = supervisor;
        cleanup.push(() => c.close());
      }
      const local = supervisor && config.console.source === 'local' ? supervisor : undefined;
      const pipeline = new VerdictPipeline({
        verdict: { ...config.verdict, publishWindowEvents: publishWindows || local !== undefined },
        models: detector,
        log,
        observer: observers.verdicts,
        publisher: local ? tapPublisher(publisher, local, { forwardWindows: publishWindows, log }) : publisher,
        node: config.node.id,
        ...(opts.listener ? { listener: opts.listener } : {}),
      });
      scores.add(pipeline);
      cleanup.push(async () => pipeline.close());
      // With NATS: the registry's serving version hot-swaps in; shadow, canary and features as configured.
      let lifecycle: ModelLifecycle | undefined;
      if (publisher.kind === 'nats') {
        lifecycle = await ModelLifecycle.start({
          config,
          detector,
          scores,
          swap: (dir) => countedSwap(detector, metrics, dir),
          log: log.child({ component: 'registry' }),
          observers: registerLifecycleMetrics(metrics.registry),
        });
        const lc = lifecycle;
        cleanup.push(() => lc.close());
      }
      // Who is speaking: the speaker model beside the detector, identity decisions after the verdicts.
      let speaker: SpeakerService | undefined;
      if (config.speaker.enabled) {
        const sp = await SpeakerService.start({
          config,
          publisher,
          labelOf: (streamId) => pipeline.label(streamId),
          log,
          ...(opts.onIdentity ? { onEvent: opts.onIdentity } : {}),
        });
        cleanup.push(() => sp.close());
        scores.add(sp.identity);
        metrics.addSpeakerCounters(() => sp.scorer.stats);
        speaker = sp;
      }
      /** The media output rate: the models' input sample rate. */
      const outputRate = detector.card.input.sampleRate;
      // One cap on live streams shared by every ingress (media.maxStreams).
      const capacity = new StreamCapacity(config.media.maxStreams);
      metrics.addStreamCapacity(capacity);
      // The one head every transport's audio enters media through; RTP over UDP is its MediaSessions.
      const ingress = new MediaIngress({
        capacity,
        taps,
        media: config.media,
        window: config.window,
        outputRate,
        sink: speaker ? new WindowFanOut([lifecycle?.windowSink ?? detector, speaker.scorer], log.child({ component: 'media' })) : (lifecycle?.windowSink ?? detector),
        log: log.child({ component: 'media' }),
        // Tracked from the start: a stream that ends before a scrape (or a window) still counts.
        onRtpSessionOpened: (descriptor, c) => {
          metrics.trackStreamCounters(descriptor.streamId, c);
          if (supervisor) legMedia.rememberCounters(descriptor.streamId, c);
        },
        onStreamOpened: (descriptor, codec) => {
          if (supervisor) legMedia.rememberCodec(descriptor.streamId, codec);
        },
        onRtpSilence: (descriptor, silent, silentMs) => {
          if (silent) metrics.rtpSilences.inc();
          pipeline.onStreamSilence(descriptor, silent, silentMs);
        },
      });
      const media = ingress.rtp;
      metrics.watchSilentStreams(() => media.silentCount);
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
      // devox_webrtc_workers{,_live} stay 0 when WebRTC is disabled or does not start (mediasoup is optional).
      const { ingest: webrtc, unavailable: webrtcUnavailable } = await startWebRtc({
        config,
        ingress,
        listenIn,
        log: log.child({ component: 'webrtc' }),
        status: (streamId) => ({ label: pipeline.label(streamId) }),
        observer: registerWebRtcMetrics(metrics.registry),
      });
      if (webrtc) {
        cleanup.push(() => webrtc.close());
        scores.add(liveScores(webrtc));
      }
      let sip: SipApp | undefined;
      if (config.sip.enabled) {
        // Returns at once; readiness follows the drachtio connection.
        const app = await startSip({ config, media, log }); // SipApp binds component: 'sip' itself
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
        auth: { controlToken: config.http.controlToken, metricsToken: config.http.metricsToken, protectHealth: config.http.protectHealth },
        onUnauthorized: (access, reason) => metrics.httpUnauthorized.inc({ access, reason }),
        readiness: nodeReadiness({ config, publisher, sip, webrtc, webrtcUnavailable, closing: () => server?.closing ?? true }),
      });
      server = new DevoxServer({ config, log, metrics, publisher, detector, pipeline, media, http, websocket, sip, webrtc, console: supervisor, lifecycle, speaker });
      if (supervisor) routeConsole(http, supervisor);
      if (speaker) speaker.route(http, config, log);
      else routeEnrolmentsDisabled(http);
      routeWebRtc(http, { path: config.webrtc.path, ingest: webrtc, unavailable: webrtcUnavailable });
      if (websocket) {
        const ws = websocket;
        http.onUpgrade(config.websocket.pathPrefix, (req, socket, head) => ws.handleUpgrade(req, socket, head));
      }
      routeStreams(http, server, { log, retryAfterSec: config.sip.retryAfterSec });
      await http.listen();
      log.info(
        { http: http.url, model: detector.card.name, modelVersion: detector.card.version, executionProvider: detector.executionProvider, events: publisher.kind },
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
    const { request: r, codec, format } = parseOpenStreamRequest(req);
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
      // The address peers send to, as SDP answers say it (a wildcard bind needs an announce address).
      address: this.config.media.announceAddress || session.address,
      port: session.port,
      payloadType: format.payloadType,
      codec,
      clockRate: format.clockRate,
    };
  }

  /**
   * Loads another model version and makes it serve the band its card declares (ModelLoadError
   * on refusal: the current model stays); counted in devox_model_swaps_total.
   */
  swapModel(dir: string): Promise<void> {
    return countedSwap(this.detector, this.metrics, dir);
  }

  /** Ends a stream now (idempotent); its final verdict and call.ended follow. */
  releaseStream(streamId: string): boolean {
    const known = [...this.media.streams()].some((s) => s.descriptor.streamId === streamId);
    this.media.release(streamId, 'released');
    return known;
  }

  /** Shutdown has begun. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** The live streams as GET /streams lists them. */
  listStreams(): unknown[] {
    return [...this.media.streams()].map((s) => ({
      ...s.descriptor,
      address: this.config.media.announceAddress || s.address,
      port: s.port,
      label: this.pipeline.label(s.descriptor.streamId) ?? 'listening',
      counters: s.counters,
    }));
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
      await step('listen-in', async () => this.console?.listen.close());
      await step('sip', async () => this.sip?.close());
      await step('websocket', async () => this.websocket?.close());
      await step('webrtc', async () => this.webrtc?.close());
      await step('media', () => this.media.closeAll());
      await step('detector', () => this.detector.close());
      await step('registry', async () => this.lifecycle?.close());
      await step('speaker', async () => this.speaker?.close());
      await step('pipeline', async () => this.pipeline.close());
      await step('publisher', () => this.publisher.close());
      await step('console', async () => this.console?.close());
      await step('http', () => this.http.close());
      log.info('shutdown complete');
    })();
    return this.#closing;
  }
}

async function countedSwap(detector: DetectorSet, metrics: Metrics, dir: string): Promise<void> {
  try {
    await detector.swapModel(dir);
  } catch (err) {
    metrics.modelSwaps.inc({ result: 'refused' });
    throw err;
  }
  metrics.modelSwaps.inc({ result: 'ok' });
}

/** The /webrtc page shows its stream's latest window score. */
function liveScores(webrtc: WebRtcIngest): ScoreSink {
  return {
    onScore: (s) => {
      if (s.stream.transport === 'webrtc') webrtc.noteWindowScore(s.stream.streamId, s.score);
    },
  };
}

export { HttpServerError };
