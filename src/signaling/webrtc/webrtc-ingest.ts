/**
 * WebRTC ingest with mediasoup: a supervised pool of workers (webrtc.workers, 0 = one per core),
 * each with one audio router; a page at webrtc.path and a signaling WebSocket at <path>/signal,
 * authenticated like the media stream paths (bearer token or a URL signed for <path>/signal).
 * Each browser session goes to a live router round-robin. A worker that dies ends its sessions
 * (1011) and is respawned with backoff (worker-pool.ts); while no worker lives the signaling
 * upgrade and the page answer 503 and capacity() says so (for /readyz and the metrics).
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
import type { MsRouter, WebRtcCapacity } from './types.js';
import { WebRtcSession, type StreamStatus } from './webrtc-session.js';
import { webrtcPage } from './webrtc-page.js';
import { WorkerPool, type WorkerPoolObserver, type WorkerSlot } from './worker-pool.js';

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
  /** Live workers, deaths and respawns (observability/webrtc-metrics.ts). */
  observer?: WorkerPoolObserver;
}

export class WebRtcIngest {
  readonly pagePath: string;
  readonly signalPath: string;
  readonly mediasoupVersion: string;
  readonly #o: WebRtcIngestOptions;
  readonly #pool: WorkerPool;
  readonly #auth: Authenticator;
  readonly #wss: WebSocketServer;
  /** Live sessions and the worker slot each runs on. */
  readonly #sessions = new Map<WebRtcSession, WorkerSlot>();
  /** Sessions by their stream id, to route window scores to the page. */
  readonly #byStream = new Map<string, WebRtcSession>();
  #closed = false;

  private constructor(o: WebRtcIngestOptions, mediasoupVersion: string, pool: WorkerPool) {
    this.#o = o;
    this.#pool = pool;
    this.mediasoupVersion = mediasoupVersion;
    this.pagePath = o.webrtc.path;
    this.signalPath = `${o.webrtc.path}/signal`;
    this.#auth = new Authenticator(o.websocket);
    this.#wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 64 * 1024 });
  }

  /** @throws WebRtcUnavailableError when mediasoup or its worker is missing or does not start. */
  static async start(o: WebRtcIngestOptions): Promise<WebRtcIngest> {
    const { mediasoup, workerBin } = await loadMediasoup(o.env);
    const w = o.webrtc;
    // No session exists before the ingest does: a death during the start ends nothing.
    let ingest: WebRtcIngest | undefined;
    const pool = await WorkerPool.start({
      mediasoup,
      workerBin,
      workers: w.workers > 0 ? w.workers : availableParallelism(),
      rtcMinPort: w.rtcMinPort,
      rtcMaxPort: w.rtcMaxPort,
      respawnDelayMs: w.respawnDelayMs,
      respawnMaxDelayMs: w.respawnMaxDelayMs,
      log: o.log,
      observer: o.observer,
      onDied: (slot) => {
        if (ingest) ingest.#workerDied(slot);
      },
    });
    ingest = new WebRtcIngest(o, mediasoup.version, pool);
    o.log.info({ workers: pool.configured, mediasoup: mediasoup.version, workerBin, page: w.path }, 'WebRTC ingest ready');
    return ingest;
  }

  #workerDied(slot: WorkerSlot): void {
    for (const [session, s] of this.#sessions) if (s === slot) session.close('error', 1011, 'media worker died');
  }

  /** Live WebRTC capacity now: workers alive of those configured, sessions, the next respawn. */
  capacity(): WebRtcCapacity {
    const pool = this.#pool;
    const live = pool.live;
    const retry = pool.nextRespawnInMs();
    return {
      workers: pool.configured,
      liveWorkers: live,
      sessions: this.#sessions.size,
      maxSessions: this.#o.webrtc.maxSessions,
      ...(retry !== undefined ? { nextRespawnInMs: retry } : {}),
    };
  }

  /** Why no session can be admitted now (no worker alive), or undefined while one lives. */
  unavailable(): { message: string; retryAfterSec: number } | undefined {
    const pool = this.#pool;
    if (pool.live > 0) return undefined;
    const retryMs = pool.nextRespawnInMs();
    return {
      message:
        `no mediasoup worker alive (0 of ${pool.configured})` +
        (retryMs !== undefined ? `; respawning in ${Math.ceil(retryMs / 1000)} s` : '; respawning'),
      retryAfterSec: Math.max(1, Math.ceil((retryMs ?? 1000) / 1000)),
    };
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A live worker's router, round-robin (listen-in's sessions run there too); undefined while none lives. */
  pickRouter(): MsRouter | undefined {
    return this.#closed ? undefined : this.#pool.pick()?.router;
  }

  /** A window of a WebRTC stream was scored: its page shows the latest score. Cheap; call per window. */
  noteWindowScore(streamId: string, score: number): void {
    this.#byStream.get(streamId)?.noteScore(score);
  }

  /** The /webrtc page. */
  page(): string {
    return webrtcPage(this.signalPath);
  }

  /** Upgrade on <path>/signal (401 without credentials, 404 elsewhere, 503 while no worker lives). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://devox.invalid');
    const refuse = (status: number, text: string, body: string, headers = ''): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${headers}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (this.#closed || url.pathname !== this.signalPath) return refuse(404, 'Not Found', 'no WebRTC signaling endpoint at this path\n');
    try {
      this.#auth.authenticateRequest(this.signalPath, req, url);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      return refuse(401, 'Unauthorized', `${err.message}\n`);
    }
    // No worker alive (between a death and its respawn): 503 with the reason, before any session.
    const down = this.unavailable();
    if (down) return refuse(503, 'Service Unavailable', `WebRTC unavailable: ${down.message}\n`, `Retry-After: ${down.retryAfterSec}\r\n`);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // The worker may have died during the upgrade: then 1013 with the reason.
      const slot = this.#pool.pick();
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
    this.#pool.close();
    this.#wss.close();
  }
}
