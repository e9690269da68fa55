/**
 * Structured JSON logs (pino). Per-call child loggers carry ids as fields, never
 * interpolated into messages; caller identities live under redacted `pii.*` keys.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      level,
      base: { svc: 'devox' },
      redact: { paths: ['pii', 'pii.*', '*.pii', '*.pii.*'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream,
  );
}
