/**
 * Messages in the JetStream stream DevoX publishes to, read from the stream's info (one request,
 * no consuming): what an integrator can read back. The connection reconnects forever, so the
 * count is simply unavailable while nats-server is down.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';

export class JetStreamCounter {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, stream: string) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#stream = stream;
  }

  static async open(url: string, stream: string): Promise<JetStreamCounter> {
    const nc = await connect({ servers: url, name: 'devox-soak', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    return new JetStreamCounter(nc, await jetstreamManager(nc, { timeout: 5000 }), stream);
  }

  /** Messages stored now; undefined when NATS or the stream does not answer. */
  async count(): Promise<number | undefined> {
    return (await this.state())?.messages;
  }

  /** Messages and bytes stored now; undefined when NATS or the stream does not answer. */
  async state(): Promise<{ messages: number; bytes: number } | undefined> {
    try {
      const { messages, bytes } = (await this.#jsm.streams.info(this.#stream)).state;
      return { messages, bytes };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.#nc.close().catch(() => undefined);
  }
}
