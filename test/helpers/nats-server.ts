/**
 * Starts a REAL nats-server (Debian package, /usr/bin/nats-server) with JetStream on a
 * free loopback port and a temporary store directory; stop() kills it, restart() brings
 * it back on the same port and store (JetStream data survives, like a server restart).
 *
 * With `config`, the server also reads that configuration file (accounts, users with nkeys or
 * passwords and permissions, TLS): the text is written next to the store and passed with -c;
 * `$VARIABLES` in it resolve from `env` (nats-server reads undefined config variables from its
 * environment), as the shipped docker/nats/nats-server.conf does. Port and address still come
 * from the command line, which overrides the file; a `store_dir:` in the file is pointed at the
 * temporary store (nats-server refuses it twice, in the file and as -sd).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Debian package installs /usr/sbin/nats-server; NATS_SERVER_BIN overrides. */
export const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ?? ['/usr/bin/nats-server', '/usr/sbin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';

export function natsServerAvailable(): boolean {
  return existsSync(NATS_SERVER_BIN);
}

/** tap's `skip` for tests that need a real nats-server: false where it is installed, else why they cannot run. */
export const NEEDS_NATS: string | false = natsServerAvailable()
  ? false
  : `nats-server not installed (${NATS_SERVER_BIN}; apt-get install nats-server, or set NATS_SERVER_BIN): the test needs a real NATS`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface NatsServerOptions {
  user?: string;
  pass?: string;
  /** nats-server configuration file text (passed with -c). */
  config?: string;
  /** Extra environment for the server process (values for `$VARS` in `config`). */
  env?: Record<string, string>;
}

export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  readonly #opts: NatsServerOptions;
  #proc: ChildProcess | undefined;
  #log = '';

  private constructor(port: number, storeDir: string, opts: NatsServerOptions) {
    this.port = port;
    this.storeDir = storeDir;
    this.#opts = opts;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = mkdtempSync(join(tmpdir(), 'devox-nats-'));
    const s = new NatsServer(await freePort(), dir, opts);
    await s.#spawn();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  async #spawn(): Promise<void> {
    const STORE_DIR = /^(\s*)store_dir\s*[:=].*$/m;
    const config = this.#opts.config?.replace(STORE_DIR, `$1store_dir: ${JSON.stringify(this.storeDir)}`);
    const args = ['-js', ...(config && STORE_DIR.test(config) ? [] : ['-sd', this.storeDir]), '-p', String(this.port), '-a', '127.0.0.1', '-m', '0'];
    if (this.#opts.user !== undefined) args.push('--user', this.#opts.user, '--pass', this.#opts.pass ?? '');
    if (config !== undefined) {
      const file = join(this.storeDir, 'nats-server.conf');
      writeFileSync(file, config, { mode: 0o600 });
      args.push('-c', file);
    }
    const proc = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.#opts.env } });
    proc.stdout!.on('data', (d: Buffer) => (this.#log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.#log += d.toString()));
    this.#proc = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}) at start:\n${this.#log}`))),
    );
    await Promise.race([waitForPort(this.port, 10_000), exited]);
  }

  /** Kills the server (SIGKILL: no goodbye to clients, like a crash). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Stops the server and removes its store. Idempotent. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
