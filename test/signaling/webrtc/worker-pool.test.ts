/**
 * The mediasoup worker pool's supervision without a worker binary (runs everywhere, CI too): a
 * stand-in mediasoup module (the structural MediasoupModule of src/signaling/webrtc/types.ts)
 * whose workers can be killed and whose spawns can be made to fail. A death is reported and
 * respawned on the same port slice after webrtc.respawnDelayMs; a crash loop backs off
 * exponentially up to respawnMaxDelayMs (no spin); close() stops respawning. The same with a
 * real worker killed by SIGKILL under a live Chromium session is webrtc-respawn.test.ts.
 */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { WebRtcUnavailableError, type MediasoupModule, type MsRouter, type MsWorker } from '../../../src/signaling/webrtc/types.js';
import { WorkerPool, type WorkerPoolObserver, type WorkerSlot } from '../../../src/signaling/webrtc/worker-pool.js';
import { sleep, waitFor } from '../../helpers/wait.js';

class FakeWorker extends EventEmitter {
  static #pids = 1000;
  readonly pid = FakeWorker.#pids++;
  closed = false;
  constructor(readonly opts: { rtcMinPort?: number; rtcMaxPort?: number }) {
    super();
  }
  async createRouter(): Promise<MsRouter> {
    return { id: `router-${this.pid}`, closed: false } as unknown as MsRouter;
  }
  close(): void {
    this.closed = true;
  }
  /** What mediasoup does when the worker process exits unexpectedly. */
  die(): void {
    this.closed = true;
    this.emit('died', new Error(`[pid:${this.pid}, code:null, signal:SIGKILL]`));
  }
}

function fakeMediasoup() {
  const spawned: FakeWorker[] = [];
  const attemptsMs: number[] = [];
  let failNext = 0;
  const mediasoup: MediasoupModule = {
    version: 'fake',
    async createWorker(opts) {
      attemptsMs.push(Date.now());
      if (failNext > 0) {
        failNext--;
        throw new Error('spawn failed');
      }
      const w = new FakeWorker(opts ?? {});
      spawned.push(w);
      return w as unknown as MsWorker;
    },
  };
  return { mediasoup, spawned, attemptsMs, failSpawns: (n: number) => (failNext = n) };
}

function recorder() {
  const events: string[] = [];
  const state = { live: -1, configured: -1 };
  const observer: WorkerPoolObserver = {
    workers: (live, configured) => {
      state.live = live;
      state.configured = configured;
      events.push(`workers ${live}/${configured}`);
    },
    died: () => events.push('died'),
    respawn: (r) => events.push(`respawn ${r}`),
  };
  return { events, state, observer };
}

const log = pino({ level: 'silent' });

async function pool(t: Test, over: { workers?: number; respawnDelayMs?: number; respawnMaxDelayMs?: number } = {}) {
  const fake = fakeMediasoup();
  const rec = recorder();
  const died: WorkerSlot[] = [];
  const p = await WorkerPool.start({
    mediasoup: fake.mediasoup,
    workerBin: '/fake/mediasoup-worker',
    workers: over.workers ?? 2,
    rtcMinPort: 50000,
    rtcMaxPort: 50999,
    respawnDelayMs: over.respawnDelayMs ?? 30,
    respawnMaxDelayMs: over.respawnMaxDelayMs ?? 240,
    log,
    observer: rec.observer,
    onDied: (slot) => void died.push(slot),
  });
  t.teardown(() => p.close());
  return { p, fake, rec, died };
}

t.test('start: every worker up, one port slice each, sessions spread round-robin', async (t) => {
  const { p, fake, rec } = await pool(t);
  t.equal(p.live, 2);
  t.equal(p.configured, 2);
  t.same(rec.state, { live: 2, configured: 2 }, 'the observer sees 2 of 2');
  t.same(fake.spawned.map((w) => w.opts), [
    { logLevel: 'warn', rtcMinPort: 50000, rtcMaxPort: 50499 },
    { logLevel: 'warn', rtcMinPort: 50500, rtcMaxPort: 50999 },
  ]);
  const picks = [p.pick(), p.pick(), p.pick()].map((s) => s!.index);
  t.same(picks, [0, 1, 0]);
  t.equal(p.nextRespawnInMs(), undefined, 'no respawn scheduled');
});

t.test('a worker that dies is reported, skipped, and respawned on its port slice', async (t) => {
  const { p, fake, rec, died } = await pool(t, { respawnDelayMs: 50 });
  const victim = fake.spawned[0]!;
  victim.die();
  t.equal(died.length, 1, 'onDied: its sessions end');
  t.equal(died[0]!.index, 0);
  t.equal(p.live, 1);
  t.same(rec.state, { live: 1, configured: 2 }, 'the observer sees 1 of 2 at once');
  t.ok(p.nextRespawnInMs()! > 0 && p.nextRespawnInMs()! <= 50, `respawn due in ${p.nextRespawnInMs()} ms`);
  for (let i = 0; i < 4; i++) t.equal(p.pick()!.index, 1, 'only the live worker is picked');
  await waitFor(() => p.live === 2, 2000, 'the respawn');
  t.equal(fake.spawned.length, 3);
  t.same(fake.spawned[2]!.opts, victim.opts, 'same port slice');
  t.same(rec.events, ['workers 2/2', 'died', 'workers 1/2', 'respawn ok', 'workers 2/2']);
  t.equal(p.nextRespawnInMs(), undefined);
});

