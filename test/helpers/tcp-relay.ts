/**
 * A loopback TCP relay that can be frozen: while frozen it stops reading from both sides, so
 * bytes wait in the kernel's socket buffers and nothing is answered, yet every connection stays
 * up — what a server that hangs (GC pause, overloaded host, half-dead link) looks like to a
 * client. thaw() lets everything through again, in order. Used instead of SIGSTOP on the
 * server process, which some sandboxes do not honour.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpRelay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #frozen = false;
  port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        if (this.#frozen) s.pause();
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(targetPort: number): Promise<TcpRelay> {
    const r = new TcpRelay(targetPort);
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    const addr = r.#server.address();
    r.port = typeof addr === 'object' && addr ? addr.port : 0;
    return r;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  freeze(): void {
    this.#frozen = true;
    for (const s of this.#sockets) s.pause();
  }

  thaw(): void {
    this.#frozen = false;
    for (const s of this.#sockets) s.resume();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
