/**
 * New-coverage detection over istanbul's counters (globalThis.__coverage__, filled by the
 * instrumented src/ modules). A feature is one statement, one function or one branch arm; an
 * input is interesting when, during its execution, a feature's counter leaves zero for the first
 * time. Every execution is checked, so a counter that is non-zero now was raised by the input
 * just run: only the features never hit so far need looking at, and that list only shrinks (a
 * swap-remove per newly hit feature). No hit-count buckets: first-hit of statements, functions
 * and branch arms is the signal.
 */

type Counters = Record<number, number>;

interface FileCoverage {
  s: Counters;
  f: Counters;
  b: Record<number, number[]>;
}

function coverageMap(): Record<string, FileCoverage> {
  const g = globalThis as { __coverage__?: Record<string, FileCoverage> };
  return g.__coverage__ ?? {};
}

export class CoverageTracker {
  /** Counter holders and keys of the features not hit yet (parallel arrays). */
  readonly #holders: Counters[] = [];
  readonly #keys: number[] = [];
  readonly #files = new Set<string>();
  #total = 0;

  /** Features known (statements + functions + branch arms of the instrumented files loaded so far). */
  get total(): number {
    return this.#total;
  }

  /** Features hit at least once (module loading included). */
  get covered(): number {
    return this.#total - this.#holders.length;
  }

  /** Files instrumented and loaded so far. */
  get files(): number {
    return this.#files.size;
  }

  /** Picks up files loaded since the last call; returns how many of their features are already hit. */
  refresh(): number {
    let hit = 0;
    for (const [path, fc] of Object.entries(coverageMap())) {
      if (this.#files.has(path)) continue;
      this.#files.add(path);
      const add = (holder: Counters, key: number): void => {
        this.#total++;
        if (holder[key]! > 0) hit++;
        else {
          this.#holders.push(holder);
          this.#keys.push(key);
        }
      };
      for (const k of Object.keys(fc.s)) add(fc.s, Number(k));
      for (const k of Object.keys(fc.f)) add(fc.f, Number(k));
      for (const k of Object.keys(fc.b)) {
        const arms = fc.b[Number(k)]!;
        for (let i = 0; i < arms.length; i++) add(arms as unknown as Counters, i);
      }
    }
    return hit;
  }

  /** Features first hit since the last call (0: the input found nothing new). */
  collect(): number {
    const holders = this.#holders;
    const keys = this.#keys;
    let found = 0;
    for (let i = holders.length - 1; i >= 0; i--) {
      if (holders[i]![keys[i]!]! > 0) {
        const last = holders.length - 1;
        holders[i] = holders[last]!;
        keys[i] = keys[last]!;
        holders.pop();
        keys.pop();
        found++;
      }
    }
    return found;
  }
}
