/**
 * `devox send` draws a progress line (packets sent, elapsed, ETA) on stderr when stderr is a
 * terminal — run here under a real pseudo-terminal (util-linux `script`) — and nothing on a pipe.
 * The packets reach a real UDP socket either way.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/config.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';

const SCRIPT = '/usr/bin/script';

async function receiver(t: { teardown(fn: () => void): void }): Promise<{ port: number; count: () => number }> {
  const sock = createSocket('udp4');
  let n = 0;
  sock.on('message', () => n++);
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  t.teardown(() => sock.close());
  return { port: sock.address().port, count: () => n };
}

t.test('a progress line on a terminal', { skip: existsSync(SCRIPT) ? false : `${SCRIPT} (util-linux) not installed` }, async (t) => {
  const rx = await receiver(t);
  const cmd = [process.execPath, '--import', 'tsx', join(projectRoot, 'src/cli.ts'), 'send', GENUINE_FILE, '--to', `127.0.0.1:${rx.port}`, '--no-realtime']
    .map((a) => `'${a}'`)
    .join(' ');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(SCRIPT, ['-qefc', cmd, '/dev/null'], { cwd: projectRoot, timeout: 120_000, env: { ...process.env, COLUMNS: '100' } }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
  t.match(out, /send \[[#-]+\] \d+\/\d+ packets {2}elapsed \d+:\d\d {2}ETA/, 'progress drawn on the terminal');
  const summary = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as { sent: number };
  t.ok(summary.sent > 500, `${summary.sent} packets in the summary`);
  t.ok(rx.count() > 0, `${rx.count()} datagrams received`);
});

t.test('nothing but the summary on a pipe', async (t) => {
  const rx = await receiver(t);
  const r = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${rx.port}`, '--no-realtime'], { timeoutMs: 120_000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no progress on a pipe');
  t.ok((JSON.parse(r.stdout) as { sent: number }).sent > 500);
});
