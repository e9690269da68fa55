/**
 * WebSocket media stream endpoints (ws in noServer mode), one path per protocol under
 * websocket.pathPrefix: /twilio, /telnyx, /audio-fork, /jambonz. Upgrades are authenticated from
 * the HTTP request (bearer token or signed URL) and refused with 401 before any frame is read;
 * each token may hold websocket.maxStreamsPerToken connections at a time (the next is accepted
 * and closed with 1013 so the client sees why).
 *
 * Mount it with `attach(httpServer)` or hand it upgrades from a router: `handleUpgrade(req, socket, head)`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { Authenticator, type Principal } from '../auth.js';
import { AuthError } from '../errors.js';
import { MediaConnection, type ConnectionContext, type ProtocolHandler } from './media-connection.js';
import { PcmForkHandler } from './pcm-fork-handler.js';
import { TwilioStreamHandler } from './twilio-stream-handler.js';
import {
  CloseCode,
  PROTOCOL_PATHS,
  SUBPROTOCOLS,
  WS_CLOSE_REASONS,
  WS_PROTOCOLS,
  type MediaStreamServerOptions,
  type WsCloseReason,
  type WsMediaCounters,
  type WsProtocol,
} from './types.js';

interface Route {
  protocol: WsProtocol;
  /** Full route path, e.g. /media/twilio: what a signed URL signs. */
  path: string;
  /** Signed token carried as a /auth/<token> path suffix, if any. */
  pathToken: string | undefined;
}

/** Zeroed counters for every protocol and close reason (also used by bench/websocket-handler.ts). */
export function newCounters(): WsMediaCounters {
  const closed = {} as Record<WsCloseReason, number>;
  for (const r of WS_CLOSE_REASONS) closed[r] = 0;
  const connections = {} as Record<WsProtocol, number>;
  for (const p of WS_PROTOCOLS) connections[p] = 0;
  return {
    connections,
    refused: { unauthorized: 0, not_found: 0, bad_subprotocol: 0 },
    closed,
    messages: 0,
    bytes: 0,
    frames: 0,
    ignored: 0,
    dropped: 0,
    activeConnections: 0,
    activeLegs: 0,
  };
}

/**
 * Why the subprotocols a client offers cannot be accepted on this route, or undefined. No offer is
 * fine everywhere; an offer must include the route's subprotocol, and routes without one
 * (Twilio, Telnyx) take no offer.
 */
function checkSubprotocol(protocol: WsProtocol, header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const offered = header.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  const want = SUBPROTOCOLS[protocol];
  if (want === undefined) return `unsupported subprotocol ${offered.join(', ')}: the ${protocol} endpoint takes no subprotocol`;
  if (!offered.includes(want)) return `unsupported subprotocol ${offered.join(', ')}: the ${protocol} endpoint speaks ${want}`;
  return undefined;
}

const STATUS_TEXT = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found' } as const;

