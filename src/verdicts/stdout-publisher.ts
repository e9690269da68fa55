/**
 * StdoutPublisher: one JSON line per event, `{"subject": "...", "event": {...}}` (no NATS
 * configured). A reader that goes away (EPIPE on `devox serve | head`) does not crash the
 * server: events are dropped (and counted) from then on.
 */
import type { Logger } from '../logger.js';
import type { EventPublisher, PublisherObserver } from './publisher.js';
import { SubjectCache } from './subject-cache.js';
import type { DevoxEvent } from './types.js';

export class StdoutPublisher implements EventPublisher {
  readonly kind = 'stdout';
  readonly #subjects: SubjectCache;
  readonly #obs: PublisherObserver;
  readonly #out: NodeJS.WritableStream;
  #closed = false;
  #broken = false;

  constructor(prefix: string, observer: PublisherObserver, out: NodeJS.WritableStream = process.stdout, log?: Logger) {
    this.#subjects = new SubjectCache(prefix);
    this.#obs = observer;
    this.#out = out;
    observer.output?.('stdout');
    observer.outputUp?.('stdout', true);
    out.on('error', (err: Error) => {
      if (this.#broken) return;
      this.#broken = true;
      observer.outputUp?.('stdout', false);
      log?.error({ err }, 'event output (stdout) failed: events are dropped from now on');
    });
  }

  async start(): Promise<void> {}

  get connected(): boolean {
    return !this.#closed && !this.#broken;
  }

  get pending(): number {
    return 0;
  }

  publish(event: DevoxEvent): void {
    if (this.#closed || this.#broken) {
      this.#obs.dropped?.(this.#closed ? 'closed' : 'rejected', 1);
      return;
    }
    const line = JSON.stringify({ subject: this.#subjects.subject(event), event }) + '\n';
    this.#out.write(line);
    this.#obs.published?.(event.type);
  }

  async flush(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#obs.outputUp?.('stdout', false);
  }
}
