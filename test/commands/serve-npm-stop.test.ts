/**
 * The documented ways to run the server stop with their launcher (issue 14): `npm start` and
 * `npx devox serve` are started for real (dist built first, as `npm start` needs), npm gets
 * SIGTERM (or SIGKILL, which it cannot forward), and no devox node process is left (checked by
 * pid in /proc: gone or a zombie, i.e. exited).
 */
import t from 'tap';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/config.js';
import { TINY_MODEL } from '../helpers/fixture-paths.js';
import { sleep } from '../helpers/wait.js';

/** Pids of the live descendants of pid (from /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = statField(Number(name), 'ppid');
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** /proc/PID/stat: the state letter and the parent pid, undefined once the process is gone. */
function statField(pid: number, field: 'state'): string | undefined;
function statField(pid: number, field: 'ppid'): number | undefined;
function statField(pid: number, field: 'state' | 'ppid'): string | number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces
  return field === 'state' ? rest[0] : Number(rest[1]);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Running: present in /proc and not a zombie (a zombie has exited, only its parent has not reaped it). */
function running(pid: number): boolean {
  const state = statField(pid, 'state');
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Starts the launcher, waits for "devox server ready", returns it and the devox node pid under it. */
async function launch(cmd: string, args: string[]): Promise<{ npm: ChildProcess; devox: number; output: () => string }> {
  const npm = spawn(cmd, args, {
    cwd: projectRoot,
    env: { ...process.env, npm_config_offline: 'true', DEVOX_HTTP_PORT: '0', DEVOX_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  npm.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  npm.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  const deadline = Date.now() + 60_000;
  while (!text.includes('devox server ready')) {
    if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} did not start:\n${text}`);
    await sleep(100);
  }
  const under = descendants(npm.pid!);
  const devox = under.filter((p) => /(^|\/)node$/.test(cmdline(p).split(' ')[0]!) && cmdline(p).includes(' serve'));
  if (devox.length !== 1) {
    for (const p of [...under].reverse()) process.kill(p, 'SIGKILL');
    npm.kill('SIGKILL');
    throw new Error(`expected one devox node process under npm, found ${devox.join(',') || 'none'}`);
  }
  return { npm, devox: devox[0]!, output: () => text };
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (running(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

t.before(async () => {
  await promisify(execFile)('npm', ['run', '--silent', 'build'], { cwd: projectRoot });
});

const cases: Array<{ name: string; cmd: string; args: string[]; signal: NodeJS.Signals; says: RegExp }> = [
  { name: 'npm start, SIGTERM to npm', cmd: 'npm', args: ['start', '--', '--model', TINY_MODEL], signal: 'SIGTERM',
    says: /"signal":"SIGTERM".*signal received: graceful shutdown/ },
  { name: 'npm start, SIGKILL to npm (nothing forwarded)', cmd: 'npm', args: ['start', '--', '--model', TINY_MODEL], signal: 'SIGKILL',
    says: /launching process \(npm\) exited: graceful shutdown/ },
  { name: 'npx devox serve, SIGTERM to npm', cmd: 'npx', args: ['devox', 'serve', '--model', TINY_MODEL], signal: 'SIGTERM',
    says: /launching process \(npm\) exited: graceful shutdown/ },
  { name: 'npx devox serve, SIGKILL to npm (nothing forwarded)', cmd: 'npx', args: ['devox', 'serve', '--model', TINY_MODEL], signal: 'SIGKILL',
    says: /launching process \(npm\) exited: graceful shutdown/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { npm, devox, output } = await launch(c.cmd, c.args);
    t.teardown(() => {
      if (running(devox)) process.kill(devox, 'SIGKILL');
    });
    t.ok(running(devox), `devox node process ${devox} is running`);
    npm.kill(c.signal);
    t.ok(await gone(devox, 15_000), `devox node process ${devox} exited after ${c.signal} to npm`);
    await sleep(200);
    t.match(output(), c.says, 'it shut down gracefully');
    t.match(output(), /shutdown complete/);
  });
}
