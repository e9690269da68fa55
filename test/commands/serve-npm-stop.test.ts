/**
 * The documented ways to run the server stop with their launcher (issue 14): `npm start` and
 * `npx devox serve` are started for real (dist built first, as `npm start` needs), npm gets
 * SIGTERM (or SIGKILL, which it cannot forward), and no devox node process is left (checked by
 * pid in /proc: gone or a zombie, i.e. exited).
 *
 * The launcher runs in a process group of its own (spawn `detached`), so nothing npm or its shell
 * signals to their group can reach this test process; every path (failure included) kills what
 * is left of the launched tree, so a failed case cannot keep the file alive until its timeout.
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

/** SIGKILL, quiet when the process has already gone (it may exit between a check and the kill). */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ESRCH: already gone
  }
}

/** Every process this file launched, with its descendants at launch time: killed at the end whatever happened. */
const launched = new Map<number, string>(); // pid → its command line (a reused pid is never killed)
t.teardown(() => {
  for (const [pid, line] of launched) if (running(pid) && cmdline(pid) === line) killQuietly(pid);
});

/** Starts the launcher, waits for "devox server ready", returns it and the devox node pid under it. */
async function launch(cmd: string, args: string[]): Promise<{ npm: ChildProcess; devox: number; output: () => string }> {
  const npm = spawn(cmd, args, {
    cwd: projectRoot,
    env: { ...process.env, npm_config_offline: 'true', DEVOX_HTTP_PORT: '0', DEVOX_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a group-wide signal from npm or its shell never reaches this file
  });
  launched.set(npm.pid!, cmdline(npm.pid!));
  let text = '';
  npm.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  npm.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  const killTree = (): void => {
    for (const p of descendants(npm.pid!).reverse()) killQuietly(p);
    killQuietly(npm.pid!);
  };
  const deadline = Date.now() + 120_000; // a loaded 2-core CI box starts npm and the server slowly
  while (!text.includes('devox server ready')) {
    if (Date.now() > deadline || npm.exitCode !== null || npm.signalCode !== null) {
      killTree();
      throw new Error(`${cmd} ${args.join(' ')} did not start (exit ${npm.exitCode ?? npm.signalCode ?? 'none yet'}):\n${text}`);
    }
    await sleep(100);
  }
  const under = descendants(npm.pid!);
  for (const p of under) launched.set(p, cmdline(p));
  const devox = under.filter((p) => /(^|\/)node$/.test(cmdline(p).split(' ')[0]!) && cmdline(p).includes(' serve'));
  if (devox.length !== 1) {
    const tree = under.map((p) => `${p}: ${cmdline(p)}`).join('\n');
    killTree();
    throw new Error(`expected one devox node process under npm, found ${devox.join(',') || 'none'}; the tree:\n${tree}`);
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
      if (running(devox)) killQuietly(devox);
    });
    t.ok(running(devox), `devox node process ${devox} is running`);
    npm.kill(c.signal);
    const exited = await gone(devox, 30_000);
    t.ok(exited, `devox node process ${devox} exited after ${c.signal} to npm`, exited ? {} : { output: output() });
    await sleep(200);
    t.match(output(), c.says, 'it shut down gracefully');
    t.match(output(), /shutdown complete/);
  });
}
