/**
 * The NATS publisher's outbox on its own (no NATS): send order, the bound and which entries
 * overflow drops (window.scored first, then the oldest of any type; never one in flight),
 * failed sends going back to their place, and memory released as entries are done.
 */
import t from 'tap';
import { Outbox, type OutboxEntry } from '../../src/verdicts/outbox.js';
import type { EventType } from '../../src/verdicts/types.js';

function makeBox(maxQueued: number): { box: Outbox; evicted: string[]; idle: { n: number } } {
  const evicted: string[] = [];
  const idle = { n: 0 };
  const box = new Outbox({ maxQueued, onEvict: (e) => evicted.push(e.msgId), onIdle: () => void idle.n++ });
  return { box, evicted, idle };
}

const add = (box: Outbox, id: string, type: EventType = 'window.scored'): void => box.add(`devox.call.c.${type}`, `{"id":"${id}"}`, id, type);

/** Sends everything sendable now; returns the entries in the order they went out. */
function sendAll(box: Outbox, now = 0): OutboxEntry[] {
  const out: OutboxEntry[] = [];
  for (let e = box.nextToSend(); e; e = box.nextToSend()) {
    box.markSent(e, now);
    out.push(e);
  }
  return out;
}

t.test('entries go out in the order they were added, each once', async (t) => {
  const { box } = makeBox(100);
  for (const id of ['a', 'b', 'c']) add(box, id);
  t.equal(box.queued, 3);
  t.equal(box.pending, 3);
  const sent = sendAll(box);
  t.same(sent.map((e) => e.msgId), ['a', 'b', 'c']);
  t.same(sent.map((e) => e.pos), [0, 1, 2], 'positions are the send order');
  t.equal(box.queued, 0);
  t.equal(box.inflight, 3);
  t.equal(box.nextToSend(), undefined, 'nothing left to send');
  add(box, 'd');
  t.same(sendAll(box).map((e) => e.msgId), ['d'], 'a later entry is sent after the earlier ones, alone');
});

t.test('a failed send goes back to its place and is re-sent before anything after it', async (t) => {
  const { box, idle } = makeBox(100);
  for (const id of ['a', 'b', 'c', 'd']) add(box, id);
  sendAll(box);
  const b = box.takeSent(1)!;
  t.equal(b.msgId, 'b');
  t.equal(box.takeSent(1), undefined, 'taken once: a late second ack finds nothing');
  box.requeue(b);
  t.equal(box.queued, 1);
  t.equal(box.inflight, 3);
  add(box, 'e');
  t.same(sendAll(box).map((e) => e.msgId), ['b', 'e'], 'b again first, then the new entry');
  for (const pos of [0, 1, 2, 3, 4]) box.complete(box.takeSent(pos)!);
  t.equal(box.pending, 0);
  t.equal(idle.n, 1, 'idle reported once, when the last entry was done');
  t.equal(box.retained, 0, 'nothing held once idle');
});

t.test('rewind: a send that failed before going out is the next one sent', async (t) => {
  const { box } = makeBox(100);
  for (const id of ['a', 'b', 'c']) add(box, id);
  const a = box.nextToSend()!;
  box.markSent(a, 0);
  const b = box.nextToSend()!;
  box.rewind(b);
  t.equal(box.nextToSend()?.msgId, 'b', 'b again');
  t.equal(box.queued, 2, 'b was never counted as sent');
});

t.test('discard: an entry that can never be sent is done without blocking the ones after it', async (t) => {
  const { box, idle } = makeBox(100);
  for (const id of ['a', 'b']) add(box, id);
  box.discard(box.nextToSend()!);
  t.equal(box.pending, 1);
  t.equal(box.nextToSend()?.msgId, 'b');
  t.equal(idle.n, 0);
});