t.test('every worker dead: pick() is undefined until a respawn succeeds', async (t) => {
  const { p, fake } = await pool(t, { workers: 1, respawnDelayMs: 100 });
  fake.spawned[0]!.die();
  t.equal(p.live, 0);
  t.equal(p.pick(), undefined);
  await waitFor(() => p.live === 1, 2000, 'the respawn');
  t.ok(p.pick(), 'a router again');
});

t.test('a crash loop backs off exponentially up to respawnMaxDelayMs: no spin', async (t) => {
  const { p, fake, rec } = await pool(t, { workers: 1, respawnDelayMs: 20, respawnMaxDelayMs: 160 });
  fake.failSpawns(5);
  fake.attemptsMs.length = 0;
  const diedAt = Date.now();
  fake.spawned[0]!.die();
  await waitFor(() => p.live === 1, 5000, 'the sixth attempt to succeed');
  // Delays 20, 40, 80, 160, 160, 160 ms: six attempts in ≥ 620 ms.
  const at = fake.attemptsMs.map((ms) => ms - diedAt);
  t.equal(at.length, 6, `6 attempts (5 failed): ${at.join(', ')} ms after the death`);
  const gaps = at.map((ms, i) => ms - (i === 0 ? 0 : at[i - 1]!));
  const want = [20, 40, 80, 160, 160, 160];
  for (let i = 0; i < want.length; i++) t.ok(gaps[i]! >= want[i]! - 5, `gap ${i}: ${gaps[i]} ms ≥ ${want[i]} ms`);
  t.equal(rec.events.filter((e) => e === 'respawn failed').length, 5);
  t.equal(rec.events.at(-2), 'respawn ok');
});

t.test('a worker that dies young counts as a failure; one that lived respawnMaxDelayMs resets the backoff', async (t) => {
  const { p, fake } = await pool(t, { workers: 1, respawnDelayMs: 20, respawnMaxDelayMs: 200 });
  fake.spawned[0]!.die(); // lived < 200 ms: failures 0 → delay 20
  await waitFor(() => p.live === 1, 2000, 'respawn 1');
  fake.spawned.at(-1)!.die(); // young again: delay 40
  t.ok(p.nextRespawnInMs()! > 20, `second young death waits longer (${p.nextRespawnInMs()} ms)`);
  await waitFor(() => p.live === 1, 2000, 'respawn 2');
  await sleep(220); // now it lived past respawnMaxDelayMs
  fake.spawned.at(-1)!.die();
  t.ok(p.nextRespawnInMs()! <= 20, `a long-lived worker's death respawns after respawnDelayMs (${p.nextRespawnInMs()} ms)`);
  await waitFor(() => p.live === 1, 2000, 'respawn 3');
});

t.test('close() stops a scheduled respawn and closes the workers', async (t) => {
  const { p, fake } = await pool(t, { respawnDelayMs: 50 });
  fake.spawned[0]!.die();
  const n = fake.attemptsMs.length;
  p.close();
  p.close();
  await sleep(120);
  t.equal(fake.attemptsMs.length, n, 'no spawn after close');
  t.ok(fake.spawned[1]!.closed, 'live worker closed');
  t.equal(p.live, 0);
  t.equal(p.nextRespawnInMs(), undefined);
});

t.test('a worker that does not start at all is a set-up error (WebRtcUnavailableError), the started ones are closed', async (t) => {
  const fake = fakeMediasoup();
  const orig = fake.mediasoup.createWorker.bind(fake.mediasoup);
  let calls = 0;
  fake.mediasoup.createWorker = async (opts) => {
    if (++calls === 2) throw new Error('spawn ENOENT');
    return orig(opts);
  };
  const err = await WorkerPool.start({
    mediasoup: fake.mediasoup,
    workerBin: '/fake/mediasoup-worker',
    workers: 2,
    rtcMinPort: 50000,
    rtcMaxPort: 50999,
    respawnDelayMs: 10,
    respawnMaxDelayMs: 100,
    log,
    onDied: () => {},
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof WebRtcUnavailableError);
  t.equal((err as WebRtcUnavailableError).reason, 'worker_failed');
  t.match((err as Error).message, /\/fake\/mediasoup-worker did not start: spawn ENOENT/);
  t.ok(fake.spawned[0]!.closed, 'the first worker was closed');
  await sleep(50);
  t.equal(calls, 2, 'no respawn of a pool that never started');
});
