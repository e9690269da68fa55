/**
 * DEVOX_BIND_ADDRESS=0.0.0.0 (the Dockerfile's default): without DEVOX_ANNOUNCE_ADDRESS,
 * `devox serve` refuses to start (exit 2, the config error naming what to set) instead of
 * answering SDP with c=IN IP4 0.0.0.0 (read as hold). With one, POST /streams tells the
 * client the announced address, and real RTP sent there is received.
 */
import t from 'tap';
import { spawnDevox } from '../helpers/child-process.js';
import { sendFile, startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import type { OpenedStream } from '../../src/http/streams-api.js';

t.test('devox serve with a wildcard bind and no announce address exits 2 with the reason, once', async (t) => {
  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-port', '0'], { DEVOX_BIND_ADDRESS: '0.0.0.0', DEVOX_ANNOUNCE_ADDRESS: '' });
  const code = await run.exited;
  t.equal(code, 2, 'exit code 2 (configuration)');
  const err = run.stderr();
  t.match(err, /config: media\.announceAddress: .*DEVOX_ANNOUNCE_ADDRESS/, 'names the key and the env variable to set');
  t.match(err, /c=IN IP4 0\.0\.0\.0 \(read as hold\)/, 'says what would go wrong');
  t.equal(err.match(/config: media\.announceAddress/g)?.length, 1, 'printed once');
  t.notMatch(err, /HTTP server listening/, 'nothing was started');
});

t.test('wildcard bind + announce address: POST /streams answers the announced address, RTP sent there arrives', async (t) => {
  const server = await startTestServer({ media: { bindAddress: '0.0.0.0', announceAddress: '127.0.0.1' } });
  t.teardown(() => server.close());
  const res = await fetch(`${server.http.url}/streams`, { method: 'POST', body: JSON.stringify({ codec: 'PCMU', callId: 'bind-any', leg: 'caller' }) });
  t.equal(res.status, 201);
  const opened = (await res.json()) as OpenedStream;
  t.equal(opened.address, '127.0.0.1', 'the announced address, not 0.0.0.0');
  const { streams: listed } = (await (await fetch(`${server.http.url}/streams`)).json()) as { streams: Array<{ streamId: string; address: string }> };
  t.equal(listed.find((s) => s.streamId === opened.streamId)?.address, '127.0.0.1', 'GET /streams lists the announced address too');
  const sent = await sendFile(opened, GENUINE_FILE, { maxSec: 1 });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(server.media.get(opened.streamId)!.counters.packetsReceived, sent.sent, 'every RTP packet sent to the announced address arrived');
});
