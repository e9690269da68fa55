/**
 * A DevoX entry point (src/cli.ts, scripts/demo.ts) as a real child process, with its own RTP
 * port range, no NATS, its output collected, and a SIGKILL in teardown if a test fails early.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { projectRoot } from '../../src/config.js';

export interface DevoxChild {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** RTP ports this child may use: [rtpPortMin, rtpPortMin + 399]. */
  rtpPortMin: number;
  stdout(): string;
  stderr(): string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export function spawnDevox(
  t: { teardown(fn: () => void): void },
  script: 'src/cli.ts' | 'scripts/demo.ts',
  args: string[],
  env: Record<string, string> = {},
): DevoxChild {
  // 50000-59999: clear of testConfig's random ranges (20000-39999) and the fixed 40000-47499 ones.
  const rtpPortMin = 50000 + 400 * Math.floor(Math.random() * 25);
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(projectRoot, script), ...args], {
    cwd: projectRoot,
    env: { ...process.env, DEVOX_RTP_PORT_MIN: String(rtpPortMin), DEVOX_RTP_PORT_MAX: String(rtpPortMin + 399), DEVOX_NATS_SERVERS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  return { child, rtpPortMin, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the devox CLI (src/cli.ts through tsx) to completion; never rejects: the exit code is in `code`. */
export function runDevoxCli(
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'src/cli.ts'), ...args],
      { cwd: projectRoot, maxBuffer: 32 << 20, env: { ...process.env, DEVOX_CONFIG: '', ...opts.env }, ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}) },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
