/**
 * mulberry32: a small seeded PRNG, uniform in [0, 1), period 2^32. Hand-written (eight lines)
 * because Math.random cannot be seeded and the runtime carries no numeric library. Used where
 * a run must be reproducible: `devox send` impairments (--seed) and `devox eval`'s bootstrap.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
