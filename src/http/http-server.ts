/**
 * The small HTTP server: GET /metrics (Prometheus), GET /healthz (process alive),
 * GET /readyz (200 when every readiness check passes: model loaded, NATS connected if
 * configured), extra routes added by the server (e.g. POST /streams), and a router for
 * WebSocket upgrades.
 *
 * Attaching WebSocket endpoints (e.g. the media stream server):
 *
 *   http.onUpgrade('/media', (req, socket, head) => wsServer.handleUpgrade(req, socket, head));
 *
 * The handler gets every upgrade whose path is `/media` or starts with `/media/` (query
 * ignored); the longest registered prefix wins; an upgrade no handler claims is answered
 * 404 and closed. A handler that throws gets its socket destroyed; the server keeps going.
 *
 * Every route has an access level (bearer-auth.ts): routes are `control` unless added as
 * another level; /metrics is `metrics`, /healthz and /readyz are `health`. A request without
 * the token its level needs gets 401 before the handler runs. Upgrades authenticate themselves.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { BearerAuth, sendUnauthorized, type AuthRefusal, type HttpAuthConfig, type RouteAccess } from './bearer-auth.js';
import { HttpServerError } from './errors.js';

export { HttpServerError, type HttpAuthConfig, type RouteAccess };

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface ReadinessReport {
  ready: boolean;
  /** Each check: true when fine, or a string saying what is missing. */
  checks: Record<string, true | string>;
  /** Optional parts that are down without making the node unready (e.g. webrtc with no live worker): what is missing. */
  degraded?: Record<string, string>;
  /** Live capacity of optional parts, e.g. webrtc: { workers, liveWorkers, sessions, maxSessions }. */
  capacity?: Record<string, Readonly<Record<string, number>>>;
}

/** What GET /metrics serves (the Prometheus registry of observability/metrics.ts). */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  metrics: MetricsSource;
  /** Evaluated on every /readyz. */
  readiness: () => ReadinessReport;
  log: Logger;
  /** Bearer tokens per access level; absent: every route is open (loopback-only tests and tools). */
  auth?: HttpAuthConfig;
  /** Called on every 401 (a metric: repeated refusals are someone guessing). */
  onUnauthorized?: (access: RouteAccess, reason: AuthRefusal) => void;
}


/** Largest request body accepted by routes (JSON control requests are tiny). */
export const MAX_BODY_BYTES = 64 * 1024;

export class HttpServer {
  readonly #opts: HttpServerOptions;
  readonly #server: Server;
  readonly #upgrades = new Map<string, UpgradeHandler>();
  readonly #routes = new Map<string, { handler: RouteHandler; access: RouteAccess }>();
  readonly #auth: BearerAuth;
  #address: AddressInfo | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    this.#auth = new BearerAuth(opts.auth ?? { controlToken: '', metricsToken: '', protectHealth: false });
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Route WebSocket upgrades for `pathPrefix` (exact or below it) to `handler`. */
  onUpgrade(pathPrefix: string, handler: UpgradeHandler): void {
    const p = normalizePrefix(pathPrefix);
    if (this.#upgrades.has(p)) throw new HttpServerError(`an upgrade handler for ${p} is already registered`);
    this.#upgrades.set(p, handler);
  }

  /**
   * Add a route, e.g. route('POST', '/streams', handler). Exact path match. `access` says which
   * token it needs (default `control`: a route is closed unless it says otherwise).
   */
  route(method: string, path: string, handler: RouteHandler, access: RouteAccess = 'control'): void {
    const key = `${method.toUpperCase()} ${path}`;
    if (this.#routes.has(key) || path === '/metrics' || path === '/healthz' || path === '/readyz') {
      throw new HttpServerError(`route ${key} is already taken`);
    }
    this.#routes.set(key, { handler, access });
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.#opts;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new HttpServerError(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#address = this.#server.address() as AddressInfo;
    this.#opts.log.info(
      { host: this.#address.address, port: this.#address.port, controlApi: this.#auth.controlProtected ? 'bearer token' : 'open (loopback)' },
      'HTTP server listening (/metrics /healthz /readyz)',
    );
    return this.#address;
  }

  get port(): number {
    if (!this.#address) throw new HttpServerError('HTTP server is not listening');
    return this.#address.port;
  }

  get url(): string {
    const a = this.#address;
    if (!a) throw new HttpServerError('HTTP server is not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** The underlying node:http server (e.g. for libraries that attach themselves). */
  get server(): Server {
    return this.#server;
  }

  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, 'text/plain', 'bad request URL\n');
    }
    const key = `${req.method} ${url.pathname}`;
    const builtIn: RouteAccess | undefined =
      key === 'GET /metrics' ? 'metrics' : key === 'GET /healthz' || key === 'GET /readyz' ? 'health' : undefined;
    const route = builtIn === undefined ? this.#routes.get(key) : undefined;
    const access = builtIn ?? route?.access;
    if (access !== undefined) {
      const refused = this.#auth.check(access, req);
      if (refused !== undefined) {
        this.#opts.onUnauthorized?.(access, refused);
        this.#opts.log.debug({ route: key, access, reason: refused, remote: req.socket.remoteAddress }, 'HTTP request refused: bearer token');
        req.resume(); // drain an unread body so the connection can be reused
        return sendUnauthorized(res, refused);
      }
    }
    switch (key) {
      case 'GET /metrics':
        this.#opts.metrics.text().then(
          (text) => send(res, 200, this.#opts.metrics.contentType, text),
          (err: unknown) => {
            this.#opts.log.error({ err }, 'metrics collection failed');
            send(res, 500, 'text/plain', 'metrics collection failed\n');
          },
        );
        return;
      case 'GET /healthz':
        return send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }) + '\n');
      case 'GET /readyz': {
        let report: ReadinessReport;
        try {
          report = this.#opts.readiness();
        } catch (err) {
          report = { ready: false, checks: { readiness: `check failed: ${(err as Error).message}` } };
        }
        return send(res, report.ready ? 200 : 503, 'application/json', JSON.stringify(report) + '\n');
      }
      default:
        break;
    }
    const handler = route?.handler;
    if (!handler) {
      const otherMethod = [...this.#routes.keys()].some((k) => k.endsWith(` ${url.pathname}`));
      return send(res, otherMethod ? 405 : 404, 'text/plain', otherMethod ? 'method not allowed\n' : 'not found\n');
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        // Bad request bodies (readJsonBody) are the client's fault; anything else is ours.
        const bad = err instanceof HttpServerError;
        if (!bad) this.#opts.log.error({ err, route: key }, 'HTTP route failed');
        if (!res.headersSent) {
          send(res, bad ? 400 : 500, 'application/json', JSON.stringify({ error: bad ? err.message : 'internal error' }) + '\n');
        } else res.destroy();
      });
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    let best: string | undefined;
    for (const prefix of this.#upgrades.keys()) {
      if ((pathname === prefix || pathname.startsWith(prefix + '/')) && (!best || prefix.length > best.length)) best = prefix;
    }
    if (best === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    try {
      this.#upgrades.get(best)!(req, socket, head);
    } catch (err) {
      this.#opts.log.error({ err, path: pathname }, 'upgrade handler threw');
      socket.destroy();
    }
  }
}

function normalizePrefix(p: string): string {
  if (!p.startsWith('/')) throw new HttpServerError(`upgrade path must start with "/": ${JSON.stringify(p)}`);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Reads a JSON request body (at most MAX_BODY_BYTES). Throws HttpServerError on bad input. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpServerError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpServerError('request body is not valid JSON', { cause: err });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body) + '\n');
}