function refuse(socket: Duplex, status: 400 | 401 | 404, body: string): void {
  const text = STATUS_TEXT[status];
  const extra = status === 401 ? 'WWW-Authenticate: Bearer realm="devox"\r\n' : '';
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/**
 * ws closes a connection itself when a frame breaks a limit or the protocol (its receiver's
 * errors: 1009 over maxPayload, 1007 invalid UTF-8, 1002 a malformed frame), with the code and
 * no reason. This WebSocket class gives those closes a reason the client can read.
 */
function reasonedWebSocket(maxMessageBytes: number): typeof WebSocket {
  const reasons: Readonly<Record<number, string>> = {
    [CloseCode.messageTooBig]: `message over websocket.maxMessageBytes (${maxMessageBytes} bytes)`,
    [CloseCode.invalidPayload]: 'text message is not valid UTF-8',
    [CloseCode.protocolError]: 'WebSocket protocol error (malformed frame)',
  };
  return class ReasonedWebSocket extends WebSocket {
    override close(code?: number, data?: string | Buffer): void {
      const reason = code !== undefined && (data === undefined || data.length === 0) ? reasons[code] : undefined;
      super.close(code, reason ?? data);
    }
  };
}

export class MediaStreamServer {
  readonly #opts: MediaStreamServerOptions;
  readonly #auth: Authenticator;
  readonly #wss: WebSocketServer;
  readonly #counters = newCounters();
  readonly #routes = new Map<string, WsProtocol>();
  readonly #perPrincipal = new Map<string, number>();
  readonly #connections = new Set<{ conn: MediaConnection; ws: WebSocket }>();
  /** Route of each request being upgraded, for handleProtocols. */
  readonly #pending = new WeakMap<IncomingMessage, Route>();
  #closed = false;

  constructor(opts: MediaStreamServerOptions) {
    this.#opts = opts;
    const cfg = opts.websocket;
    this.#auth = new Authenticator(cfg);
    for (const p of WS_PROTOCOLS) this.#routes.set(cfg.pathPrefix + PROTOCOL_PATHS[p], p);
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: cfg.maxMessageBytes,
      WebSocket: reasonedWebSocket(cfg.maxMessageBytes),
      handleProtocols: (offered, req) => {
        const want = SUBPROTOCOLS[this.#pending.get(req)?.protocol ?? 'twilio'];
        return want !== undefined && offered.has(want) ? want : false;
      },
    });
    opts.log.info({ paths: this.paths }, 'WebSocket media stream endpoints');
    if (!this.#auth.enabled) {
      opts.log.warn('websocket.tokens and websocket.signingSecret are both empty: every media stream upgrade will be refused');
    }
  }

  /** Paths served (for an upgrade router), e.g. /media/twilio. Signed-path suffixes live below them. */
  get paths(): string[] {
    return [...this.#routes.keys()];
  }

  get counters(): Readonly<WsMediaCounters> {
    return this.#counters;
  }

  /** Open media connections. */
  get size(): number {
    return this.#connections.size;
  }

  /** Listen for upgrades under websocket.pathPrefix on `server`; other upgrade paths are left alone. */
  attach(server: Server): void {
    const prefix = this.#opts.websocket.pathPrefix + '/';
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if ((req.url ?? '').startsWith(prefix)) this.handleUpgrade(req, socket, head);
    });
  }

  #route(pathname: string): Route | undefined {
    const direct = this.#routes.get(pathname);
    if (direct !== undefined) return { protocol: direct, path: pathname, pathToken: undefined };
    const i = pathname.lastIndexOf('/auth/');
    if (i <= 0) return undefined;
    const base = pathname.slice(0, i);
    const protocol = this.#routes.get(base);
    if (protocol === undefined) return undefined;
    let pathToken: string;
    try {
      pathToken = decodeURIComponent(pathname.slice(i + 6));
    } catch {
      return undefined; // malformed %-escape: no such endpoint
    }
    return { protocol, path: base, pathToken };
  }

  /** Handle one HTTP upgrade request aimed at a media path (404 for other paths). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.#opts.log.debug({ err }, 'upgrade socket error'));
    const log = this.#opts.log;
    if (this.#closed) {
      socket.destroy();
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://devox.invalid');
    } catch {
      this.#counters.refused.not_found++;
      refuse(socket, 404, 'bad request path\n');
      return;
    }
    const route = this.#route(url.pathname);
    if (route === undefined) {
      this.#counters.refused.not_found++;
      refuse(socket, 404, 'no media stream endpoint at this path\n');
      return;
    }
    let principal: Principal;
    try {
      principal = this.#auth.authenticateRequest(route.path, req, url, route.pathToken);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      this.#counters.refused.unauthorized++;
      log.warn({ protocol: route.protocol, code: err.code, remote: req.socket.remoteAddress }, 'media stream upgrade refused');
      refuse(socket, 401, `${err.message}\n`);
      return;
    }
    const subprotocolError = checkSubprotocol(route.protocol, req.headers['sec-websocket-protocol']);
    if (subprotocolError !== undefined) {
      // Accepting without a subprotocol would make the client abort (1006, no reason): say why in HTTP.
      this.#counters.refused.bad_subprotocol++;
      log.warn({ protocol: route.protocol, offered: req.headers['sec-websocket-protocol'], remote: req.socket.remoteAddress }, 'media stream upgrade refused');
      refuse(socket, 400, `${subprotocolError}\n`);
      return;
    }
    this.#pending.set(req, route);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, route, principal));
  }

  #accept(ws: WebSocket, route: Route, principal: Principal): void {
    const connId = randomUUID();
    const log = this.#opts.log.child({ connId, protocol: route.protocol, auth: principal.method });
    this.#counters.connections[route.protocol]++;
    const held = this.#perPrincipal.get(principal.id) ?? 0;
    const overLimit = held >= this.#opts.websocket.maxStreamsPerToken;
    if (!overLimit) this.#perPrincipal.set(principal.id, held + 1);
    const entry = {
      ws,
      conn: new MediaConnection(ws, {
        connId,
        principal: principal.id,
        protocol: route.protocol,
        websocket: this.#opts.websocket,
        ingress: this.#opts.ingress,
        log,
        counters: this.#counters,
        createHandler: (ctx: ConnectionContext): ProtocolHandler =>
          route.protocol === 'twilio' || route.protocol === 'telnyx' ? new TwilioStreamHandler(ctx) : new PcmForkHandler(ctx),
        onEnded: () => {
          this.#connections.delete(entry);
          if (overLimit) return;
          const n = (this.#perPrincipal.get(principal.id) ?? 1) - 1;
          if (n <= 0) this.#perPrincipal.delete(principal.id);
          else this.#perPrincipal.set(principal.id, n);
        },
      }),
    };
    this.#connections.add(entry);
    log.info('media websocket accepted');
    if (overLimit) {
      entry.conn.close('too_many_streams', `token already holds ${this.#opts.websocket.maxStreamsPerToken} streams`);
    }
  }

  /** Closes every media connection (1001) and stops accepting. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Promise<void>[] = [];
    for (const { conn, ws } of [...this.#connections]) {
      closing.push(
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) resolve();
          else ws.once('close', () => resolve());
        }),
      );
      conn.close('server_shutdown', 'server shutting down');
    }
    await Promise.all(closing);
    this.#wss.close();
  }
}
