/** Wall clock in ms since the epoch with sub-millisecond precision (monotonic within the process). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
