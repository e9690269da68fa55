/**
 * What a fuzz target module (fuzz/targets/<name>.ts) exports. The target drives one real entry
 * point of src/ with one input; it returns (or resolves) when the input was handled, refused or
 * not. A throw of a class listed in `expected` is the code's documented refusal of bad input;
 * any other throw (TypeError, RangeError, an invariant the target checks...) is a crash.
 */

/** An error class a target accepts as a refusal (`err instanceof` it). */
export type ErrorClass = abstract new (...args: never[]) => Error;

export interface TargetModule {
  /** Runs one input. */
  fuzz(data: Buffer): void | Promise<void>;
  /** The entry point's own refusal classes. */
  expected: readonly ErrorClass[];
  /** Extra dictionary tokens (the seeds' tokens are always used). */
  dictionary?: readonly string[];
  /** Longest input generated (default 4096 bytes). */
  maxLen?: number;
}

/** Thrown by a target when an invariant of the code under test does not hold (always a crash). */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

export function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
