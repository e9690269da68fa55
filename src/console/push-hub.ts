/**
 * Server-sent events to the browsers: a snapshot when one connects, then at most
 * console.maxPushPerSec pushes a second of what changed (the call board coalesces per call).
 * A push is serialised once and written to every browser, so its cost grows with the calls
 * that changed, not with calls × browsers. A browser that stops reading (over MAX_BACKLOG
 * bytes unsent) is disconnected; EventSource reconnects and gets a fresh snapshot. A browser
 * whose session ended (signed out, expired) is disconnected at the next push or keepalive.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import type { CallBoard } from './call-board.js';

const MAX_BACKLOG = 4 << 20;
const KEEPALIVE_MS = 15_000;

export interface PushStats {
  clients: number;
  pushes: number;
  bytes: number;
  /** CPU time spent building and writing pushes, ms (the console's server cost). */
  pushMs: number;
}

interface Client {
  res: ServerResponse;
  operator: string;
  sessionId: string;
}

export class PushHub {
  readonly #board: CallBoard;
  readonly #log: Logger;
  readonly #clients = new Set<Client>();
  readonly #timer: NodeJS.Timeout;
  readonly #keepalive: NodeJS.Timeout;
  #stats: PushStats = { clients: 0, pushes: 0, bytes: 0, pushMs: 0 };
  #closed = false;

  readonly #sessionLive: (sessionId: string) => boolean;

  constructor(opts: { board: CallBoard; maxPushPerSec: number; log: Logger; sessionLive: (sessionId: string) => boolean }) {
    this.#board = opts.board;
    this.#sessionLive = opts.sessionLive;
    this.#log = opts.log;
    this.#timer = setInterval(() => this.push(), Math.round(1000 / opts.maxPushPerSec));
    this.#timer.unref();
    this.#keepalive = setInterval(() => this.#write(': keepalive\n\n'), KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  get stats(): PushStats {
    return { ...this.#stats, clients: this.#clients.size };
  }

  /** Starts an event stream on `res` with `hello` (who, what is available) and the snapshot. */
  add(res: ServerResponse, session: { id: string; operator: { name: string } }, hello: unknown): void {
    if (this.#closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const c: Client = { res, operator: session.operator.name, sessionId: session.id };
    this.#clients.add(c);
    res.on('close', () => this.#clients.delete(c));
    res.write('retry: 2000\n\n');
    res.write(frame('hello', hello));
    res.write(frame('snapshot', this.#board.snapshot()));
  }

  /** One push now (the timer calls it; tests and the bench may too). */
  push(): void {
    const t0 = performance.now();
    const delta = this.#board.takeDelta();
    // Nobody watching: the changes are dropped unserialised (a browser that connects gets a snapshot).
    if (delta && this.#clients.size > 0) {
      const msg = frame('delta', delta);
      this.#write(msg);
      this.#stats.pushes++;
      this.#stats.bytes += Buffer.byteLength(msg) * this.#clients.size;
    }
    this.#stats.pushMs += performance.now() - t0;
  }

  /** Ends the event streams of one session now (signed out). */
  endSession(sessionId: string): void {
    for (const c of this.#clients) {
      if (c.sessionId !== sessionId) continue;
      this.#clients.delete(c);
      c.res.end();
    }
  }

  /** Sends one named event now to the browsers of one session (e.g. its listen-in ended). */
  sendTo(sessionId: string, event: string, data: unknown): void {
    const msg = frame(event, data);
    for (const c of this.#clients) if (c.sessionId === sessionId) c.res.write(msg);
  }

  /** Event streams open for a session now. */
  clientsOf(sessionId: string): number {
    let n = 0;
    for (const c of this.#clients) if (c.sessionId === sessionId) n++;
    return n;
  }

  /** Sends one named event to every browser now (e.g. a NATS state change). */
  broadcast(event: string, data: unknown): void {
    this.#write(frame(event, data));
  }

  #write(msg: string): void {
    for (const c of this.#clients) {
      if (!this.#sessionLive(c.sessionId)) {
        this.#clients.delete(c);
        c.res.end();
        continue;
      }
      if (c.res.writableLength > MAX_BACKLOG) {
        this.#log.warn({ operator: c.operator, backlog: c.res.writableLength }, 'console browser not reading; disconnected');
        this.#clients.delete(c);
        c.res.destroy();
        continue;
      }
      c.res.write(msg);
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#keepalive);
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
