/**
 * Finding and starting a REAL drachtio-server for the SIPREC end-to-end test and bench.
 * drachtio-server is not installable from this project's registries: callers skip (tests)
 * or refuse (bench) with DRACHTIO_SKIP_REASON when findDrachtio() returns undefined.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export const DRACHTIO_SKIP_REASON = 'drachtio-server not found: set DRACHTIO_BIN or put drachtio on PATH';

/** DRACHTIO_BIN, else `drachtio` on PATH. */
export function findDrachtio(): string | undefined {
  const fromEnv = process.env.DRACHTIO_BIN;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'drachtio');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** drachtio-server config: admin (application) port and SIP over UDP, both on loopback. */
export function drachtioConfig(adminPort: number, sipPort: number, secret: string): string {
  return `<drachtio>
  <admin port="${adminPort}" secret="${secret}">127.0.0.1</admin>
  <sip>
    <contacts>
      <contact>sip:127.0.0.1:${sipPort};transport=udp</contact>
    </contacts>
  </sip>
  <logging>
    <console/>
    <loglevel>info</loglevel>
    <sofia-loglevel>3</sofia-loglevel>
  </logging>
</drachtio>
`;
}

export class DrachtioServer {
  readonly adminPort: number;
  readonly sipPort: number;
  readonly secret: string;
  readonly #proc: ChildProcess;
  readonly #dir: string;
  #log = '';

  private constructor(proc: ChildProcess, dir: string, adminPort: number, sipPort: number, secret: string) {
    this.#proc = proc;
    this.#dir = dir;
    this.adminPort = adminPort;
    this.sipPort = sipPort;
    this.secret = secret;
    proc.stdout?.on('data', (d: Buffer) => (this.#log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.#log += d.toString()));
  }

  /** Starts `bin -f <generated config>` and waits for its admin port to listen. */
  static async start(bin: string, adminPort: number, sipPort: number, secret = 'devox-test'): Promise<DrachtioServer> {
    const dir = mkdtempSync(join(tmpdir(), 'devox-drachtio-'));
    const conf = join(dir, 'drachtio.conf.xml');
    writeFileSync(conf, drachtioConfig(adminPort, sipPort, secret));
    const proc = spawn(bin, ['-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    const d = new DrachtioServer(proc, dir, adminPort, sipPort, secret);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`drachtio-server exited (${proc.exitCode}) at start:\n${d.log}`);
      const up = await new Promise<boolean>((resolve) => {
        const s = createConnection({ host: '127.0.0.1', port: adminPort }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) return d;
      if (Date.now() > deadline) {
        await d.close();
        throw new Error(`drachtio-server did not listen on 127.0.0.1:${adminPort}:\n${d.log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get log(): string {
    return this.#log;
  }

  /** Stops the server and removes its config. Idempotent. */
  async close(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      const exited = new Promise((r) => this.#proc.once('exit', r));
      this.#proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
