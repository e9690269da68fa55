/**
 * The console's audit trail: every sign-in (accepted or refused), sign-out and action, as a
 * structured log line with `audit: true` and, when console.auditFile is set, one JSON line
 * appended to that file (opened in append mode, never rewritten).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../logger.js';

export type AuditAction =
  | 'login'
  | 'login_refused'
  | 'logout'
  | 'alert_ack'
  | 'alert_assign'
  | 'feedback'
  | 'feedback_failed'
  | 'listen_refused'
  | 'listen_started'
  | 'listen_stopped'
  | 'forbidden';

export interface AuditRecord {
  action: AuditAction;
  /** Operator name (for a refused sign-in: the name that was tried). */
  operator: string;
  role?: string;
  /** Client address. */
  remote?: string;
  callId?: string;
  leg?: string;
  detail?: string;
}

export class AuditLog {
  readonly #log: Logger;
  readonly #file: WriteStream | undefined;

  constructor(log: Logger, file: string) {
    this.#log = log.child({ component: 'console' });
    if (file) {
      this.#file = createWriteStream(file, { flags: 'a', mode: 0o600 });
      this.#file.on('error', (err) => this.#log.error({ err, auditFile: file }, 'audit file write failed'));
    }
  }

  record(r: AuditRecord): void {
    const line = { audit: true as const, time: new Date().toISOString(), ...r };
    this.#log.info(line, 'console audit');
    this.#file?.write(JSON.stringify(line) + '\n');
  }

  close(): Promise<void> {
    const f = this.#file;
    if (!f) return Promise.resolve();
    return new Promise((resolve) => f.end(resolve));
  }
}
