/**
 * `npm run soak` for a few seconds (bench/soak/soak.ts as a user runs it): a real `devox serve`
 * process, a real nats-server with JetStream, 4 calls (RTP over real UDP and Twilio WebSockets)
 * ending and starting again, a 4-s NATS outage. Asserts the accounting, not timing: every window
 * the media sent reached the models and was scored or shed, every event published is in
 * JetStream, no call failed, the server shut down cleanly, and the exit code follows the verdict.
 * The RSS check is not judged in so short a run (the soak says so).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';
import type { Verdict } from '../../bench/soak/verdict.js';
import { NEEDS_NATS } from '../helpers/nats-server.js';

t.test('a short soak: every window and every event accounted for', { skip: NEEDS_NATS, timeout: 280_000 }, async (t) => {
  const dir = t.testdir();
  const json = join(dir, 'soak.json');
  // A port range of its own, as testConfig picks one (other tests run beside this one).
  const rtpMin = 20000 + 400 * Math.floor(Math.random() * 50);
  const args = [
    '--streams', '4', '--ws-share', '0.5', '--minutes', '0.5', '--call-s', '6,12', '--gap-s', '1', '--sample-s', '5',
    '--nats-outage-at', '12s', '--nats-outage-s', '4', '--warmup-min', '0',
    '--set', `media.rtpPortMin=${rtpMin}`, '--set', `media.rtpPortMax=${rtpMin + 399}`,
    '--log-dir', dir, '--json', json,
  ];
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/soak/soak.ts'), ...args], { cwd: projectRoot, timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
  const report = JSON.parse(readFileSync(json, 'utf8')) as { verdict: Verdict; calls: { started: { rtp: number; ws: number } }; samples: unknown[] };
  const check = (name: string) => report.verdict.checks.find((c) => c.name === name);
  const ok = (name: string): void => {
    const c = check(name);
    t.equal(c?.ok, true, `${name}: ${c?.detail ?? 'missing'}`);
  };
  ok('windows: expected = received');
  ok('windows: received = scored + shed');
  ok('events: published = in JetStream');
  ok('events: none dropped or left buffered');
  ok('calls: all started and ended cleanly');
  ok('drained');
  ok('server: up throughout, clean shutdown');
  t.equal(report.verdict.checks.find((c) => c.name.startsWith('fault: nats-outage'))?.ok, true, 'NATS went down and came back');
  t.ok(report.calls.started.rtp > 2 && report.calls.started.ws > 2, `calls ended and new ones started on both transports (${JSON.stringify(report.calls.started)})`);
  t.ok(report.samples.length >= 3, 'sampled every 5 s');
  t.match(r.stdout, /== verdict ==/, 'prints the verdict');
  if (process.env.MEDIASOUP_WORKER_BIN) {
    // With a mediasoup worker (this machine when it is built) the kill runs: the death and the respawn are checked.
    t.equal(report.verdict.checks.find((c) => c.name.startsWith('fault: kill-worker'))?.ok, true, 'a worker killed and respawned');
  } else {
    t.match(r.stdout, /\[ -- \] fault skipped\s+killed mediasoup worker: /, 'says why the worker kill did not run');
  }
  // The output as diagnostics, shown only if this fails.
  t.equal(r.code, report.verdict.pass ? 0 : 1, 'exit code follows the verdict', { stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-2000) });
});

t.test('a bad --set is refused before DevoX starts, naming the key, without a stack trace', { skip: NEEDS_NATS }, async (t) => {
  const dir = t.testdir();
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/soak/soak.ts'), '--streams', '2', '--minutes', '0.2',
      '--set', 'media.bogus=1', '--log-dir', join(dir, 'made-by-the-soak')], { cwd: projectRoot, timeout: 60_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /soak: config: media: Unrecognized key: "bogus"/, 'the key is named');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
