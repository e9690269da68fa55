/**
 * watchParent: tells when the process that launched this one has gone (this process was
 * re-parented: process.ppid changed), so a server launched through npm (`npm start`, `npx devox
 * serve`) stops with its launcher instead of running on as an orphan. npm forwards SIGTERM to its
 * child, but that child is a shell (`sh -c …`) that dies without passing the signal on; and a
 * SIGKILLed npm forwards nothing. Node has no parent-death signal (prctl PR_SET_PDEATHSIG), so
 * the parent pid is polled (an unref'd timer: it never keeps the process alive).
 *
 * At the bottom of the dependency graph (imports nothing).
 */

/** Launched by npm (a script or npx): npm puts npm_execpath in its children's environment. */
export function launchedByNpm(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return Boolean(env.npm_execpath);
}

/** Calls onOrphaned once, when process.ppid changes. Returns a stop function. */
export function watchParent(onOrphaned: (formerParent: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
