/**
 * WebRTC ingest with mediasoup: workers (webrtc.workers, 0 = one per core) each with one audio
 * router; a page at webrtc.path and a signaling WebSocket at <path>/signal, authenticated like
 * the media stream paths (bearer token or a URL signed for <path>/signal). Each browser session
 * is spread over the routers round-robin; a worker that dies is dropped from the pool and its
 * sessions end.
 *
 * start() throws WebRtcUnavailableError when mediasoup or its worker is missing: the server
 * then runs without WebRTC and logs why.
 */
import type { IncomingMessage } from 'node:http';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { StreamCapacityError, type MediaIngress, type ReleaseSlot } from '../../media/types.js';
import { Authenticator } from '../auth.js';
import { AuthError } from '../errors.js';
import { loadMediasoup } from './mediasoup-loader.js';
import { WebRtcUnavailableError } from './errors.js';
import type { MediasoupModule, MsRouter, MsWorker } from './types.js';
import { WebRtcSession, type StreamStatus } from './webrtc-session.js';
import { webrtcPage } from './webrtc-page.js';

export interface WebRtcIngestOptions {
  webrtc: Config['webrtc'];
  /** Tokens / signing secret are shared with the media stream paths. */
  websocket: Config['websocket'];
  media: Config['media'];
  window: Config['window'];
  /** Where the audio enters media: each session reserves one stream slot there, then opens its stream. */
  ingress: MediaIngress;
  log: Logger;
  status(streamId: string): StreamStatus;
  env?: NodeJS.ProcessEnv;
}

interface Slot {
  worker: MsWorker;
  router: MsRouter;
}

const OPUS = { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2 };

export class WebRtcIngest {
  readonly pagePath: string;
  readonly signalPath: string;
  readonly mediasoupVersion: string;
  readonly #o: WebRtcIngestOptions;
  readonly #slots: Slot[];
  readonly #auth: Authenticator;
  readonly #wss: WebSocketServer;
  /** Live sessions and the worker slot each runs on. */
  readonly #sessions = new Map<WebRtcSession, Slot>();
  /** Sessions by their stream id, to route window scores to the page. */
  readonly #byStream = new Map<string, WebRtcSession>();
  #next = 0;
  #closed = false;

  private constructor(o: WebRtcIngestOptions, mediasoup: MediasoupModule, slots: Slot[]) {
    this.#o = o;
    this.#slots = slots;
    this.mediasoupVersion = mediasoup.version;
    this.pagePath = o.webrtc.path;
    this.signalPath = `${o.webrtc.path}/signal`;
    this.#auth = new Authenticator(o.websocket);
    this.#wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 64 * 1024 });
    for (const slot of slots) {
      slot.worker.on('died', (err: unknown) => {
        o.log.error({ err, pid: slot.worker.pid }, 'mediasoup worker died; its sessions end');
        const i = this.#slots.indexOf(slot);
        if (i >= 0) this.#slots.splice(i, 1);
        for (const [session, s] of this.#sessions) if (s === slot) session.close('error', 1011, 'media worker died');
      });
    }
  }

  /** @throws WebRtcUnavailableError when mediasoup or its worker is missing or does not start. */
  static async start(o: WebRtcIngestOptions): Promise<WebRtcIngest> {
    const { mediasoup, workerBin } = await loadMediasoup(o.env);
    const n = o.webrtc.workers > 0 ? o.webrtc.workers : availableParallelism();
    const span = o.webrtc.rtcMaxPort - o.webrtc.rtcMinPort + 1;
    const per = Math.floor(span / n);
    if (per < 2) throw new WebRtcUnavailableError('worker_failed', `webrtc port range ${span} is too small for ${n} workers`);
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        // Each worker gets its own slice of the port range.
        const worker = await mediasoup.createWorker({
          logLevel: 'warn',
          rtcMinPort: o.webrtc.rtcMinPort + i * per,
          rtcMaxPort: o.webrtc.rtcMinPort + (i + 1) * per - 1,
        });
        const router = await worker.createRouter({ mediaCodecs: [OPUS] });
        slots.push({ worker, router });
      }
    } catch (err) {
      for (const s of slots) s.worker.close();
      throw new WebRtcUnavailableError('worker_failed', `mediasoup worker ${workerBin} did not start: ${(err as Error).message}`, { cause: err });
    }
    o.log.info({ workers: n, mediasoup: mediasoup.version, workerBin, page: o.webrtc.path }, 'WebRTC ingest ready');
    return new WebRtcIngest(o, mediasoup, slots);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A window of a WebRTC stream was scored: its page shows the latest score. Cheap; call per window. */
  noteWindowScore(streamId: string, score: number): void {
    this.#byStream.get(streamId)?.noteScore(score);
  }

  /** The /webrtc page. */
  page(): string {
    return webrtcPage(this.signalPath);
  }

  /** Upgrade on <path>/signal (401 without credentials, 404 elsewhere). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://devox.invalid');
    const refuse = (status: number, text: string, body: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (this.#closed || url.pathname !== this.signalPath) return refuse(404, 'Not Found', 'no WebRTC signaling endpoint at this path\n');
    try {
      this.#auth.authenticateRequest(this.signalPath, req, url);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      return refuse(401, 'Unauthorized', `${err.message}\n`);
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const slot = this.#slots[this.#next++ % Math.max(1, this.#slots.length)];
      if (!slot || this.#sessions.size >= this.#o.webrtc.maxSessions) {
        ws.close(1013, slot ? `at most ${this.#o.webrtc.maxSessions} WebRTC sessions` : 'no mediasoup worker alive');
        return;
      }
      let release: ReleaseSlot;
      try {
        release = this.#o.ingress.reserve('webrtc');
      } catch (err) {
        if (!(err instanceof StreamCapacityError)) throw err;
        this.#o.log.warn({ limit: err.limit }, 'WebRTC session refused: at media.maxStreams');
        ws.close(1013, `DevoX is at its limit of ${err.limit} live streams; retry later`);
        return;
      }
      const session: WebRtcSession = new WebRtcSession({
        ws,
        router: slot.router,
        webrtc: this.#o.webrtc,
        media: this.#o.media,
        window: this.#o.window,
        ingress: this.#o.ingress,
        log: this.#o.log,
        status: this.#o.status,
        onStream: (streamId) => this.#byStream.set(streamId, session),
        onClosed: () => {
          release();
          this.#sessions.delete(session);
          if (session.streamId !== undefined) this.#byStream.delete(session.streamId);
        },
      });
      this.#sessions.set(session, slot);
    });
  }

  /** Ends every session, closes the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions.keys()]) s.close('shutdown', 1001, 'server shutting down');
    for (const slot of this.#slots) slot.worker.close();
    this.#wss.close();
  }
}