t.test('overflow: oldest window.scored entries are dropped first, lifecycle and verdicts kept', async (t) => {
  const { box, evicted } = makeBox(3);
  add(box, 'started', 'call.started');
  add(box, 'w1');
  add(box, 'verdict', 'verdict.changed');
  add(box, 'w2');
  add(box, 'w3');
  box.trim();
  t.equal(box.queued, 3, 'at the bound');
  t.same(evicted, ['w1', 'w2'], 'the two oldest windows, in order');
  t.same(sendAll(box).map((e) => e.msgId), ['started', 'verdict', 'w3'], 'the rest keep their order');
});

t.test('overflow without windows: the oldest queued entry of any type goes', async (t) => {
  const { box, evicted } = makeBox(2);
  add(box, 'started', 'call.started');
  add(box, 'v1', 'verdict.changed');
  add(box, 'v2', 'verdict.changed');
  add(box, 'ended', 'call.ended');
  box.trim();
  t.same(evicted, ['started', 'v1']);
  t.same(sendAll(box).map((e) => e.msgId), ['v2', 'ended']);
});

t.test('overflow never drops an entry in flight', async (t) => {
  const { box, evicted } = makeBox(1);
  add(box, 'a', 'call.started');
  sendAll(box); // a is in flight
  add(box, 'b', 'verdict.changed');
  add(box, 'c', 'call.ended');
  box.trim();
  t.same(evicted, ['b'], 'the oldest queued entry, not the one in flight');
  t.equal(box.inflight, 1);
  t.equal(box.queued, 1);
  t.same(sendAll(box).map((e) => e.msgId), ['c']);
});

t.test('maxQueued 0: every queued entry is dropped', async (t) => {
  const { box, evicted } = makeBox(0);
  add(box, 'a');
  box.trim();
  t.same(evicted, ['a']);
  t.equal(box.pending, 0);
});

t.test('requeueOverdue: only sends older than the limit come back, in order', async (t) => {
  const { box } = makeBox(100);
  add(box, 'a');
  add(box, 'b');
  add(box, 'c');
  box.markSent(box.nextToSend()!, 100);
  box.markSent(box.nextToSend()!, 200);
  box.markSent(box.nextToSend()!, 300);
  t.equal(box.requeueOverdue(200), 2, 'a and b are overdue');
  t.equal(box.inflight, 1);
  t.same(sendAll(box).map((e) => e.msgId), ['a', 'b']);
  box.requeueAllSent();
  t.equal(box.inflight, 0);
  t.same(sendAll(box).map((e) => e.msgId), ['a', 'b', 'c'], 'after a disconnect everything is re-sent in order');
});

t.test('memory: evicted and delivered entries are released (at most ~2 × pending + compaction slack)', async (t) => {
  const max = 100;
  const { box, evicted } = makeBox(max);
  let maxRetained = 0;
  for (let i = 0; i < 20_000; i++) {
    add(box, `w${i}`);
    if (i % 1000 === 0) add(box, `v${i}`, 'verdict.changed');
    box.trim();
    maxRetained = Math.max(maxRetained, box.retained);
  }
  t.equal(box.queued, max, 'pending stays at the bound');
  t.equal(evicted.length, 20_000 + 20 - max, 'every entry over the bound was dropped');
  t.notOk(evicted.some((id) => id.startsWith('v')), 'no verdict dropped while windows could go');
  t.ok(maxRetained <= 2 * max + 1024 + 1, `held at most ${maxRetained} entries`);
  const sent = sendAll(box);
  t.equal(sent.filter((e) => e.type === 'verdict.changed').length, 20, 'all 20 verdicts kept');
  const positions = sent.map((e) => e.pos);
  t.same(positions, [...positions].sort((a, b) => a - b), 'still in send order');
});

t.test('clear: forgets everything', async (t) => {
  const { box } = makeBox(10);
  add(box, 'a');
  add(box, 'b');
  sendAll(box);
  add(box, 'c');
  box.clear();
  t.equal(box.pending, 0);
  t.equal(box.retained, 0);
  t.equal(box.takeSent(0), undefined, 'a late ack finds nothing');
});
