/**
 * Per-window events can be left out of stdout (issue 14): `devox serve` runs as a real process with
 * events on stdout, a real RTP stream gets a speech file from `devox send`, and SIGTERM ends it.
 * By default window.scored lines print; with --no-window-events or DEVOX_STDOUT_WINDOW_EVENTS=false
 * none do, while call.started, verdict.changed and call.ended still print.
 */
import t from 'tap';
import { resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';
import { runDevoxCli, spawnDevox } from '../helpers/child-process.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

const MODEL = resolve(projectRoot, 'models/devox-phone');

const variants: Array<{ name: string; args: string[]; env: Record<string, string>; windows: boolean }> = [
  { name: 'default', args: [], env: {}, windows: true },
  { name: '--no-window-events', args: ['--no-window-events'], env: {}, windows: false },
  { name: 'DEVOX_STDOUT_WINDOW_EVENTS=false', args: [], env: { DEVOX_STDOUT_WINDOW_EVENTS: 'false' }, windows: false },
];

for (const v of variants) {
  t.test(`events on stdout, ${v.name}: window.scored ${v.windows ? 'printed' : 'left out'}`, async (t) => {
    const serve = spawnDevox(t, 'src/cli.ts', ['serve', '--model', MODEL, '--http-port', '0', '--open-stream', 'pcmu:quiet:caller', ...v.args],
      { DEVOX_LOG_LEVEL: 'warn', ...v.env });
    await waitFor(() => /RTP stream open: udp \S+:\d+/.test(serve.stderr()), 60_000, 'stream open');
    const port = /RTP stream open: udp \S+:(\d+)/.exec(serve.stderr())![1]!;
    const sent = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${port}`, '--codec', 'pcmu', '--no-realtime'], { timeoutMs: 60_000 });
    t.equal(sent.code, 0, sent.stderr);
    const types = (): string[] => serve.stdout().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { event: { type: string } }).event.type);
    await waitFor(() => types().includes('verdict.changed'), 30_000, 'a verdict on stdout');
    serve.child.kill('SIGTERM');
    t.equal(await serve.exited, 0, 'clean shutdown');
    const seen = types();
    t.ok(seen.includes('call.started'), 'call.started printed');
    t.ok(seen.includes('verdict.changed'), 'verdict.changed printed');
    t.ok(seen.includes('call.ended'), 'call.ended printed');
    const windows = seen.filter((ty) => ty === 'window.scored').length;
    if (v.windows) t.ok(windows > 10, `${windows} window.scored lines`);
    else t.equal(windows, 0, 'no window.scored line');
  });
}
