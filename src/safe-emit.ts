/**
 * safeEmit: calls a listener so that its throw cannot kill the loop that called it (the media
 * loop, a timer, a socket handler). The throw goes to `onError`; a throwing `onError` (a broken
 * logger) is swallowed too. Up to three arguments are passed as they are, so the per-window and
 * per-packet callers allocate nothing (no closure, no argument array).
 *
 * At the bottom of the dependency graph (imports nothing): every folder may use it.
 */

/** What a caller does with a listener's throw: usually one structured log line. */
export type ListenerErrorHandler = (err: unknown) => void;

/** @returns false when the listener threw (or there was none to call: true). */
export function safeEmit<A, B, C>(
  onError: ListenerErrorHandler,
  thisArg: unknown,
  listener: ((a: A, b: B, c: C) => unknown) | undefined,
  a: A,
  b: B,
  c: C,
): boolean;
export function safeEmit<A, B>(
  onError: ListenerErrorHandler,
  thisArg: unknown,
  listener: ((a: A, b: B) => unknown) | undefined,
  a: A,
  b: B,
): boolean;
export function safeEmit<A>(onError: ListenerErrorHandler, thisArg: unknown, listener: ((a: A) => unknown) | undefined, a: A): boolean;
export function safeEmit(onError: ListenerErrorHandler, thisArg: unknown, listener: (() => unknown) | undefined): boolean;
export function safeEmit(
  onError: ListenerErrorHandler,
  thisArg: unknown,
  listener: ((a?: unknown, b?: unknown, c?: unknown) => unknown) | undefined,
  a?: unknown,
  b?: unknown,
  c?: unknown,
): boolean {
  if (listener === undefined) return true;
  try {
    listener.call(thisArg, a, b, c);
    return true;
  } catch (err) {
    try {
      onError(err);
    } catch {
      // a failing logger must not escape either
    }
    return false;
  }
}
