/**
 * Waiting in tests: sleep(ms), and waitFor(cond), which polls until a condition holds and throws with what it waited
 * for when it does not within the deadline (a safety net, not a timing assertion: assert on the awaited state after).
 */
export { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
