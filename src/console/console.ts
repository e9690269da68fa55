/**
 * The supervisor console (docs/console.md): sign-in, the live call board, pushes to browsers,
 * alerts, feedback to NATS, the audit trail. server.ts wires it: in `local` mode it is the
 * EventTap of this process's publisher (verdicts/ never imports the console); in `nats` mode it
 * reads every node's events from JetStream. Its HTTP routes are added by routes.ts routeConsole.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { projectRoot, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { buildFeedback, FeedbackError, publishFeedback, type FeedbackEvent } from '../verdicts/feedback.js';
import type { EventTap } from '../verdicts/publisher.js';
import type { DevoxEvent } from '../verdicts/types.js';
import { Accounts } from './accounts.js';
import { AuditLog } from './audit.js';
import { CallBoard, type CallBoardOptions } from './call-board.js';
import { FleetSource } from './fleet-source.js';
import { ListenControl, type ListenBackend } from './listen-control.js';
import { LoginThrottle } from './login-throttle.js';
import { PushHub } from './push-hub.js';
import { Sessions, type Session } from './sessions.js';

export const CONSOLE_WEB_DIR = resolve(projectRoot, 'web', 'console');
/** The page and its ES modules, served from memory under console.path (read once at start). */
export const CONSOLE_ASSETS = ['index.html', 'console.css', 'console.js', 'table.js', 'alerts.js', 'detail.js', 'draw.js', 'dom.js', 'listen.js'] as const;

/** Console feedback buttons: "confirmed fake" and "false alarm". */
const CONSOLE_VERDICTS = new Set(['confirmed_synthetic', 'confirmed_genuine']);

export interface ConsoleOptions {
  config: Readonly<Config>;
  log: Logger;
  thresholds?: CallBoardOptions['thresholds'];
  media?: CallBoardOptions['media'];
  /** The listen-in audio path (signaling/webrtc/listen-in.ts); none: listen-in is not offered. */
  listen?: ListenBackend;
}

export type FeedbackResult =
  | { ok: true; status: 200; body: { stored: true; stream: string; seq: number; event: FeedbackEvent } }
  | { ok: false; status: number; body: { error: string } };

/** What the routes use. */
export interface ConsoleCore {
  readonly path: string;
  readonly assets: Readonly<Record<string, string>>;
  readonly accounts: Accounts;
  readonly sessions: Sessions;
  readonly throttle: LoginThrottle;
  readonly audit: AuditLog;
  readonly board: CallBoard;
  readonly push: PushHub;
  readonly listen: ListenControl;
  hello(s: Session): unknown;
  feedback(s: Session, body: Record<string, unknown>): Promise<FeedbackResult>;
}

export class SupervisorConsole implements EventTap, ConsoleCore {
  readonly path: string;
  readonly assets: Readonly<Record<string, string>>;
  readonly accounts: Accounts;
  readonly sessions: Sessions;
  readonly throttle = new LoginThrottle();
  readonly audit: AuditLog;
  readonly board: CallBoard;
  readonly push: PushHub;
  readonly listen: ListenControl;
  readonly #config: Readonly<Config>;
  readonly #log: Logger;
  #nc: NatsConnection | undefined;
  #fleet: FleetSource | undefined;
  #closing: Promise<void> | undefined;

