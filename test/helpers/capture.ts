/**
 * Capturing output in tests: LineCapture is a Writable that keeps every non-empty line (a server's stdout events),
 * captureLog() a real pino logger whose JSON records are kept in memory (assert on what was logged).
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

export class LineCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l) this.lines.push(l);
    cb();
  }
}

export interface CapturedLog {
  log: Logger;
  /** Every record logged, parsed, in order. */
  lines: Array<Record<string, unknown>>;
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger(level, sink), lines };
}
