/**
 * The fleet view: two `devox serve` processes publish to one real nats-server; the console of
 * the first (console.source "nats") reads every node's events back from JetStream and shows
 * both nodes' calls in one table, each with its node. Calls are real RTP streams opened over
 * the stream control API (POST /streams) of each process. Screenshot in .tap/console/.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';
import type { OpenedStream } from '../../src/http/streams-api.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../helpers/chromium.js';
import { spawnDevox } from '../helpers/child-process.js';
import { sendFile } from '../helpers/devox-server.js';
import { freePort, NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';
import { screenshot, signIn, SUPERVISOR, tableRows, testOperators } from '../helpers/console.js';

const SAMPLES = [resolve(projectRoot, 'samples/genuine-librispeech.flac'), resolve(projectRoot, 'samples/synthetic-ljspeech-espnet.flac')];
const skip = !CHROMIUM_BIN ? CHROMIUM_MISSING : NEEDS_NATS;

t.test('two DevoX processes on one NATS, one console', { skip }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const dir = mkdtempSync(join(tmpdir(), 'devox-fleet-'));
  const configFile = join(dir, 'devox.json');
  writeFileSync(configFile, JSON.stringify({ console: { operators: await testOperators() }, media: { streamTimeoutMs: 3000 } }));

  const nodes = await Promise.all(
    ['node-a', 'node-b'].map(async (id, i) => {
      const port = await freePort();
      const run = spawnDevox(t, 'src/cli.ts', ['serve', '--config', configFile, '--nats', nats.url, '--http-port', String(port), '--log-level', 'warn'], {
        DEVOX_NODE_ID: id,
        ...(i === 0 ? { DEVOX_CONSOLE_SOURCE: 'nats' } : {}),
      });
      const url = `http://127.0.0.1:${port}`;
      await waitFor(async () => {
        if (run.child.exitCode !== null) throw new Error(`${id} exited (${run.child.exitCode})`);
        return (await fetch(`${url}/readyz`).catch(() => null))?.status === 200;
      }, 120_000, `${id} ready`, 250).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${run.stderr().slice(-2000)}`);
      });
      return { id, url, run };
    }),
  );
  t.teardown(async () => {
    for (const n of nodes) n.run.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.run.exited));
  });

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  await page.goto(`${nodes[0]!.url}/console`);
  await signIn(page, SUPERVISOR);

  // One call per node, over each node's own stream control API.
  const opened = await Promise.all(
    nodes.map(async (n, i) => {
      const r = await fetch(`${n.url}/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ callId: `fleet-${n.id}`, leg: 'caller', codec: 'PCMU', identity: { from: `+4917${i}0001111`, to: '+4989123456', tenant: `tenant-${i}` } }),
      });
      t.equal(r.status, 201, `${n.id} opened a stream`);
      return (await r.json()) as OpenedStream;
    }),
  );
  const sending = Promise.all(opened.map((s, i) => sendFile(s, SAMPLES[i]!, { maxSec: 8 })));
  await waitFor(async () => {
    const rows = await tableRows(page);
    return nodes.every((n) => rows.some((r) => r.callId === `fleet-${n.id}` && r.node === n.id && r.legs[0] && r.legs[0].windows >= 4));
  }, 90_000, 'both nodes’ calls on one console', 250);
  const rows = await tableRows(page);
  for (const n of nodes) t.ok(rows.some((r) => r.callId === `fleet-${n.id}` && r.node === n.id), `${n.id}'s call shown with its node`);
  t.equal(await page.textContent('#kpi-nodes'), '2', 'two nodes counted');

  // The node filter narrows the table to one node.
  await page.selectOption('#f-node', 'node-b');
  await waitFor(async () => (await tableRows(page)).every((r) => r.node === 'node-b'), 10_000, 'node filter', 100);
  t.same((await tableRows(page)).map((r) => r.callId), ['fleet-node-b'], 'node filter node-b');
  await page.selectOption('#f-node', '');
  await waitFor(async () => (await tableRows(page)).length === 2, 10_000, 'node filter cleared', 100);
  await screenshot(page, '07-fleet-two-nodes');
  await sending;
});
