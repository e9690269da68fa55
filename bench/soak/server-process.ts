/**
 * DevoX under soak: a real `devox serve` child process (src/cli.ts through tsx) with a config
 * file the soak writes, its logs (JSON lines on stderr) in a file, warn/error lines counted as
 * they come. Ready when /readyz answers 200; stop() is SIGTERM, the graceful shutdown, and
 * reports how long it took and the exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, readlinkSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';

export interface LogCounts {
  warn: number;
  error: number;
  fatal: number;
  /** The first few error/fatal messages (msg field), for the report. */
  firstErrors: string[];
}

export class ServerProcess {
  readonly httpUrl: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #log: WriteStream;
  readonly logCounts: LogCounts = { warn: 0, error: 0, fatal: 0, firstErrors: [] };
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(child: ChildProcess, httpUrl: string, logFile: string) {
    this.#child = child;
    this.httpUrl = httpUrl;
    this.logFile = logFile;
    this.#log = createWriteStream(logFile);
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal ? null : code);
        r(code);
      }),
    );
    let partial = '';
    const onData = (d: Buffer): void => {
      this.#log.write(d);
      const text = partial + d.toString();
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.#count(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  /** Starts the server on `configFile` (its http.port must be `httpPort`), logging to `<dir>/devox-server.log`; waits for /readyz. */
  static async start(opts: { dir: string; configFile: string; httpPort: number; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number }): Promise<ServerProcess> {
    const configFile = opts.configFile;
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, 'src/cli.ts'), 'serve', '--config', configFile], {
      cwd: projectRoot,
      // DEVOX_* from the caller's shell would override the soak's file: only the config file counts.
      env: { ...Object.fromEntries(Object.entries(opts.env ?? process.env).filter(([k]) => !k.startsWith('DEVOX_'))), DEVOX_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s = new ServerProcess(child, `http://127.0.0.1:${opts.httpPort}`, join(opts.dir, 'devox-server.log'));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 180_000);
    for (;;) {
      if (s.#exitCode !== undefined) throw new Error(`devox serve exited (${s.#exitCode}) before it was ready; log: ${s.logFile}`);
      try {
        const res = await fetch(`${s.httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return s;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`devox serve not ready within ${opts.readyTimeoutMs ?? 180_000} ms; log: ${s.logFile}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Child processes of the server (pid, executable), read from /proc. */
  children(): Array<{ pid: number; exe: string; comm: string }> {
    const out: Array<{ pid: number; exe: string; comm: string }> = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
        const close = stat.lastIndexOf(')');
        const ppid = Number(stat.slice(close + 2).split(' ')[1]);
        if (ppid !== this.pid) continue;
        let exe = '';
        try {
          exe = readlinkSync(`/proc/${name}/exe`);
        } catch {
          // exited meanwhile, or not ours to read
        }
        out.push({ pid: Number(name), exe, comm: stat.slice(stat.indexOf('(') + 1, close) });
      } catch {
        // exited meanwhile
      }
    }
    return out;
  }

  /** SIGTERM (graceful shutdown); SIGKILL after timeoutMs. */
  async stop(timeoutMs = 60_000): Promise<{ exitCode: number | null; shutdownMs: number; killed: boolean }> {
    const t0 = performance.now();
    let killed = false;
    if (this.running) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        this.#child.kill('SIGKILL');
      }, timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((r) => this.#log.end(r));
    return { exitCode: this.#exitCode ?? null, shutdownMs: performance.now() - t0, killed };
  }

  #count(line: string): void {
    const m = /"level":(\d+)/.exec(line);
    if (!m) return;
    const level = Number(m[1]);
    if (level === 40) this.logCounts.warn++;
    else if (level >= 50) {
      if (level === 50) this.logCounts.error++;
      else this.logCounts.fatal++;
      if (this.logCounts.firstErrors.length < 5) this.logCounts.firstErrors.push(/"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 200));
    }
  }
}
