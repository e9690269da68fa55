/**
 * The fleet view: every DevoX node's events read back from JetStream (`<prefix>.call.>` and
 * `<prefix>.feedback.>`, an ordered consumer starting console.endedRetentionSec + a minute back,
 * so a console that restarts shows the calls still on screen elsewhere). nats.js reconnects by
 * itself; the ordered consumer resumes where it was.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { DevoxEvent } from '../verdicts/types.js';
import { parseFeedback, type FeedbackEvent } from '../verdicts/feedback.js';

export interface FleetSink {
  onEvent(e: DevoxEvent): void;
  onFeedback(f: FeedbackEvent): void;
}

export class FleetSource {
  readonly #messages: ConsumerMessages;
  readonly #done: Promise<void>;
  #received = 0;

  private constructor(messages: ConsumerMessages, prefix: string, sink: FleetSink, log: Logger) {
    this.#messages = messages;
    this.#done = (async () => {
      for await (const m of messages) {
        const kind = m.subject.slice(prefix.length + 1, m.subject.indexOf('.', prefix.length + 1));
        if (kind !== 'call' && kind !== 'feedback') continue;
        this.#received++;
        try {
          const body = m.json<{ type?: string }>();
          if (body.type === 'call.feedback') sink.onFeedback(parseFeedback(body));
          else sink.onEvent(body as DevoxEvent);
        } catch (err) {
          log.warn({ err, subject: m.subject, seq: m.seq }, 'console: unreadable event skipped');
        }
      }
    })();
  }

  /** Starts consuming; `lookbackSec` of history first. */
  static async start(nc: NatsConnection, nats: Config['nats'], lookbackSec: number, sink: FleetSink, log: Logger): Promise<FleetSource> {
    const js = jetstream(nc);
    // One filter over the prefix (several filter subjects need nats-server 2.10); the subjects
    // read are call and feedback events, anything else under the prefix is skipped.
    const consumer = await js.consumers.get(nats.stream, {
      filter_subjects: `${nats.subjectPrefix}.>`,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - lookbackSec * 1000).toISOString(),
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    log.info({ stream: nats.stream, lookbackSec }, 'console reading the fleet from JetStream');
    return new FleetSource(messages, nats.subjectPrefix, sink, log);
  }

  get received(): number {
    return this.#received;
  }

  async close(): Promise<void> {
    await this.#messages.close();
    await this.#done.catch(() => undefined);
  }
}
