/**
 * watchParent: tells when the process that launched this one has gone (this process was
 * re-parented: process.ppid changed), so a server launched through npm (`npm start`, `npx devox
 * serve`) stops with its launcher instead of running on as an orphan. npm forwards SIGTERM to its
 * child, but that child is a shell (`sh -c …`) that dies without passing the signal on; and a
 * SIGKILLed npm forwards nothing. Node has no parent-death signal (prctl PR_SET_PDEATHSIG), so
 * the parent pid is polled (an unref'd timer: it never keeps the process alive).
 *
 * When the parent is such a shell (`npx devox serve` runs `sh -c devox …`), the shell outlives a
 * SIGKILLed npm and this process keeps its parent: so the shell's own parent is watched too
 * (read from /proc on Linux; elsewhere only the direct parent is watched).
 *
 * At the bottom of the dependency graph (imports only node:fs).
 */
import { readFileSync } from 'node:fs';

/** Launched by npm (a script or npx): npm puts npm_execpath in its children's environment. */
export function launchedByNpm(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return Boolean(env.npm_execpath);
}

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh']);

/** The parent pid of `pid` from /proc (Linux), undefined when unreadable. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Calls onOrphaned once, when the launcher is gone: process.ppid changed, or the launching shell's parent did. */
export function watchParent(onOrphaned: (formerParent: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const shellParent = SHELLS.has(commOf(parent) ?? '') ? parentOf(parent) : undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned(parent);
    } else if (shellParent !== undefined && parentOf(parent) !== shellParent) {
      clearInterval(timer);
      onOrphaned(shellParent);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