  private constructor(opts: ConsoleOptions) {
    const c = opts.config.console;
    this.#config = opts.config;
    this.#log = opts.log.child({ component: 'console' });
    this.path = c.path;
    this.assets = Object.freeze(Object.fromEntries(CONSOLE_ASSETS.map((name) => [name, readFileSync(resolve(CONSOLE_WEB_DIR, name), 'utf8')])));
    this.accounts = new Accounts(c.operators);
    this.sessions = new Sessions({ ttlSec: c.sessionTtlSec, secureCookie: c.secureCookie, path: c.path });
    this.audit = new AuditLog(opts.log, c.auditFile);
    this.board = new CallBoard({
      sparklinePoints: c.sparklinePoints,
      timelineWindows: c.timelineWindows,
      endedRetentionSec: c.endedRetentionSec,
      maxCalls: c.maxCalls,
      ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
      ...(opts.media ? { media: opts.media } : {}),
    });
    this.push = new PushHub({ board: this.board, maxPushPerSec: c.maxPushPerSec, log: this.#log, sessionLive: (id) => this.sessions.isLive(id) });
    this.listen = new ListenControl({
      backend: opts.listen,
      missing: () => 'listen-in is not part of this process',
      board: this.board,
      sessions: this.sessions,
      push: this.push,
      audit: this.audit,
      maxListeners: c.listen.maxListeners,
      maxSec: c.listen.maxSec,
    });
  }

  /** Routes added, NATS connected for feedback (and the fleet read in `nats` mode). */
  static async start(opts: ConsoleOptions): Promise<SupervisorConsole> {
    const con = new SupervisorConsole(opts);
    const { nats, console: c } = opts.config;
    try {
      if (nats.servers.length > 0) {
        con.#nc = await connectNats(nats);
        if (c.source === 'nats') {
          con.#fleet = await FleetSource.start(con.#nc, nats, c.endedRetentionSec + 60, {
            onEvent: (e) => con.board.apply(e),
            onFeedback: (f) => con.board.applyFeedback(f),
          }, con.#log);
        }
      }
    } catch (err) {
      await con.close();
      throw err;
    }
    if (c.operators.length === 0) con.#log.warn({ path: c.path }, 'console.operators is empty: nobody can sign in to the console (docs/console.md)');
    con.#log.info({ path: c.path, source: c.source, operators: c.operators.length }, 'supervisor console ready');
    return con;
  }

  /** The EventTap: this process's events (local mode only; in nats mode they come back from JetStream). */
  onEvent(e: DevoxEvent): void {
    this.board.apply(e);
  }

  /** Sent once to a browser that connects. */
  hello(s: Session): unknown {
    const nats = this.#config.nats.servers.length > 0;
    return {
      operator: { name: s.operator.name, role: s.operator.role },
      node: this.#config.node.id,
      source: this.#config.console.source,
      feedback: nats ? { available: true } : { available: false, reason: 'NATS is not configured (nats.servers is empty): feedback cannot be stored' },
      listen: this.listen.hello(),
      endedRetentionSec: this.#config.console.endedRetentionSec,
      sparklinePoints: this.#config.console.sparklinePoints,
    };
  }

  async feedback(s: Session, body: Record<string, unknown>): Promise<FeedbackResult> {
    if (!this.#nc) return { ok: false, status: 503, body: { error: 'NATS is not configured (nats.servers is empty): feedback cannot be stored' } };
    if (!CONSOLE_VERDICTS.has(String(body.verdict))) {
      return { ok: false, status: 400, body: { error: 'verdict must be confirmed_synthetic (confirmed fake) or confirmed_genuine (false alarm)' } };
    }
    let event: FeedbackEvent;
    try {
      const callId = typeof body.callId === 'string' ? body.callId : '';
      const detail = this.board.detail(callId);
      event = buildFeedback({
        callId,
        verdict: body.verdict,
        operator: s.operator.name,
        source: 'console',
        ...(typeof body.leg === 'string' && body.leg ? { leg: body.leg } : {}),
        ...(typeof body.note === 'string' && body.note ? { note: body.note } : {}),
        ...(detail?.call.modelVersion ? { modelVersion: detail.call.modelVersion } : {}),
      });
    } catch (err) {
      if (err instanceof FeedbackError) return { ok: false, status: 400, body: { error: err.message } };
      throw err;
    }
    try {
      const stored = await publishFeedback(this.#nc, this.#config.nats.subjectPrefix, event);
      if (!this.#fleet) this.board.applyFeedback(event);
      this.push.push();
      return { ok: true, status: 200, body: { stored: true, ...stored, event } };
    } catch (err) {
      return { ok: false, status: 502, body: { error: (err as Error).message } };
    }
  }

  /** Idempotent: browsers disconnected, NATS closed, audit file flushed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.listen.close(); // audited before the audit file closes
      this.push.close();
      await this.#fleet?.close().catch(() => undefined);
      await this.#nc?.close().catch(() => undefined);
      await this.audit.close();
    })();
    return this.#closing;
  }
}
