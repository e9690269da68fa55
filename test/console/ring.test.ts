/**
 * The console's Ring: same values as a fixed ring of its capacity whatever the number of pushes,
 * and memory that follows what it holds (the console keeps ended calls' timelines for
 * console.endedRetentionSec: a short call must not cost a 2,400-window buffer per series).
 */
import t from 'tap';
import { Ring } from '../../src/console/ring.js';

/** The newest `cap` of 0 … n-1, oldest first. */
function expected(n: number, cap: number): number[] {
  return Array.from({ length: Math.min(n, cap) }, (_, i) => Math.max(0, n - cap) + i);
}

t.test('holds the newest `capacity` values, oldest first, across growth and wrap-around', async (t) => {
  for (const cap of [1, 3, 64, 65, 100, 2400]) {
    for (const n of [0, 1, cap - 1, cap, cap + 1, 2 * cap + 7, 5000]) {
      if (n < 0) continue;
      const r = new Ring(cap);
      for (let i = 0; i < n; i++) r.push(i);
      if (r.length !== Math.min(n, cap)) t.fail(`cap ${cap}, ${n} pushes: length ${r.length}`);
      t.strictSame(r.toArray(0), expected(n, cap), `cap ${cap}, ${n} pushes`);
      t.strictSame(r.tail(3, 0), expected(n, cap).slice(-3), `cap ${cap}, ${n} pushes: tail(3)`);
    }
  }
});

t.test('memory follows the values held, up to the capacity', async (t) => {
  const r = new Ring(2400);
  t.equal(r.bytes, 64 * 8, 'starts small');
  for (let i = 0; i < 240; i++) r.push(i); // a 60-s call: 240 windows
  t.equal(r.bytes, 256 * 8, 'a 60-s call holds 256 slots, not 2,400');
  for (let i = 0; i < 10_000; i++) r.push(i);
  t.equal(r.bytes, 2400 * 8, 'never beyond the capacity');
});
