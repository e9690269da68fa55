/**
 * The soak's handle on one load process (rtp-calls.ts or ws-calls.ts): forks it under tsx, hands
 * it the speech files, and turns its IPC replies into callbacks and awaited reports.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';
import type { LoadCommand, LoadReply, LoadReport, RtpCallTarget, WsCallTarget } from './load-protocol.js';

export type CallEvent = Exclude<LoadReply, { op: 'ready' } | LoadReport>;

export class LoadProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #reports = new Map<number, (r: LoadReport) => void>();
  #req = 0;
  #exited = false;
  readonly exited: Promise<number | null>;

  private constructor(name: string, child: ChildProcess, onCall: (e: CallEvent) => void) {
    this.name = name;
    this.#child = child;
    this.exited = new Promise((r) =>
      child.once('exit', (code) => {
        this.#exited = true;
        r(code);
      }),
    );
    child.on('message', (m: LoadReply) => {
      if (m.op === 'report') {
        this.#reports.get(m.req)?.(m);
        this.#reports.delete(m.req);
      } else if (m.op !== 'ready') onCall(m);
    });
  }

  /** Forks `script` (a file of bench/soak/) and waits until it has encoded the files. */
  static async start(name: string, script: string, files: string[], onCall: (e: CallEvent) => void): Promise<LoadProcess> {
    const child = fork(resolve(projectRoot, 'bench/soak', script), [], {
      execArgv: ['--import', 'tsx'],
      cwd: projectRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const lp = new LoadProcess(name, child, onCall);
    const ready = new Promise<void>((res, rej) => {
      child.on('message', (m: LoadReply) => m.op === 'ready' && res());
      void lp.exited.then((code) => rej(new Error(`${name} load process exited (${code}) before it was ready`)));
    });
    child.send({ files });
    await ready;
    return lp;
  }

  get alive(): boolean {
    return !this.#exited;
  }

  start(id: number, file: number, target: RtpCallTarget | WsCallTarget): void {
    this.#send({ op: 'start', id, file, target });
  }

  stop(id: number): void {
    this.#send({ op: 'stop', id });
  }

  /** Frames sent by every live call, and lateness since the last report; undefined if it does not answer in time. */
  report(timeoutMs = 5000): Promise<LoadReport | undefined> {
    if (this.#exited) return Promise.resolve(undefined);
    const req = ++this.#req;
    return new Promise((res) => {
      const timer = setTimeout(() => {
        this.#reports.delete(req);
        res(undefined);
      }, timeoutMs);
      this.#reports.set(req, (r) => {
        clearTimeout(timer);
        res(r);
      });
      this.#send({ op: 'report', req });
    });
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    this.#send({ op: 'exit' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  #send(m: LoadCommand): void {
    if (!this.#exited && this.#child.connected) this.#child.send(m);
  }
}
